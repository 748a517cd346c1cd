import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileAcmeStateStore, MemoryAcmeStateStore } from '../../src/controllers/certs/acme/state.js';
import { IssuerError } from '../../src/controllers/certs/issuers/types.js';
import type { AcmeStep } from '../../src/controllers/certs/issuers/acme.js';
import { keyMatchesCertificate, parsePrivateKey } from '../../src/controllers/certs/keys.js';
import { emptyChangeSet, type DnsProvider } from '../../src/controllers/dns/types.js';
import { certificate, opensslSans, opensslVerify, request, startAcmeEnv, type AcmeEnv } from './acme-helpers.js';

describe('ACME DNS-01 against Pebble, TXT records in BIND via RFC 2136', { timeout: 180_000 }, () => {
  let env: AcmeEnv;
  before(async () => {
    env = await startAcmeEnv();
  });
  after(async () => {
    await env?.stop();
  });

  test('one name: issued, chain verifies against Pebble root, TXT cleaned up, account key Secret returned', async () => {
    const issuer = env.makeIssuer({ state: new MemoryAcmeStateStore() });
    const c = certificate('one', ['one.example.test']);
    const req = await request(c);
    const res = await issuer.issue(req);
    assert.ok(res.accountKeySecret, 'a new account key Secret is returned for the caller to write');
    assert.equal(res.accountKeySecret!.metadata.name, 'pebble-account');
    assert.equal(res.accountKeySecret!.metadata.namespace, 'apps');
    assert.ok(res.accountKeySecret!.data?.['tls.key']);
    assert.deepEqual(await opensslSans(res.certPem), ['one.example.test']);
    assert.ok(keyMatchesCertificate(req.privateKey, res.certPem));
    assert.match(await opensslVerify(res.certPem, await env.pebble.roots()), /leaf\.pem: OK/);
    assert.deepEqual(await env.bind.dig('_acme-challenge.one.example.test', 'TXT'), []);
    // Pebble 2.4 has no renewalInfo in its directory: no ARI window, the spec's renewal applies.
    assert.equal(await issuer.renewalWindow(res.certPem), undefined);
  });

  test('several names and a wildcard in one order (the base name and its wildcard share one TXT name)', async () => {
    const issuer = env.makeIssuer({ state: new MemoryAcmeStateStore() });
    const c = certificate('multi', ['example.test', '*.example.test', 'www.example.test']);
    const res = await issuer.issue(await request(c));
    assert.deepEqual(await opensslSans(res.certPem), ['*.example.test', 'example.test', 'www.example.test']);
    assert.match(await opensslVerify(res.certPem, await env.pebble.roots()), /OK/);
    assert.deepEqual(await env.bind.dig('_acme-challenge.example.test', 'TXT'), []);
  });

  test('cnameStrategy Follow writes the TXT where _acme-challenge points', async () => {
    await env.bind.nsupdate(['update add _acme-challenge.cn.example.test. 60 CNAME cn-target.example.test.']);
    const issuerObj = env.issuerObject([
      { dns01: { cnameStrategy: 'Follow', rfc2136: { nameserver: `127.0.0.1:${env.bind.port}`, tsigKeyName: 'acme-key', tsigAlgorithm: 'HMACSHA256', tsigSecretSecretRef: { name: 'tsig', key: 'secret' } } } },
    ]);
    const written: string[] = [];
    const issuer = env.makeIssuer({
      state: new MemoryAcmeStateStore(),
      dnsProviderFor: () => {
        const real = env.provider();
        return { ...real, name: real.name, zones: () => real.zones(), records: (z) => real.records(z), applyChanges: (cs) => (written.push(...cs.create.map((r) => r.name)), real.applyChanges(cs)) };
      },
    }, issuerObj);
    const res = await issuer.issue(await request(certificate('cn', ['cn.example.test'])));
    assert.deepEqual(await opensslSans(res.certPem), ['cn.example.test']);
    assert.deepEqual(written, ['cn-target.example.test']);
  });

  test('a known account key is looked up, not registered again (restart)', async () => {
    // The first test stored the account key Secret's content in our map only if written: write it now.
    const first = env.makeIssuer({ state: new MemoryAcmeStateStore() });
    const setup1 = await first.setup();
    if (setup1.accountKeySecret) env.secrets.set('apps/pebble-account', setup1.accountKeySecret);
    const again = env.makeIssuer({ state: new MemoryAcmeStateStore() });
    const setup2 = await again.setup();
    assert.equal(setup2.accountKeySecret, undefined);
    const third = env.makeIssuer({ state: new MemoryAcmeStateStore() });
    assert.equal((await third.setup()).accountUrl, setup2.accountUrl);
  });

  for (const crashAt of ['order-persisted', 'challenge-presented', 'challenge-accepted'] as AcmeStep[]) {
    test(`a crash after "${crashAt}" resumes the same order with the persisted key`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'gangplank-acme-state-'));
      const steps1: [AcmeStep, string][] = [];
      const crashing = env.makeIssuer({
        state: new FileAcmeStateStore(dir),
        onStep: (s, d) => {
          steps1.push([s, d]);
          if (s === crashAt) throw new Error(`simulated crash at ${s}`);
        },
      });
      const c = certificate(`crash-${crashAt}`, [`crash-${crashAt.split('-')[1]}.example.test`]);
      const first = await request(c);
      await assert.rejects(crashing.issue(first), /simulated crash/);
      const orderUrl = steps1.find(([s]) => s === 'order-persisted')![1];
      for (const f of readdirSync(dir)) assert.equal(statSync(join(dir, f)).mode & 0o777, 0o600, `${f} is private`);

      const steps2: [AcmeStep, string][] = [];
      const restarted = env.makeIssuer({ state: new FileAcmeStateStore(dir), onStep: (s, d) => void steps2.push([s, d]) });
      const second = await request(c); // the controller would bring a fresh key: the persisted one must win
      const res = await restarted.issue(second);
      assert.ok(!steps2.some(([s]) => s === 'order-persisted'), 'no new order is opened');
      assert.equal(steps2.find(([s]) => s === 'finalized')?.[1], orderUrl, 'the same order URL is finalized');
      assert.ok(res.privateKeyPem, 'the key persisted with the order is handed back');
      assert.ok(keyMatchesCertificate(parsePrivateKey(res.privateKeyPem!), res.certPem));
      assert.ok(keyMatchesCertificate(first.privateKey, res.certPem));
      assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('order')), [], 'the finished order is forgotten');
    });
  }

  test('a wrong TXT value fails with the CA\'s reason, and the order is forgotten', async () => {
    // A provider that publishes something else than asked: the CA must see the wrong value.
    const wrong = (): DnsProvider => {
      const real = env.provider();
      return {
        name: 'wrong-value',
        zones: () => real.zones(),
        records: (z) => real.records(z),
        applyChanges: (cs) => {
          const out = emptyChangeSet();
          const bad = (r: (typeof cs.create)[number]) => ({ ...r, targets: r.targets.map(() => 'not-the-right-value') });
          out.create = cs.create.map(bad);
          out.delete = cs.delete;
          out.updateOld = cs.updateOld;
          out.updateNew = cs.updateNew.map(bad);
          return real.applyChanges(out);
        },
      };
    };
    const state = new MemoryAcmeStateStore();
    const issuer = env.makeIssuer({ state, dnsProviderFor: () => wrong(), propagation: { skipSelfCheck: true } });
    const c = certificate('wrong', ['wrong.example.test']);
    await assert.rejects(issuer.issue(await request(c)), (err: unknown) => {
      assert.ok(err instanceof IssuerError);
      assert.equal(err.reason, 'Failed');
      assert.match(err.message, /wrong\.example\.test/);
      assert.match(err.message, /unauthorized/);
      assert.match(err.message, /Correct value not found|incorrect TXT|TXT/i);
      if (process.env.GANGPLANK_TEST_ECHO) console.error(err.message);
      return true;
    });
    assert.equal([...state.data.keys()].filter((k) => k.startsWith('order/')).length, 0);
  });
});
