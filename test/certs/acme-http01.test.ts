import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { MemoryAcmeStateStore } from '../../src/controllers/certs/acme/state.js';
import { Http01Registry } from '../../src/controllers/certs/solvers/http01.js';
import { certificate, opensslSans, opensslVerify, request, startAcmeEnv, type AcmeEnv } from './acme-helpers.js';

describe('ACME HTTP-01 against Pebble, answered from the Http01Responder', { timeout: 120_000 }, () => {
  let env: AcmeEnv;
  let server: Server;
  const registry = new Http01Registry();
  const served: string[] = [];
  before(async () => {
    env = await startAcmeEnv();
    // What the router does: serve /.well-known/acme-challenge/<token> from the registry.
    server = createServer((req, res) => {
      const token = Http01Registry.tokenOf(req.url ?? '');
      const ka = token ? registry.get(token) : undefined;
      served.push(`${req.headers.host} ${req.url} ${ka ? 200 : 404}`);
      res.writeHead(ka ? 200 : 404, { 'content-type': 'text/plain' }).end(ka ?? 'not found');
    });
    server.listen(env.pebble.httpPort, '127.0.0.1');
    await once(server, 'listening');
    await env.bind.nsupdate(['update add web.example.test. 60 A 127.0.0.1', 'update add api.example.test. 60 A 127.0.0.1']);
  });
  const check = () => ({ port: env.pebble.httpPort, nameservers: [`127.0.0.1:${env.bind.port}`], timeoutMs: 10_000, intervalMs: 100 });
  after(async () => {
    server?.close();
    await env?.stop();
  });

  test('an http01 solver gets the certificate; the token is served during validation and removed after', async () => {
    const issuer = env.makeIssuer({ state: new MemoryAcmeStateStore(), http01: registry, http01Check: check() }, env.issuerObject([{ http01: { ingress: {} } }]));
    const c = certificate('web', ['web.example.test']);
    const res = await issuer.issue(await request(c));
    assert.deepEqual(await opensslSans(res.certPem), ['web.example.test']);
    assert.match(await opensslVerify(res.certPem, await env.pebble.roots()), /OK/);
    assert.ok(served.some((l) => l.startsWith('web.example.test') && l.endsWith(' 200')), `Pebble fetched the token: ${served.join('; ')}`);
    assert.equal(registry.size, 0, 'tokens are removed after validation');
  });

  test('the self-check refuses to ask the CA while the name does not reach us', async () => {
    await env.bind.nsupdate(['update add elsewhere.example.test. 60 A 127.0.0.2']);
    const issuer = env.makeIssuer(
      { state: new MemoryAcmeStateStore(), http01: registry, http01Check: { ...check(), timeoutMs: 500 } },
      env.issuerObject([{ http01: { ingress: {} } }]),
    );
    await assert.rejects(issuer.issue(await request(certificate('elsewhere', ['elsewhere.example.test']))), (e: unknown) => {
      assert.match(String((e as Error).message), /HTTP-01 self-check failed: http:\/\/elsewhere\.example\.test:\d+\/\.well-known\/acme-challenge\//);
      assert.equal((e as { reason?: string }).reason, 'SelfCheckFailed');
      return true;
    });
  });

  test('solvers are picked per name: dnsNames selector -> http01, catch-all -> dns01, in one order', async () => {
    const bindNs = `127.0.0.1:${env.bind.port}`;
    const issuerObj = env.issuerObject([
      { dns01: { rfc2136: { nameserver: bindNs, tsigKeyName: 'acme-key', tsigAlgorithm: 'HMACSHA256', tsigSecretSecretRef: { name: 'tsig', key: 'secret' } } } },
      { selector: { dnsNames: ['api.example.test'] }, http01: { ingress: {} } },
    ]);
    const before = served.length;
    const issuer = env.makeIssuer({ state: new MemoryAcmeStateStore(), http01: registry, http01Check: check() }, issuerObj);
    const res = await issuer.issue(await request(certificate('mixed', ['api.example.test', 'dns-only.example.test'])));
    assert.deepEqual(await opensslSans(res.certPem), ['api.example.test', 'dns-only.example.test']);
    const fetched = served.slice(before);
    assert.ok(fetched.some((l) => l.startsWith('api.example.test')), 'api.example.test was validated over HTTP');
    assert.ok(!fetched.some((l) => l.startsWith('dns-only.example.test')), 'dns-only.example.test was not validated over HTTP');
  });
});
