import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { describeKey, encodePrivateKey, generatePrivateKey, keyEncodingOf, keyMatchesCertificate, keyMatchesSpec, parsePrivateKey, pemLabel, KeyError } from '../../../src/controllers/certs/keys.js';
import { parseCertificate } from '../../../src/api/certmanager.js';
import { SelfSignedIssuer } from '../../../src/controllers/certs/issuers/selfsigned.js';
import { buildCsr } from '../../../src/controllers/certs/x509.js';

const cases = [
  { algorithm: 'RSA', size: 2048, PKCS1: 'RSA PRIVATE KEY', PKCS8: 'PRIVATE KEY' },
  { algorithm: 'ECDSA', size: 256, PKCS1: 'EC PRIVATE KEY', PKCS8: 'PRIVATE KEY' },
  { algorithm: 'ECDSA', size: 384, PKCS1: 'EC PRIVATE KEY', PKCS8: 'PRIVATE KEY' },
  { algorithm: 'ECDSA', size: 521, PKCS1: 'EC PRIVATE KEY', PKCS8: 'PRIVATE KEY' },
  { algorithm: 'Ed25519', size: undefined, PKCS1: 'PRIVATE KEY', PKCS8: 'PRIVATE KEY' },
] as const;

describe('private keys', () => {
  for (const c of cases) {
    for (const encoding of ['PKCS1', 'PKCS8'] as const) {
      test(`${c.algorithm} ${c.size ?? ''} ${encoding}: PEM label, round trip, description`, async () => {
        const key = await generatePrivateKey({ algorithm: c.algorithm, size: c.size });
        const pem = encodePrivateKey(key, encoding);
        assert.equal(pemLabel(pem), c[encoding]);
        const back = parsePrivateKey(pem);
        assert.deepEqual(back.export({ type: 'pkcs8', format: 'der' }), key.export({ type: 'pkcs8', format: 'der' }));
        assert.deepEqual(describeKey(back), c.size ? { algorithm: c.algorithm, size: c.size } : { algorithm: c.algorithm });
        assert.ok(keyMatchesSpec(back, { algorithm: c.algorithm, size: c.size }));
        // Ed25519 has no algorithm-specific form: it is always PKCS#8.
        assert.equal(keyEncodingOf(pem), c.algorithm === 'Ed25519' ? 'PKCS8' : encoding);
      });
    }
  }

  test('spec mismatch is detected (algorithm and size)', async () => {
    const ec = await generatePrivateKey({ algorithm: 'ECDSA', size: 256 });
    assert.equal(keyMatchesSpec(ec, { algorithm: 'ECDSA', size: 384 }), false);
    assert.equal(keyMatchesSpec(ec, { algorithm: 'RSA', size: 2048 }), false);
  });

  test('a key matches its certificate and no other', async () => {
    const r = parseCertificate({ apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: { name: 'a', namespace: 'n' }, spec: { secretName: 's', issuerRef: { name: 'i' }, dnsNames: ['a.test'], privateKey: { algorithm: 'ECDSA' } } });
    assert.ok(r.ok);
    const key = await generatePrivateKey(r.object.spec.privateKey);
    const other = await generatePrivateKey(r.object.spec.privateKey);
    const { certPem } = await new SelfSignedIssuer().issue({ certificate: r.object, privateKey: key, csrPem: await buildCsr(r.object.spec, key) });
    assert.equal(keyMatchesCertificate(key, certPem), true);
    assert.equal(keyMatchesCertificate(other, certPem), false);
  });

  test('garbage is refused with a KeyError naming tls.key', () => {
    assert.throws(() => parsePrivateKey('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'), (e: unknown) => e instanceof KeyError && /tls\.key/.test(e.message));
  });
});
