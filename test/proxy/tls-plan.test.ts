/** Table tests: SNI name lookup, certificate coverage, and the certificate plan for TLS bindings. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Secret } from '../../src/api/types.js';
import type { TlsBinding } from '../../src/controllers/routes/types.js';
import { certCoversHost, lookupName } from '../../src/tls/match.js';
import { planCertificates } from '../../src/tls/plan.js';
import { makeCert, tlsSecret, type TestCert } from './tls-helpers.js';

describe('lookupName: exact, then one-label wildcard, else default', () => {
  const m = new Map([
    ['app.example.com', 'exact'],
    ['*.example.com', 'wild'],
    ['*.b.example.com', 'wild-b'],
  ]);
  const cases: [string, string | undefined][] = [
    ['app.example.com', 'exact'],
    ['x.example.com', 'wild'],
    ['a.b.example.com', 'wild-b'],
    ['a.c.example.com', undefined],
    ['example.com', undefined],
    ['com', undefined],
    ['other.test', undefined],
  ];
  for (const [host, want] of cases) test(`${host} → ${want ?? 'default'}`, () => assert.equal(lookupName(m, host), want));
});

describe('certCoversHost', () => {
  const cases: [string[], string, boolean][] = [
    [['app.example.com'], 'app.example.com', true],
    [['APP.example.com.'], 'app.example.com', true],
    [['*.example.com'], 'app.example.com', true],
    [['*.example.com'], 'a.b.example.com', false],
    [['*.example.com'], 'example.com', false],
    [['*.example.com'], '*.example.com', true],
    [['app.example.com'], '*.example.com', false],
    [['other.test'], 'app.example.com', false],
    [[], 'app.example.com', false],
  ];
  for (const [names, host, want] of cases) test(`[${names.join(',')}] covers ${host}: ${want}`, () => assert.equal(certCoversHost(names, host), want));
});

describe('planCertificates', () => {
  const bind = (host: string, secret?: string): [string, TlsBinding] => [host, { host, ...(secret ? { secret } : {}), ingress: { namespace: 'default', name: 'ing' } }];
  let good: TestCert;
  let expired: TestCert;

  test('usable, missing, unusable, expired and not-covering Secrets', async () => {
    good = await makeCert(['app.example.com']);
    expired = await makeCert(['old.example.com'], { notBefore: new Date(Date.now() - 2 * 86400_000), notAfter: new Date(Date.now() - 86400_000) });
    const secrets = new Map<string, Secret>([
      ['default/good', tlsSecret('good', good) as Secret],
      ['default/old', tlsSecret('old', expired) as Secret],
      ['default/garbage', tlsSecret('garbage', { cert: 'nope', key: good.key }) as Secret],
      ['default/swapped', tlsSecret('swapped', { cert: good.cert, key: expired.key }) as Secret],
    ]);
    const bindings = new Map([
      bind('app.example.com', 'default/good'),
      bind('alias.example.com', 'default/good'),
      bind('old.example.com', 'default/old'),
      bind('garbage.example.com', 'default/garbage'),
      bind('swapped.example.com', 'default/swapped'),
      bind('missing.example.com', 'default/missing'),
      bind('nosecret.example.com'),
    ]);
    const plan = planCertificates(bindings, (ns, name) => secrets.get(`${ns}/${name}`));
    const served = (h: string) => (plan.hosts.get(h)?.cert ? 'secret' : 'default');
    assert.equal(served('app.example.com'), 'secret');
    assert.equal(served('alias.example.com'), 'secret', 'a certificate not covering its host is still served');
    for (const h of ['old.example.com', 'garbage.example.com', 'swapped.example.com', 'missing.example.com', 'nosecret.example.com']) assert.equal(served(h), 'default', h);
    const problem = (h: string) => plan.problems.filter((p) => p.host === h).map((p) => `${p.kind}: ${p.message}`).join('\n');
    assert.equal(problem('app.example.com'), '');
    assert.match(problem('alias.example.com'), /^not-covered: .*covers app\.example\.com, not alias\.example\.com/);
    assert.match(problem('old.example.com'), /^secret: Secret default\/old: the certificate in tls\.crt expired/);
    assert.match(problem('garbage.example.com'), /^secret: Secret default\/garbage .*tls\.crt/);
    assert.match(problem('swapped.example.com'), /^secret: Secret default\/swapped .*does not match/);
    assert.match(problem('missing.example.com'), /^secret: Secret default\/missing .* does not exist/);
    assert.equal(problem('nosecret.example.com'), '');
    assert.equal(plan.nextExpiry, Date.parse(new Date(plan.hosts.get('app.example.com')!.cert!.notAfter).toISOString()));
  });
});
