/** A CA (ACME) may put one of the SANs in the subject CN when the spec has no commonName: that is no mismatch. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCertificate, type Certificate } from '../../../src/api/certmanager.js';
import { generatePrivateKey, encodePrivateKey } from '../../../src/controllers/certs/keys.js';
import { decide } from '../../../src/controllers/certs/lifecycle.js';
import { buildTlsSecret } from '../../../src/controllers/certs/secret.js';
import { buildCsr, signCertificate } from '../../../src/controllers/certs/x509.js';

function cert(spec: Record<string, unknown>): Certificate {
  const r = parseCertificate({ apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: { name: 'c', namespace: 'apps' }, spec: { secretName: 's', issuerRef: { name: 'i' }, privateKey: { algorithm: 'ECDSA' }, ...spec } });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.object;
}

const cases: { name: string; want: Record<string, unknown>; issued: Record<string, unknown>; mismatch: boolean }[] = [
  { name: 'no CN asked, CA set CN to a SAN', want: { dnsNames: ['a.example.com', 'b.example.com'] }, issued: { commonName: 'b.example.com', dnsNames: ['a.example.com', 'b.example.com'] }, mismatch: false },
  { name: 'no CN asked, CA set CN to a name that is no SAN', want: { dnsNames: ['a.example.com'] }, issued: { commonName: 'other.example.com', dnsNames: ['a.example.com'] }, mismatch: true },
  { name: 'CN asked, certificate has another', want: { commonName: 'a.example.com', dnsNames: ['a.example.com', 'b.example.com'] }, issued: { commonName: 'b.example.com', dnsNames: ['a.example.com', 'b.example.com'] }, mismatch: true },
  { name: 'CN asked and present', want: { commonName: 'a.example.com', dnsNames: ['a.example.com'] }, issued: { commonName: 'a.example.com', dnsNames: ['a.example.com'] }, mismatch: false },
];

for (const c of cases) {
  test(c.name, async () => {
    const issuedSpec = cert(c.issued);
    const key = await generatePrivateKey(issuedSpec.spec.privateKey);
    const pem = await signCertificate({ spec: issuedSpec.spec, csrPem: await buildCsr(issuedSpec.spec, key), signingKey: key, now: new Date() });
    const wanted = cert(c.want);
    const secret = buildTlsSecret({ certificate: wanted, certPem: pem, keyPem: encodePrivateKey(key, 'PKCS1') });
    const d = decide({ certificate: wanted, secret, issuerReady: true, now: new Date() });
    assert.equal(d.action === 'issue' && d.reason === 'RequestChanged', c.mismatch, JSON.stringify(d));
  });
}
