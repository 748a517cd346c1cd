/**
 * The subject of an issued certificate against the spec. gangplank's selfSigned and CA issuers copy
 * the subject, so it must match exactly. A CA may put one of the SANs in the CN when the spec has
 * none; an ACME CA may also leave the CN out (Pebble 2.10, Let's Encrypt's newer profiles) when
 * that name is a SAN, and drops the subject organization: neither is a mismatch, or every pass
 * would re-issue.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCertificate, type Certificate } from '../../../src/api/certmanager.js';
import { generatePrivateKey, encodePrivateKey } from '../../../src/controllers/certs/keys.js';
import { decide, specMismatches, type IssuerType } from '../../../src/controllers/certs/lifecycle.js';
import { buildTlsSecret, readTlsSecret } from '../../../src/controllers/certs/secret.js';
import { buildCsr, signCertificate } from '../../../src/controllers/certs/x509.js';

function cert(spec: Record<string, unknown>): Certificate {
  const r = parseCertificate({ apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: { name: 'c', namespace: 'apps' }, spec: { secretName: 's', issuerRef: { name: 'i' }, privateKey: { algorithm: 'ECDSA' }, ...spec } });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.object;
}

const AB = ['a.example.com', 'b.example.com'];
const noCnAB = { dnsNames: AB };
/** issuer: the type of the issuer the spec names (undefined: not known, e.g. the issuer does not exist). diff: what specMismatches reports. */
const cases: { name: string; issuer?: IssuerType; want: Record<string, unknown>; issued: Record<string, unknown>; diff: string[] }[] = [
  // No commonName asked for: a SAN in the CN is fine for every issuer, any other name is not.
  { name: 'no CN asked, CA set CN to a SAN', want: { dnsNames: AB }, issued: { commonName: 'b.example.com', dnsNames: AB }, diff: [] },
  { name: 'no CN asked, CA set CN to a SAN (acme)', issuer: 'acme', want: { dnsNames: AB }, issued: { commonName: 'b.example.com', dnsNames: AB }, diff: [] },
  { name: 'no CN asked, CA set CN to a name that is no SAN', want: { dnsNames: ['a.example.com'] }, issued: { commonName: 'other.example.com', dnsNames: ['a.example.com'] }, diff: ['commonName'] },
  { name: 'no CN asked, CA set CN to a name that is no SAN (acme)', issuer: 'acme', want: { dnsNames: ['a.example.com'] }, issued: { commonName: 'other.example.com', dnsNames: ['a.example.com'] }, diff: ['commonName'] },
  // A commonName asked for and present.
  { name: 'CN asked and present', want: { commonName: 'a.example.com', dnsNames: ['a.example.com'] }, issued: { commonName: 'a.example.com', dnsNames: ['a.example.com'] }, diff: [] },
  { name: 'CN asked and present (acme)', issuer: 'acme', want: { commonName: 'a.example.com', dnsNames: ['a.example.com'] }, issued: { commonName: 'a.example.com', dnsNames: ['a.example.com'] }, diff: [] },
  // A commonName asked for, another one issued: a mismatch for every issuer (an ACME CA may drop the CN, not change it).
  { name: 'CN asked, certificate has another', want: { commonName: 'a.example.com', dnsNames: AB }, issued: { commonName: 'b.example.com', dnsNames: AB }, diff: ['commonName'] },
  { name: 'CN asked, certificate has another (acme)', issuer: 'acme', want: { commonName: 'a.example.com', dnsNames: AB }, issued: { commonName: 'b.example.com', dnsNames: AB }, diff: ['commonName'] },
  // A commonName asked for, none issued: only an ACME CA may do that, and only when the name is a SAN.
  { name: 'CN asked, none issued, CN is a SAN (acme)', issuer: 'acme', want: { commonName: 'a.example.com', dnsNames: AB }, issued: noCnAB, diff: [] },
  { name: 'CN asked, none issued, CN is a SAN in other case (acme)', issuer: 'acme', want: { commonName: 'A.Example.com', dnsNames: AB }, issued: noCnAB, diff: [] },
  { name: 'CN asked, none issued, CN is an IP SAN (acme)', issuer: 'acme', want: { commonName: '2001:db8:0::1', ipAddresses: ['2001:db8::1'] }, issued: { ipAddresses: ['2001:db8::1'] }, diff: [] },
  { name: 'CN asked, none issued, CN is no SAN (acme)', issuer: 'acme', want: { commonName: 'c.example.com', dnsNames: AB }, issued: noCnAB, diff: ['commonName'] },
  { name: 'CN asked, none issued (selfSigned)', issuer: 'selfSigned', want: { commonName: 'a.example.com', dnsNames: AB }, issued: noCnAB, diff: ['commonName'] },
  { name: 'CN asked, none issued (ca)', issuer: 'ca', want: { commonName: 'a.example.com', dnsNames: AB }, issued: noCnAB, diff: ['commonName'] },
  { name: 'CN asked, none issued (issuer unknown)', want: { commonName: 'a.example.com', dnsNames: AB }, issued: noCnAB, diff: ['commonName'] },
  // The subject organization: copied by selfSigned and CA issuers, never certified by an ACME CA.
  { name: 'organization asked, none issued (acme)', issuer: 'acme', want: { dnsNames: AB, subject: { organizations: ['Example'] } }, issued: noCnAB, diff: [] },
  { name: 'organization asked, none issued (ca)', issuer: 'ca', want: { dnsNames: AB, subject: { organizations: ['Example'] } }, issued: noCnAB, diff: ['subject.organizations'] },
  { name: 'organization asked, none issued (selfSigned)', issuer: 'selfSigned', want: { dnsNames: AB, subject: { organizations: ['Example'] } }, issued: noCnAB, diff: ['subject.organizations'] },
  { name: 'organization asked and present (ca)', issuer: 'ca', want: { dnsNames: AB, subject: { organizations: ['Example'] } }, issued: { dnsNames: AB, subject: { organizations: ['Example'] } }, diff: [] },
  // The ACME allowance is about the subject only: the SANs still count.
  { name: 'CN asked, none issued, a SAN missing (acme)', issuer: 'acme', want: { commonName: 'a.example.com', dnsNames: AB }, issued: { dnsNames: ['a.example.com'] }, diff: ['dnsNames'] },
];

for (const c of cases) {
  test(c.name, async () => {
    const issuedSpec = cert(c.issued);
    const key = await generatePrivateKey(issuedSpec.spec.privateKey);
    const pem = await signCertificate({ spec: issuedSpec.spec, csrPem: await buildCsr(issuedSpec.spec, key), signingKey: key, now: new Date() });
    const wanted = cert(c.want);
    const secret = buildTlsSecret({ certificate: wanted, certPem: pem, keyPem: encodePrivateKey(key, 'PKCS1') });
    const read = readTlsSecret(secret);
    assert.ok(read.ok);
    assert.deepEqual(specMismatches(wanted, secret, read.certPem, read.keyPem, read.key, c.issuer), c.diff);
    // And what the user sees: a re-issue for a mismatch, else waiting for the renewal time.
    const d = decide({ certificate: wanted, secret, issuerReady: true, now: new Date(), ...(c.issuer ? { issuerType: c.issuer } : {}) });
    if (c.diff.length) assert.deepEqual([d.action, d.action === 'issue' && d.reason], ['issue', 'RequestChanged'], JSON.stringify(d));
    else assert.deepEqual([d.action, d.reason], ['wait', 'Renewal'], JSON.stringify(d));
  });
}
