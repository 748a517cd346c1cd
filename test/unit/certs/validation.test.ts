import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatGoDuration, parseCertificate, parseGoDuration, parseIssuer, parseHostPort } from '../../../src/api/certmanager.js';

const H = 3_600_000;

describe('Go durations', () => {
  const ok: [string, number][] = [
    ['2160h', 2160 * H],
    ['1h30m', 1.5 * H],
    ['90m', 1.5 * H],
    ['1.5h', 1.5 * H],
    ['300ms', 300],
    ['10s', 10_000],
    ['1h0m0s', H],
    ['0', 0],
    ['-5m', -300_000],
  ];
  for (const [s, ms] of ok) test(`${s} = ${ms} ms`, () => assert.equal(parseGoDuration(s), ms));
  for (const bad of ['', '90d', '1 h', 'h', '5', '1h-', 'abc'])
    test(`"${bad}" is rejected`, () => assert.throws(() => parseGoDuration(bad), /invalid duration/));
  test('formats like Go', () => {
    assert.equal(formatGoDuration(2160 * H), '2160h0m0s');
    assert.equal(formatGoDuration(90 * 60_000), '1h30m0s');
    assert.equal(formatGoDuration(5000), '5s');
  });
});

const base = (spec: Record<string, unknown>) => ({
  apiVersion: 'cert-manager.io/v1',
  kind: 'Certificate',
  metadata: { name: 'c', namespace: 'apps' },
  spec: { secretName: 'c-tls', issuerRef: { name: 'le' }, dnsNames: ['a.example.com'], ...spec },
});

describe('Certificate validation', () => {
  test('defaults follow cert-manager', () => {
    const r = parseCertificate(base({}));
    assert.ok(r.ok);
    const s = r.object.spec;
    assert.deepEqual(s.issuerRef, { name: 'le', kind: 'Issuer', group: 'cert-manager.io' });
    assert.equal(s.duration, 2160 * H);
    assert.deepEqual(s.privateKey, { algorithm: 'RSA', size: 2048, encoding: 'PKCS1', rotationPolicy: 'Always' });
    assert.equal(s.isCA, false);
    assert.deepEqual(s.ipAddresses, []);
  });
  test('ECDSA defaults to 256, Ed25519 has no size', () => {
    const e = parseCertificate(base({ privateKey: { algorithm: 'ECDSA' } }));
    assert.ok(e.ok && e.object.spec.privateKey.size === 256);
    const ed = parseCertificate(base({ privateKey: { algorithm: 'Ed25519', size: 4096 } }));
    assert.ok(ed.ok && ed.object.spec.privateKey.size === undefined);
  });
  test('namespace defaults to "default"', () => {
    const r = parseCertificate({ ...base({}), metadata: { name: 'c' } });
    assert.ok(r.ok && r.object.metadata.namespace === 'default');
  });

  const bad: [string, Record<string, unknown>, string, RegExp][] = [
    ['ECDSA size', { privateKey: { algorithm: 'ECDSA', size: 512 } }, 'spec.privateKey.size', /must be one of 256, 384, 521 for ECDSA/],
    ['RSA too small', { privateKey: { algorithm: 'RSA', size: 1024 } }, 'spec.privateKey.size', /between 2048 and 8192/],
    ['RSA too big', { privateKey: { size: 16384 } }, 'spec.privateKey.size', /between 2048 and 8192/],
    ['algorithm', { privateKey: { algorithm: 'DSA' } }, 'spec.privateKey.algorithm', /RSA, ECDSA, Ed25519/],
    ['encoding', { privateKey: { encoding: 'DER' } }, 'spec.privateKey.encoding', /PKCS1, PKCS8/],
    ['rotationPolicy', { privateKey: { rotationPolicy: 'Sometimes' } }, 'spec.privateKey.rotationPolicy', /Always, Never/],
    ['duration too short', { duration: '30m' }, 'spec.duration', /at least 1h/],
    ['duration with days', { duration: '90d' }, 'spec.duration', /no "d"/],
    ['renewBefore too short', { renewBefore: '1m' }, 'spec.renewBefore', /at least 5m/],
    ['renewBefore >= duration', { duration: '24h', renewBefore: '24h' }, 'spec.renewBefore', /less than duration \(24h0m0s\)/],
    ['renewBefore and percentage', { renewBefore: '1h', renewBeforePercentage: 30 }, 'spec.renewBefore', /not be set together/],
    ['percentage range', { renewBeforePercentage: 100 }, 'spec.renewBeforePercentage', /greater than 0 and less than 100/],
    ['issuer kind', { issuerRef: { name: 'x', kind: 'Vault' } }, 'spec.issuerRef.kind', /Issuer or ClusterIssuer/],
    ['foreign issuer group', { issuerRef: { name: 'x', group: 'awspca.cert-manager.io' } }, 'spec.issuerRef.group', /cert-manager\.io/],
    ['missing secretName', { secretName: undefined }, 'spec.secretName', /is required/],
    ['bad dns name', { dnsNames: ['a..b'] }, 'spec.dnsNames[0]', /DNS name/],
    ['bad ip', { ipAddresses: ['10.0.0.300'] }, 'spec.ipAddresses[0]', /IPv4 or IPv6/],
    ['bad uri', { uris: ['not a uri'] }, 'spec.uris[0]', /absolute URI/],
    ['bad email', { emailAddresses: ['nobody'] }, 'spec.emailAddresses[0]', /email/],
    ['bad usage', { usages: ['server-auth'] }, 'spec.usages[0]', /must be one of/],
    ['no names', { dnsNames: undefined }, 'spec', /at least one of commonName, dnsNames/],
    ['long common name', { commonName: 'x'.repeat(65) }, 'spec.commonName', /at most 64/],
    ['unsupported literalSubject', { literalSubject: 'CN=x' }, 'spec.literalSubject', /not supported/],
  ];
  for (const [what, spec, path, msg] of bad) {
    test(`rejects ${what} at ${path}`, () => {
      const r = parseCertificate(base(spec));
      assert.equal(r.ok, false);
      if (r.ok) return;
      const e = r.errors.find((x) => x.path === path);
      assert.ok(e, `an error at ${path}; got ${JSON.stringify(r.errors)}`);
      assert.match(e.message, msg);
    });
  }
  test('status is kept', () => {
    const r = parseCertificate({ ...base({}), status: { failedIssuanceAttempts: 2, lastFailureTime: '2026-01-01T00:00:00Z', conditions: [{ type: 'Ready', status: 'False' }] } });
    assert.ok(r.ok && r.object.status?.failedIssuanceAttempts === 2);
  });
});

const issuer = (spec: Record<string, unknown>, kind = 'Issuer') => ({ apiVersion: 'cert-manager.io/v1', kind, metadata: { name: 'i', ...(kind === 'Issuer' ? { namespace: 'apps' } : {}) }, spec });
const acme = (a: Record<string, unknown>) => issuer({ acme: { server: 'https://acme.example/dir', privateKeySecretRef: { name: 'acct' }, ...a } });

describe('Issuer and ClusterIssuer validation', () => {
  test('selfSigned, ca and acme parse; ClusterIssuer has no namespace', () => {
    assert.ok(parseIssuer(issuer({ selfSigned: {} })).ok);
    assert.ok(parseIssuer(issuer({ ca: { secretName: 'root' } })).ok);
    const ci = parseIssuer(issuer({ selfSigned: {} }, 'ClusterIssuer'));
    assert.ok(ci.ok && ci.object.kind === 'ClusterIssuer' && ci.object.metadata.namespace === undefined);
    const a = parseIssuer(
      acme({
        email: 'a@b.c',
        solvers: [
          { selector: { dnsZones: ['example.com'] }, dns01: { rfc2136: { nameserver: '10.0.0.1', tsigKeyName: 'k', tsigAlgorithm: 'hmacsha256', tsigSecretSecretRef: { name: 't', key: 'secret' } } } },
          { dns01: { route53: { region: 'eu-west-1', hostedZoneID: 'Z1' } } },
          { http01: { ingress: { ingressClassName: 'gangplank' } } },
        ],
      }),
    );
    assert.ok(a.ok, JSON.stringify(!a.ok && a.errors));
    assert.equal(a.object.spec.acme!.solvers[0]!.dns01!.rfc2136!.tsigAlgorithm, 'HMACSHA256');
  });

  const bad: [string, Record<string, unknown>, string, RegExp][] = [
    ['no issuer type', issuer({}), 'spec', /exactly one of selfSigned, ca or acme/],
    ['two issuer types', issuer({ selfSigned: {}, ca: { secretName: 'x' } }), 'spec', /exactly one/],
    ['vault', issuer({ vault: { server: 'x' } }), 'spec.vault', /not supported/],
    ['ca without secretName', issuer({ ca: {} }), 'spec.ca.secretName', /is required/],
    ['acme without server', issuer({ acme: { privateKeySecretRef: { name: 'a' } } }), 'spec.acme.server', /is required/],
    ['acme server not a URL', acme({ server: 'letsencrypt' }), 'spec.acme.server', /URL/],
    ['acme without account key ref', issuer({ acme: { server: 'https://x/dir' } }), 'spec.acme.privateKeySecretRef', /is required/],
    ['solver with both', acme({ solvers: [{ http01: {}, dns01: { route53: {} } }] }), 'spec.acme.solvers[0]', /exactly one of http01 or dns01/],
    ['solver with neither', acme({ solvers: [{}] }), 'spec.acme.solvers[0]', /exactly one of http01 or dns01/],
    ['cloudflare', acme({ solvers: [{ dns01: { cloudflare: {} } }] }), 'spec.acme.solvers[0].dns01.cloudflare', /not supported/],
    ['rfc2136 bad algorithm', acme({ solvers: [{ dns01: { rfc2136: { nameserver: '1.2.3.4:53', tsigAlgorithm: 'HMACSHA3' } } }] }), 'spec.acme.solvers[0].dns01.rfc2136.tsigAlgorithm', /HMACMD5, HMACSHA1, HMACSHA256, HMACSHA512/],
    ['rfc2136 bad nameserver', acme({ solvers: [{ dns01: { rfc2136: { nameserver: '1.2.3.4:99999' } } }] }), 'spec.acme.solvers[0].dns01.rfc2136.nameserver', /host:port/],
    ['caBundle not PEM', acme({ caBundle: Buffer.from('hello').toString('base64') }), 'spec.acme.caBundle', /PEM/],
    ['caBundle with skipTLSVerify', acme({ caBundle: Buffer.from('-----BEGIN CERTIFICATE-----').toString('base64'), skipTLSVerify: true }), 'spec.acme.caBundle', /skipTLSVerify/],
  ];
  for (const [what, raw, path, msg] of bad) {
    test(`rejects ${what} at ${path}`, () => {
      const r = parseIssuer(raw);
      assert.equal(r.ok, false);
      if (r.ok) return;
      const e = r.errors.find((x) => x.path === path);
      assert.ok(e, `an error at ${path}; got ${JSON.stringify(r.errors)}`);
      assert.match(e.message, msg);
    });
  }
});

describe('host:port', () => {
  const cases: [string, { host: string; port: number } | undefined][] = [
    ['10.0.0.1', { host: '10.0.0.1', port: 53 }],
    ['10.0.0.1:5353', { host: '10.0.0.1', port: 5353 }],
    ['ns.example.com:53', { host: 'ns.example.com', port: 53 }],
    ['[::1]:5300', { host: '::1', port: 5300 }],
    ['::1', { host: '::1', port: 53 }],
    ['x:0', undefined],
    [':53', undefined],
  ];
  for (const [s, want] of cases) test(s, () => assert.deepEqual(parseHostPort(s, 53), want));
});
