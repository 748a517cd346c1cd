import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as acme from 'acme-client';
import { parseCertificate, type AcmeSolver } from '../../../src/api/certmanager.js';
import { selectSolver } from '../../../src/controllers/certs/acme/solvers.js';
import { ariCertId, ariRenewalTime, parseRenewalInfo } from '../../../src/controllers/certs/acme/ari.js';
import { FileAcmeStateStore } from '../../../src/controllers/certs/acme/state.js';
import { AcmeTransport, parseRetryAfter } from '../../../src/controllers/certs/acme/transport.js';
import { orderIdentifiers } from '../../../src/controllers/certs/issuers/acme.js';
import { IssuerError } from '../../../src/controllers/certs/issuers/types.js';
import { challengeRecordName } from '../../../src/controllers/certs/solvers/dns01.js';
import { Http01Registry } from '../../../src/controllers/certs/solvers/http01.js';
import { encodePrivateKey, generatePrivateKey } from '../../../src/controllers/certs/keys.js';
import { buildCsr, signCertificate } from '../../../src/controllers/certs/x509.js';
import { freePort } from '../../harness/net.js';

describe('solver selection (cert-manager precedence)', () => {
  const S = {
    catchAllHttp: { http01: { ingress: {} } },
    catchAllDns: { dns01: { route53: {} } },
    zone: { selector: { dnsZones: ['example.com'] }, dns01: { rfc2136: { nameserver: 'a' } } },
    subZone: { selector: { dnsZones: ['sub.example.com'] }, dns01: { rfc2136: { nameserver: 'b' } } },
    name: { selector: { dnsNames: ['www.example.com'] }, http01: { ingress: {} } },
    labels: { selector: { matchLabels: { team: 'a' } }, dns01: { route53: { region: 'x' } } },
    zoneAndLabels: { selector: { dnsZones: ['example.com'], matchLabels: { team: 'b' } }, dns01: { route53: { region: 'y' } } },
  } satisfies Record<string, AcmeSolver>;
  const cases: [string, AcmeSolver[], string, Record<string, string>, ('http-01' | 'dns-01')[] | undefined, AcmeSolver | undefined][] = [
    ['catch-all only', [S.catchAllHttp], 'a.example.com', {}, undefined, S.catchAllHttp],
    ['dnsNames beats dnsZones and catch-all', [S.catchAllDns, S.zone, S.name], 'www.example.com', {}, undefined, S.name],
    ['dnsZones beats catch-all', [S.catchAllHttp, S.zone], 'a.example.com', {}, undefined, S.zone],
    ['longest zone wins', [S.zone, S.subZone], 'x.sub.example.com', {}, undefined, S.subZone],
    ['zone itself matches', [S.catchAllHttp, S.subZone], 'sub.example.com', {}, undefined, S.subZone],
    ['a zone does not match a sibling', [S.subZone], 'other.example.com', {}, undefined, undefined],
    ['matchLabels beats catch-all', [S.catchAllHttp, S.labels], 'a.example.com', { team: 'a' }, undefined, S.labels],
    ['matchLabels must match', [S.catchAllHttp, S.labels], 'a.example.com', { team: 'z' }, undefined, S.catchAllHttp],
    ['dnsZones with unmatched labels is skipped', [S.zoneAndLabels, S.catchAllHttp], 'a.example.com', { team: 'a' }, undefined, S.catchAllHttp],
    ['wildcards match zones', [S.catchAllHttp, S.zone], '*.example.com', {}, undefined, S.zone],
    ['wildcards only get dns-01', [S.catchAllHttp, S.catchAllDns], '*.example.com', {}, ['dns-01'], S.catchAllDns],
    ['only offered types are picked', [S.name], 'www.example.com', {}, ['dns-01'], undefined],
    ['ties keep list order', [S.catchAllDns, S.catchAllHttp], 'a.example.com', {}, undefined, S.catchAllDns],
  ];
  for (const [what, solvers, name, labels, allowed, want] of cases) {
    test(what, () => assert.equal(selectSolver(solvers, name, labels, allowed)?.solver, want));
  }
});

describe('ARI (RFC 9773)', () => {
  const w = { start: new Date('2026-03-01T00:00:00Z'), end: new Date('2026-03-03T00:00:00Z') };
  const now = new Date('2026-02-01T00:00:00Z');
  test('a point inside the window, chosen by rng', () => {
    assert.equal(ariRenewalTime(w, now, () => 0).toISOString(), w.start.toISOString());
    assert.equal(ariRenewalTime(w, now, () => 0.5).toISOString(), '2026-03-02T00:00:00.000Z');
    assert.equal(ariRenewalTime(w, now, () => 1).toISOString(), w.end.toISOString());
  });
  test('a window in the past means now; a window already open starts now', () => {
    const late = new Date('2026-04-01T00:00:00Z');
    assert.equal(ariRenewalTime(w, late, () => 0.5).toISOString(), late.toISOString());
    const mid = new Date('2026-03-02T00:00:00Z');
    assert.equal(ariRenewalTime(w, mid, () => 0).toISOString(), mid.toISOString());
  });
  test('our own earlier renewal time wins', () => {
    const ours = new Date('2026-02-15T00:00:00Z');
    assert.equal(ariRenewalTime(w, now, () => 0.5, ours).toISOString(), ours.toISOString());
  });
  test('renewalInfo bodies', () => {
    assert.deepEqual(parseRenewalInfo({ suggestedWindow: { start: '2026-03-01T00:00:00Z', end: '2026-03-03T00:00:00Z' } }), w);
    assert.equal(parseRenewalInfo({ suggestedWindow: { start: '2026-03-03T00:00:00Z', end: '2026-03-01T00:00:00Z' } }), undefined);
    assert.equal(parseRenewalInfo({}), undefined);
    assert.equal(parseRenewalInfo(null), undefined);
  });
  test('certID is base64url(AKI).base64url(serial)', () => {
    // RFC 9773 appendix A example certificate.
    const pem = `-----BEGIN CERTIFICATE-----
MIIBQzCB66ADAgECAgUAh2VDITAKBggqhkjOPQQDAjAVMRMwEQYDVQQDEwpFeGFt
cGxlIENBMCIYDzAwMDEwMTAxMDAwMDAwWhgPMDAwMTAxMDEwMDAwMDBaMBYxFDAS
BgNVBAMTC2V4YW1wbGUuY29tMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEeBZu
7cbpAYNXZLbbh8rNIzuOoqOOtmxA1v7cRm//AwyMwWxyHz4zfwmBhcSrf47NUAFf
qzLQ2PPQxdTXREYEnKMjMCEwHwYDVR0jBBgwFoAUaYhba4dGQEHhs3uEe6CuLN4B
yNQwCgYIKoZIzj0EAwIDRwAwRAIge09+S5TZAlw5tgtiVvuERV6cT4mfutXIlwTb
+FYN/8oCIClDsqBklhB9KAelFiYt9+6FDj3z4KGVelYM5MdsO3pK
-----END CERTIFICATE-----`;
    assert.equal(ariCertId(pem), 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE');
  });
});

describe('ACME helpers', () => {
  test('challenge record names', () => {
    assert.equal(challengeRecordName('www.Example.com.'), '_acme-challenge.www.example.com');
    assert.equal(challengeRecordName('*.example.com'), '_acme-challenge.example.com');
  });
  test('Retry-After', () => {
    assert.equal(parseRetryAfter('120'), 120);
    assert.equal(parseRetryAfter(new Date(Date.now() + 60_000).toUTCString()) ! >= 59, true);
    assert.equal(parseRetryAfter(undefined), undefined);
    assert.equal(parseRetryAfter('soon'), undefined);
  });
  test('order identifiers: DNS names and IPs; the common name must be a DNS name; no URIs or emails', () => {
    const mk = (spec: Record<string, unknown>) => {
      const r = parseCertificate({ apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: { name: 'c', namespace: 'n' }, spec: { secretName: 's', issuerRef: { name: 'le' }, ...spec } });
      assert.ok(r.ok);
      return r.object;
    };
    assert.deepEqual(orderIdentifiers(mk({ dnsNames: ['A.example.com', 'a.example.com'], ipAddresses: ['10.0.0.1'] })), [
      { type: 'dns', value: 'a.example.com' },
      { type: 'ip', value: '10.0.0.1' },
    ]);
    assert.throws(() => orderIdentifiers(mk({ commonName: 'x.example.com', dnsNames: ['a.example.com'] })), /spec\.commonName x\.example\.com must also be listed in spec\.dnsNames/);
    assert.throws(() => orderIdentifiers(mk({ dnsNames: ['a.example.com'], uris: ['spiffe://x'] })), /spec\.uris/);
  });
  test('HTTP-01 token paths', () => {
    assert.equal(Http01Registry.tokenOf('/.well-known/acme-challenge/abc_DEF-123'), 'abc_DEF-123');
    assert.equal(Http01Registry.tokenOf('/.well-known/acme-challenge/../etc'), undefined);
    assert.equal(Http01Registry.tokenOf('/other'), undefined);
    const r = new Http01Registry();
    r.set('t', 'ka');
    assert.equal(r.get('t'), 'ka');
    r.delete('t');
    assert.equal(r.get('t'), undefined);
  });
  test('file state store: round trip, files 0600, delete', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gangplank-state-'));
    const s = new FileAcmeStateStore(join(dir, 'acme'));
    await s.put('order/apps/web', { a: 1 });
    assert.deepEqual(await s.get('order/apps/web'), { a: 1 });
    assert.equal(await s.get('order/apps/other'), undefined);
    const files = readdirSync(join(dir, 'acme'));
    assert.equal(files.length, 1);
    assert.equal(statSync(join(dir, 'acme', files[0]!)).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'acme')).mode & 0o777, 0o700);
    await s.delete('order/apps/web');
    assert.equal(await s.get('order/apps/web'), undefined);
  });
});

describe('ACME rate limits', () => {
  test('a 429 surfaces at once as IssuerError RateLimited with retryAfter (no in-library sleep)', async () => {
    // Stands in for a CA's rate limiter (Pebble has none): answers every request 429.
    const srv = createServer((_req, res) => {
      res.writeHead(429, { 'retry-after': '3600', 'content-type': 'application/problem+json' }).end(JSON.stringify({ type: 'urn:ietf:params:acme:error:rateLimited', detail: 'too many new orders recently' }));
    });
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    try {
      const port = (srv.address() as { port: number }).port;
      const url = `http://127.0.0.1:${port}/dir`;
      const key = await generatePrivateKey({ algorithm: 'ECDSA', size: 256 });
      const client = new AcmeTransport(url).attach(new acme.Client({ directoryUrl: url, accountKey: key.export({ type: 'sec1', format: 'pem' }).toString() }));
      const started = Date.now();
      await assert.rejects(client.createAccount({ termsOfServiceAgreed: true }), (e: unknown) => {
        assert.ok(e instanceof IssuerError);
        assert.equal(e.reason, 'RateLimited');
        assert.equal(e.retryAfter, 3600);
        assert.match(e.message, /too many new orders recently/);
        return true;
      });
      assert.ok(Date.now() - started < 5000);
    } finally {
      srv.close();
    }
  });
});

describe('ACME server unreachable', () => {
  test('a refused connection is ACMEServerUnreachable naming the server and the cause', async () => {
    const url = `https://127.0.0.1:${await freePort()}/dir`;
    await assert.rejects(new AcmeTransport(url).getJson(url), (e: unknown) => {
      assert.ok(e instanceof IssuerError);
      assert.equal(e.reason, 'ACMEServerUnreachable');
      assert.match(e.message, /ACME server https:\/\/127\.0\.0\.1:\d+: GET .*\/dir failed: .*ECONNREFUSED/);
      return true;
    });
  });

  test('TLS trust is per issuer: without the caBundle the server is unreachable (TLS), with it the directory loads', async () => {
    // A self-signed listener certificate for 127.0.0.1, as a private ACME CA would have.
    const parsed = parseCertificate({ apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: { name: 'acme', namespace: 'x' }, spec: { secretName: 's', issuerRef: { name: 'i' }, commonName: 'acme test', ipAddresses: ['127.0.0.1'], privateKey: { algorithm: 'ECDSA' } } });
    assert.ok(parsed.ok);
    const key = await generatePrivateKey(parsed.object.spec.privateKey);
    const certPem = await signCertificate({ spec: parsed.object.spec, csrPem: await buildCsr(parsed.object.spec, key), signingKey: key, now: new Date() });
    const srv = createHttpsServer({ key: encodePrivateKey(key, 'PKCS8'), cert: certPem }, (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ newNonce: 'x' }));
    });
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    try {
      const url = `https://127.0.0.1:${(srv.address() as { port: number }).port}/dir`;
      await assert.rejects(new AcmeTransport(url).getJson(url), (e: unknown) => {
        assert.ok(e instanceof IssuerError);
        assert.equal(e.reason, 'ACMEServerUnreachable');
        assert.match(e.message, /self[- ]signed|certificate/i);
        assert.match(e.message, /caBundle/);
        return true;
      });
      assert.deepEqual(await new AcmeTransport(url, { caPem: certPem }).getJson(url), { newNonce: 'x' });
      // An issuer without the bundle next to one with it still fails: the trust does not leak across issuers.
      await assert.rejects(new AcmeTransport(url).getJson(url), /ACME server .* failed/);
    } finally {
      srv.close();
    }
  });
});
