import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCertificate, type Certificate } from '../../../src/api/certmanager.js';
import type { Secret } from '../../../src/api/types.js';
import { SelfSignedIssuer } from '../../../src/controllers/certs/issuers/selfsigned.js';
import { encodePrivateKey, generatePrivateKey } from '../../../src/controllers/certs/keys.js';
import { buildTlsSecret, joinCsv, readTlsSecret } from '../../../src/controllers/certs/secret.js';
import { buildCsr } from '../../../src/controllers/certs/x509.js';

function cert(spec: Record<string, unknown>): Certificate {
  const r = parseCertificate({ apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: { name: 'web', namespace: 'apps' }, spec: { secretName: 'web-tls', issuerRef: { name: 'corp', kind: 'ClusterIssuer' }, privateKey: { algorithm: 'ECDSA' }, ...spec } });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.object;
}

async function issued(c: Certificate) {
  const key = await generatePrivateKey(c.spec.privateKey);
  const res = await new SelfSignedIssuer().issue({ certificate: c, privateKey: key, csrPem: await buildCsr(c.spec, key) });
  return { key, keyPem: encodePrivateKey(key, c.spec.privateKey.encoding), ...res };
}

describe('TLS Secret layout', () => {
  test('data keys, type, label and cert-manager annotations (comma lists, values from the certificate)', async () => {
    const c = cert({
      commonName: 'web.example.com',
      dnsNames: ['web.example.com', '*.web.example.com'],
      ipAddresses: ['10.0.0.1', '2001:db8:0:0::1'],
      uris: ['spiffe://cluster.local/ns/apps/sa/web'],
      emailAddresses: ['ops@example.com'],
      subject: { organizations: ['Example, Inc.', 'Other'] },
      secretTemplate: { labels: { team: 'web' }, annotations: { note: 'hi', 'cert-manager.io/issuer-name': 'template-must-not-win' } },
    });
    const r = await issued(c);
    const s = buildTlsSecret({ certificate: c, certPem: r.certPem, keyPem: r.keyPem, caPem: r.caPem });
    assert.equal(s.type, 'kubernetes.io/tls');
    assert.equal(s.metadata.name, 'web-tls');
    assert.equal(s.metadata.namespace, 'apps');
    assert.deepEqual(Object.keys(s.data!).sort(), ['ca.crt', 'tls.crt', 'tls.key']);
    assert.equal(Buffer.from(s.data!['tls.crt']!, 'base64').toString(), r.certPem);
    assert.deepEqual(s.metadata.labels, { team: 'web', 'controller.cert-manager.io/fao': 'true' });
    assert.deepEqual(s.metadata.annotations, {
      note: 'hi',
      'cert-manager.io/certificate-name': 'web',
      'cert-manager.io/issuer-name': 'corp',
      'cert-manager.io/issuer-kind': 'ClusterIssuer',
      'cert-manager.io/issuer-group': 'cert-manager.io',
      'cert-manager.io/common-name': 'web.example.com',
      'cert-manager.io/alt-names': 'web.example.com,*.web.example.com',
      'cert-manager.io/ip-sans': '10.0.0.1,2001:db8::1',
      'cert-manager.io/uri-sans': 'spiffe://cluster.local/ns/apps/sa/web',
      'cert-manager.io/email-sans': 'ops@example.com',
      'cert-manager.io/subject-organizations': '"Example, Inc.",Other',
    });
  });

  test('empty SAN kinds are written as empty strings; no ca.crt when unknown; other data keys survive', async () => {
    const c = cert({ dnsNames: ['a.example.com'] });
    const r = await issued(c);
    const existing: Secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'web-tls', namespace: 'apps', labels: { keep: 'me' } }, data: { 'ca.crt': 'b2xk', extra: 'eA==' } };
    const s = buildTlsSecret({ certificate: c, certPem: r.certPem, keyPem: r.keyPem, existing });
    assert.equal(s.data!['ca.crt'], undefined);
    assert.equal(s.data!.extra, 'eA==');
    assert.equal(s.metadata.labels!.keep, 'me');
    assert.equal(s.metadata.annotations!['cert-manager.io/common-name'], '');
    assert.equal(s.metadata.annotations!['cert-manager.io/ip-sans'], '');
    assert.equal(s.metadata.annotations!['cert-manager.io/alt-names'], 'a.example.com');
  });

  test('CSV joining', () => {
    assert.equal(joinCsv(['a', 'b']), 'a,b');
    assert.equal(joinCsv(['a,b', 'say "hi"']), '"a,b","say ""hi"""');
  });

  test('reading back: each way a Secret can be unusable has its reason', async () => {
    const c = cert({ dnsNames: ['a.example.com'] });
    const r = await issued(c);
    const other = await issued(c);
    const good = buildTlsSecret({ certificate: c, certPem: r.certPem, keyPem: r.keyPem });
    const rd = readTlsSecret(good);
    assert.ok(rd.ok);
    const with_ = (data: Record<string, string>): Secret => ({ ...good, data });
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const cases: [string, Secret | undefined, string][] = [
      ['missing', undefined, 'DoesNotExist'],
      ['no tls.key', with_({ 'tls.crt': b64(r.certPem) }), 'MissingData'],
      ['no tls.crt', with_({ 'tls.key': b64(r.keyPem) }), 'MissingData'],
      ['bad key', with_({ 'tls.crt': b64(r.certPem), 'tls.key': b64('nonsense') }), 'InvalidKeyPair'],
      ['bad cert', with_({ 'tls.crt': b64('nonsense'), 'tls.key': b64(r.keyPem) }), 'InvalidCertificate'],
      ['key of another cert', with_({ 'tls.crt': b64(r.certPem), 'tls.key': b64(other.keyPem) }), 'InvalidKeyPair'],
    ];
    for (const [what, s, reason] of cases) {
      const x = readTlsSecret(s);
      assert.equal(x.ok, false, what);
      if (!x.ok) assert.equal(x.reason, reason, what);
    }
  });
});
