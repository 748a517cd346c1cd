import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseCertificate, parseIssuer, type Certificate } from '../../src/api/certmanager.js';
import type { Secret } from '../../src/api/types.js';
import { CaIssuer } from '../../src/controllers/certs/issuers/ca.js';
import { SelfSignedIssuer } from '../../src/controllers/certs/issuers/selfsigned.js';
import { IssuerError } from '../../src/controllers/certs/issuers/types.js';
import { encodePrivateKey, generatePrivateKey } from '../../src/controllers/certs/keys.js';
import { buildTlsSecret } from '../../src/controllers/certs/secret.js';
import { buildCsr } from '../../src/controllers/certs/x509.js';
import { decide } from '../../src/controllers/certs/lifecycle.js';
import { requireBinary } from '../harness/proc.js';

const run = promisify(execFile);
const OPENSSL = requireBinary('/usr/bin/openssl', 'apt-get install -y openssl');

async function openssl(args: string[], files: Record<string, string>): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'gangplank-openssl-'));
  for (const [n, v] of Object.entries(files)) writeFileSync(join(dir, n), v);
  const { stdout } = await run(OPENSSL, args.map((a) => (a.startsWith('@') ? join(dir, a.slice(1)) : a)));
  return stdout;
}

function cert(name: string, spec: Record<string, unknown>): Certificate {
  const r = parseCertificate({ apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: { name, namespace: 'apps' }, spec: { secretName: `${name}-tls`, ...spec } });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.object;
}

const b64d = (s: string | undefined) => Buffer.from(s ?? '', 'base64').toString('utf8');

async function issueWith(issuer: SelfSignedIssuer | CaIssuer, c: Certificate) {
  const key = await generatePrivateKey(c.spec.privateKey);
  const res = await issuer.issue({ certificate: c, privateKey: key, csrPem: await buildCsr(c.spec, key) });
  return buildTlsSecret({ certificate: c, certPem: res.certPem, keyPem: encodePrivateKey(key, c.spec.privateKey.encoding), ...(res.caPem ? { caPem: res.caPem } : {}) });
}

const LABELS = { RSA: { PKCS1: 'RSA PRIVATE KEY', PKCS8: 'PRIVATE KEY' }, ECDSA: { PKCS1: 'EC PRIVATE KEY', PKCS8: 'PRIVATE KEY' }, Ed25519: { PKCS1: 'PRIVATE KEY', PKCS8: 'PRIVATE KEY' } } as const;

describe('selfSigned and CA issuers, checked with openssl', () => {
  for (const algorithm of ['RSA', 'ECDSA', 'Ed25519'] as const) {
    for (const encoding of ['PKCS1', 'PKCS8'] as const) {
      test(`${algorithm} ${encoding}: self-signed CA, then a leaf from the CA issuer`, async () => {
        // 1. A self-signed CA certificate, as the usual cert-manager bootstrap does.
        const caCert = cert('root', { isCA: true, commonName: 'gangplank test root', issuerRef: { name: 'selfsigned' }, privateKey: { algorithm, encoding } });
        const caSecret = await issueWith(new SelfSignedIssuer(), caCert);
        const caCrt = b64d(caSecret.data!['tls.crt']);
        const caKey = b64d(caSecret.data!['tls.key']);
        assert.equal(b64d(caSecret.data!['ca.crt']), caCrt, 'a self-signed certificate is its own ca.crt');
        assert.ok(caKey.startsWith(`-----BEGIN ${LABELS[algorithm][encoding]}-----`), `key PEM label for ${algorithm}/${encoding}`);
        assert.match(await openssl(['verify', '-CAfile', '@ca.pem', '@ca.pem'], { 'ca.pem': caCrt }), /OK/);
        const caText = await openssl(['x509', '-in', '@ca.pem', '-noout', '-text'], { 'ca.pem': caCrt });
        assert.match(caText, /CA:TRUE/);
        assert.match(caText, /Certificate Sign/);

        // 2. A CA Issuer over that Secret signs a leaf.
        const secrets = new Map<string, Secret>([['apps/root-tls', caSecret]]);
        const issuerObj = parseIssuer({ apiVersion: 'cert-manager.io/v1', kind: 'Issuer', metadata: { name: 'ca', namespace: 'apps' }, spec: { ca: { secretName: 'root-tls' } } });
        assert.ok(issuerObj.ok);
        const ca = new CaIssuer(issuerObj.object, (ns, n) => secrets.get(`${ns}/${n}`));
        const leaf = cert('web', { dnsNames: ['web.example.test', '*.web.example.test'], ipAddresses: ['127.0.0.1'], issuerRef: { name: 'ca' }, privateKey: { algorithm, encoding }, usages: ['server auth', 'client auth', 'digital signature'] });
        const leafSecret = await issueWith(ca, leaf);
        const crt = b64d(leafSecret.data!['tls.crt']);
        const key = b64d(leafSecret.data!['tls.key']);
        assert.equal(b64d(leafSecret.data!['ca.crt']), caCrt);
        assert.match(await openssl(['verify', '-CAfile', '@ca.pem', '@leaf.pem'], { 'ca.pem': caCrt, 'leaf.pem': crt }), /leaf\.pem: OK/);
        const text = await openssl(['x509', '-in', '@leaf.pem', '-noout', '-text'], { 'leaf.pem': crt });
        assert.match(text, /DNS:web\.example\.test, DNS:\*\.web\.example\.test, IP Address:127\.0\.0\.1/);
        assert.match(text, /TLS Web Server Authentication, TLS Web Client Authentication/);
        assert.match(text, /Issuer: CN ?= ?gangplank test root/);
        // openssl agrees the key is the certificate's.
        const pubFromKey = await openssl(['pkey', '-in', '@k.pem', '-pubout'], { 'k.pem': key });
        const pubFromCert = await openssl(['x509', '-in', '@c.pem', '-noout', '-pubkey'], { 'c.pem': crt });
        assert.equal(pubFromKey, pubFromCert);
        // Lifetime is spec.duration (default 90 days).
        const dates = await openssl(['x509', '-in', '@c.pem', '-noout', '-startdate', '-enddate'], { 'c.pem': crt });
        const [nb, na] = [...dates.matchAll(/=(.+)$/gm)].map((m) => Date.parse(m[1]!));
        assert.equal(na! - nb!, 2160 * 3600_000);
        // And the lifecycle sees an up-to-date certificate.
        const d = decide({ certificate: leaf, secret: leafSecret, issuerReady: true, now: new Date() });
        assert.equal(d.action, 'wait');
      });
    }
  }

  test('a ClusterIssuer reads its CA Secret from the cluster-resource namespace; a missing one says which', async () => {
    const caCert = cert('root', { isCA: true, commonName: 'cluster root', issuerRef: { name: 'selfsigned' }, privateKey: { algorithm: 'ECDSA' } });
    const caSecret = await issueWith(new SelfSignedIssuer(), caCert);
    const ci = parseIssuer({ apiVersion: 'cert-manager.io/v1', kind: 'ClusterIssuer', metadata: { name: 'corp' }, spec: { ca: { secretName: 'corp-ca' } } });
    assert.ok(ci.ok);
    const secrets = new Map<string, Secret>([['gangplank/corp-ca', { ...caSecret, metadata: { ...caSecret.metadata, name: 'corp-ca', namespace: 'gangplank' } }]]);
    const leaf = cert('x', { dnsNames: ['x.example.test'], issuerRef: { name: 'corp', kind: 'ClusterIssuer' } });
    const s = await issueWith(new CaIssuer(ci.object, (ns, n) => secrets.get(`${ns}/${n}`)), leaf);
    assert.ok(s.data!['tls.crt']);
    await assert.rejects(issueWith(new CaIssuer(ci.object, (ns, n) => secrets.get(`${ns}/${n}`), 'cert-manager'), leaf), (e: unknown) => {
      assert.ok(e instanceof IssuerError);
      assert.equal(e.reason, 'SecretNotFound');
      assert.match(e.message, /cert-manager\/corp-ca/);
      return true;
    });
  });

  test('a CA Secret whose certificate is not a CA is refused', async () => {
    const notCa = await issueWith(new SelfSignedIssuer(), cert('leafy', { dnsNames: ['a.example.test'], issuerRef: { name: 's' } }));
    const iss = parseIssuer({ apiVersion: 'cert-manager.io/v1', kind: 'Issuer', metadata: { name: 'ca', namespace: 'apps' }, spec: { ca: { secretName: 'leafy-tls' } } });
    assert.ok(iss.ok);
    const ca = new CaIssuer(iss.object, () => notCa);
    await assert.rejects(issueWith(ca, cert('y', { dnsNames: ['y.example.test'], issuerRef: { name: 'ca' } })), /not a CA certificate/);
  });
});
