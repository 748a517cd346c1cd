/**
 * Which problems become Events (table-driven over store contents, with the real route compiler),
 * and the reporter: one Event when a problem appears, none while it lasts, a new one when it
 * comes back. The embedded writer stands in for the cluster one: the reporter uses only the
 * Writer interface (test/kube/e2e.test.ts checks the same Events with kubectl).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import type { TypedObject } from '../../src/api/meta.js';
import { RoutesController } from '../../src/controllers/routes/controller.js';
import { currentProblems, ProblemEventReporter, type Problem } from '../../src/runtime/kube-mode.js';
import { silentLogger } from '../../src/runtime/logger.js';
import { Store } from '../../src/store/store.js';
import { StateDirWriter } from '../../src/writers/statedir.js';
import { ingress, ingressClass, rule, service, slice } from '../unit/routes/fixtures.js';
import { waitFor } from '../harness/wait.js';

const T0 = '2026-01-01T00:00:00Z';
const T1 = '2026-01-01T00:01:00Z';
const base: TypedObject[] = [ingressClass('gangplank', 'gangplank.dev/ingress-controller', true), service('web'), slice('web-1', 'web', [['192.0.2.1', true]])];

async function world(objects: TypedObject[]) {
  const store = new Store();
  const routes = new RoutesController(store, { ingressClass: 'gangplank' }, silentLogger(), new Registry());
  for (const o of [...base, ...objects]) store.upsert('test', o);
  store.flush();
  await routes.start();
  return { store, routes };
}

const cases: { name: string; objects: TypedObject[]; rejected?: boolean; want: { reason: Problem['reason']; ref: string; message: RegExp }[] }[] = [
  { name: 'a healthy Ingress is no problem', objects: [ingress('ok', { rules: [rule('a.example.test', [['/', 'Prefix', 'web']])] })], want: [] },
  {
    name: 'a missing Service is reported on the Ingress',
    objects: [ingress('lost', { rules: [rule('b.example.test', [['/', 'Prefix', 'nope']])] })],
    want: [{ reason: 'MissingBackend', ref: 'Ingress default/lost', message: /b\.example\.test\/: .*nope/ }],
  },
  {
    name: 'a route conflict is reported on the younger Ingress',
    objects: [
      ingress('young', { rules: [rule('c.example.test', [['/', 'Prefix', 'web']])] }, { creationTimestamp: T1 }),
      ingress('old', { rules: [rule('c.example.test', [['/', 'Prefix', 'web']])] }, { creationTimestamp: T0 }),
    ],
    want: [{ reason: 'RouteConflict', ref: 'Ingress default/young', message: /older Ingress default\/old/ }],
  },
  { name: 'an invalid object is reported on itself', objects: [], rejected: true, want: [{ reason: 'Invalid', ref: 'Ingress default/bad', message: /spec\.rules\[0\].*backend/ }] },
];

for (const c of cases) {
  test(`problems: ${c.name}`, async () => {
    const { store, routes } = await world(c.objects);
    if (c.rejected) store.setRejected('test', 'Ingress/default/bad', { origin: { source: 'test' }, kind: 'Ingress', namespace: 'default', name: 'bad', errors: [{ path: 'spec.rules[0].http.paths[0].backend', message: 'resource backends are not supported' }] });
    const got = currentProblems({ store, routes });
    assert.equal(got.length, c.want.length, JSON.stringify(got));
    for (const [i, w] of c.want.entries()) {
      const p = got[i]!;
      assert.equal(p.reason, w.reason);
      assert.equal(`${p.ref.kind} ${p.ref.namespace}/${p.ref.name}`, w.ref);
      assert.match(p.message, w.message);
    }
    await routes.stop();
  });
}

test('problems: a DNS conflict is reported on the object whose claim lost', async () => {
  const { store, routes } = await world([]);
  const claim = (owner: string) => ({ name: 'x.example.test', type: 'A' as const, ttl: 300, targets: ['192.0.2.9'], owner, source: { metadata: { name: 'n' } } });
  const dns = { view: () => ({ conflicts: [{ loser: claim('service/default/api'), winner: claim('ingress/default/web'), message: 'x.example.test A is claimed by the older ingress/default/web' }] }) };
  const [p] = currentProblems({ store, routes, dns: dns as never });
  assert.deepEqual(p?.ref, { apiVersion: 'v1', kind: 'Service', namespace: 'default', name: 'api' });
  assert.equal(p?.reason, 'DNSConflict');
  await routes.stop();
});

test('the reporter records an Event when a problem appears, not while it lasts, and again when it comes back', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gangplank-problems-'));
  const { store, routes } = await world([]);
  const writer = new StateDirWriter(dir, store, silentLogger());
  await writer.load();
  const reporter = new ProblemEventReporter({ store, routes, writer, logger: silentLogger(), intervalMs: 60_000 });
  await reporter.start();
  try {
    const lost = ingress('lost', { rules: [rule('b.example.test', [['/', 'Prefix', 'nope']])] });
    const missing = () => writer.recentEvents().find((e) => e.reason === 'MissingBackend' && e.involved.name === 'lost');
    store.upsert('test', lost);
    store.flush();
    const e = await waitFor('MissingBackend Event', missing);
    assert.equal(e.type, 'Warning');
    assert.equal(e.count, 1);
    // Other changes while the problem lasts add nothing for it (a second problem proves the reporter ran).
    store.upsert('test', ingress('lost2', { rules: [rule('d.example.test', [['/', 'Prefix', 'gone']])] }));
    store.flush();
    await waitFor('Event on lost2', () => writer.recentEvents().find((x) => x.involved.name === 'lost2'));
    assert.equal(missing()?.count, 1);
    // Fixed, then broken again: recorded again (the writer counts the repeat).
    store.upsert('test', service('nope'));
    store.flush();
    await waitFor('the reporter saw the fix', () => reporter.active.size === 1);
    store.remove('test', 'Service/default/nope');
    store.flush();
    await waitFor('MissingBackend recorded again', () => missing()?.count === 2);
  } finally {
    await reporter.stop();
    await routes.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
