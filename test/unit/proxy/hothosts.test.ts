/**
 * HotHosts: a handler's copy of the root hosts that remembers each host's pool and metrics row in
 * the host's slot and counts runs of requests there. Whatever the order of statuses, methods,
 * latencies, scrapes, table changes and resets, the metrics must read exactly as if every request
 * had been counted in its row straight away (sums to rounding).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { HostIndex } from '../../../src/controllers/routes/hostindex.js';
import type { Route } from '../../../src/controllers/routes/types.js';
import { HotHosts } from '../../../src/proxy/hothosts.js';
import { createProxyMetrics, entrypointMetrics, keyOf, type EntrypointMetrics } from '../../../src/proxy/metrics.js';
import { UpstreamPools } from '../../../src/proxy/upstream.js';
import { seededRandom } from '../../harness/random.js';
import { backend, endpoint, route } from '../../proxy/helpers.js';

const pools = () => new UpstreamPools({ connectMs: 1000, responseHeaderMs: 1000, upstreamIdleMs: 1000 });

/** Hosts short, long (not inline in the copy), and wide (not latin1), each with a root route. */
function hosts(n: number): { routes: Route[]; roots: HostIndex<Route> } {
  const routes = Array.from({ length: n }, (_, i) => {
    const host = i % 10 === 3 ? `h${i}.${'long-'.repeat(20)}example.test` : i % 10 === 7 ? `h${i}.\u4f8b.test` : `h${i}.test`;
    return route(host, '/', backend(`default/s${i}:80`, [endpoint(18000 + (i % 3))]));
  });
  return { routes, roots: new HostIndex(routes.map((r) => [r.host, r] as const)) };
}

interface Side {
  registry: Registry;
  e: EntrypointMetrics;
}
function side(): Side {
  const registry = new Registry();
  return { registry, e: entrypointMetrics(createProxyMetrics(registry), 'web') };
}

/** Both sides' metrics the same: every line equal, except sums equal to 1e-9. */
async function sameMetrics(got: Registry, want: Registry, what: string): Promise<void> {
  const parse = (text: string) => {
    const exact: string[] = [];
    const sums = new Map<string, number>();
    for (const l of text.split('\n')) {
      if (!l.startsWith('gangplank_request')) continue;
      const sp = l.lastIndexOf(' ');
      if (l.startsWith('gangplank_request_duration_seconds_sum')) sums.set(l.slice(0, sp), Number(l.slice(sp + 1)));
      else exact.push(l);
    }
    return { exact: exact.sort(), sums };
  };
  const g = parse(await got.metrics());
  const w = parse(await want.metrics());
  assert.deepEqual(g.exact, w.exact, what);
  assert.deepEqual([...g.sums.keys()].sort(), [...w.sums.keys()].sort(), `${what}: sum series`);
  for (const [k, v] of w.sums) assert.ok(Math.abs(g.sums.get(k)! - v) <= 1e-9 * Math.max(1, v), `${what}: ${k} ${g.sums.get(k)} != ${v}`);
}

const CODES = [200, 200, 200, 200, 404, 503, 101];
const METHODS = ['GET', 'GET', 'GET', 'HEAD', 'POST', 'BREW'];
// Both sides of the fast bounds, on them, and slow ones that count in the row at once.
const SECONDS = [0.0002, 0.0009, 0.001, 0.0010001, 0.003, 0.005, 0.0050001, 0.02, 1.5];

test('HotHosts: runs counted in the slots read like counting every request in its row, through key changes, scrapes and a table change', async () => {
  const { routes, roots } = hosts(60);
  const p = pools();
  const ours = side();
  const ref = side();
  let hot = new HotHosts({ roots } as never, roots, ours.e);
  const rnd = seededRandom(11);
  let slow = 0;
  for (let i = 0; i < 30_000; i++) {
    const r = routes[rnd(rnd(2) === 0 ? 5 : routes.length)]!; // a few hosts get most requests
    const code = CODES[rnd(4) === 0 ? rnd(CODES.length) : 0]!;
    const method = METHODS[rnd(3) === 0 ? rnd(METHODS.length) : 0]!;
    const seconds = SECONDS[rnd(SECONDS.length)]!;
    const at = hot.slotOf(r.host);
    assert.ok(at >= 0, r.host);
    assert.equal(hot.route(at), r);
    if (hot.pool(at) === undefined) hot.remember(at, p.h1(r.backend.endpoints[0]!), ours.e.rowOf(r, r.id));
    assert.equal(hot.pool(at), p.h1(r.backend.endpoints[0]!));
    // As Exchange does: a request too slow for a run counts in its row.
    if (!hot.count(at, keyOf(code, method), seconds)) {
      ours.e.countAt(hot.row(at), ours.e.rowsEpoch, r, code, method, seconds);
      slow++;
    }
    ref.e.routeRequest(r, r.id, code, method, seconds);
    if (i % 7_001 === 0) await sameMetrics(ours.registry, ref.registry, `scrape after ${i + 1} requests`);
    if (i === 20_000) {
      // A new table: the old copy carries its runs and counts no more; the new one starts empty.
      hot.retire();
      assert.equal(hot.live, false);
      const old = hot;
      hot = new HotHosts({ roots } as never, roots, ours.e, old);
      assert.equal(Reflect.get(hot, 'slots'), Reflect.get(old, 'slots'), 'the retired copy\'s slots reused');
    }
  }
  assert.ok(slow > 5_000 && slow < 20_000, `some requests too slow for a run: ${slow}`);
  await sameMetrics(ours.registry, ref.registry, 'the end');
  await sameMetrics(ours.registry, ref.registry, 'a second scrape adds nothing');
  await p.close();
});

/** A copy of `n` hosts' roots with the first host remembered (pool and row). */
function firstRemembered(n: number) {
  const { routes, roots } = hosts(n);
  const p = pools();
  const ours = side();
  const hot = new HotHosts({ roots } as never, roots, ours.e);
  const a = routes[0]!;
  const at = hot.slotOf(a.host);
  hot.remember(at, p.h1(a.backend.endpoints[0]!), ours.e.rowOf(a, a.id));
  return { routes, p, ours, hot, at };
}

test('HotHosts: a host remembered again with another row carries its run to the old row', async () => {
  const { routes, p, ours, hot, at } = firstRemembered(2);
  const [a, b] = routes as [Route, Route];
  const pool = p.h1(a.backend.endpoints[0]!);
  for (let i = 0; i < 3; i++) assert.ok(hot.count(at, keyOf(200, 'GET'), 0.0005));
  hot.remember(at, pool, ours.e.rowOf(b, b.id)); // (as if the host's route had another row now)
  assert.ok(hot.count(at, keyOf(200, 'GET'), 0.004));
  const text = await ours.registry.metrics();
  assert.match(text, /gangplank_requests_total\{entrypoint="web",route="h0.test\|Prefix\|\/",code="200",method="GET"\} 3\n/);
  assert.match(text, /gangplank_requests_total\{entrypoint="web",route="h1.test\|Prefix\|\/",code="200",method="GET"\} 1\n/);
  assert.match(text, /gangplank_request_duration_seconds_bucket\{le="0.001",entrypoint="web",route="h1.test\|Prefix\|\/"\} 0\n/);
  assert.match(text, /gangplank_request_duration_seconds_bucket\{le="0.005",entrypoint="web",route="h1.test\|Prefix\|\/"\} 1\n/);
  await p.close();
});

test('HotHosts: a metrics reset drops the runs and the copy; a scrape only flushes slots that ran, once each', async () => {
  const { p, ours, hot, at } = firstRemembered(1_000);
  // Alternating keys: each change carries the run, and the slot is listed for the scrape once.
  for (let i = 0; i < 1_000; i++) assert.ok(hot.count(at, keyOf(i % 2 === 0 ? 200 : 404, 'GET'), 0.0001));
  assert.equal((Reflect.get(hot, 'touched') as number[]).length, 1);
  const text = await ours.registry.metrics();
  assert.match(text, /route="h0.test\|Prefix\|\/",code="200",method="GET"\} 500\n/);
  assert.match(text, /route="h0.test\|Prefix\|\/",code="404",method="GET"\} 500\n/);
  assert.equal((Reflect.get(hot, 'touched') as number[]).length, 0);
  assert.ok(hot.count(at, keyOf(200, 'GET'), 0.0001)); // pending when the reset comes
  ours.registry.resetMetrics();
  assert.equal(hot.live, false, 'dropped: requests count in their rows (which find the new ones)');
  assert.doesNotMatch(await ours.registry.metrics(), /gangplank_requests_total\{/);
  hot.retire(); // a dropped copy carries nothing
  assert.throws(() => new HotHosts({ roots: undefined } as never, new HostIndex([]), ours.e, new HotHosts({} as never, new HostIndex([]), ours.e)), /not retired/);
  assert.doesNotMatch(await ours.registry.metrics(), /gangplank_requests_total\{/);
  await p.close();
});

test('HotHosts: a stopped copy keeps its runs for the next scrape or its retirement, each carried once', async () => {
  const { p, ours, hot, at } = firstRemembered(3);
  for (let i = 0; i < 4; i++) assert.ok(hot.count(at, keyOf(200, 'GET'), 0.0002));
  hot.stop();
  assert.equal(hot.live, false);
  const count = async () => Number(/route="h0.test\|Prefix\|\/",code="200",method="GET"\} (\d+)\n/.exec(await ours.registry.metrics())?.[1] ?? 0);
  assert.equal(await count(), 4, 'carried by the scrape');
  assert.ok(hot.count(at, keyOf(200, 'GET'), 0.0002)); // (a request that read live just before the stop)
  hot.retire();
  assert.equal(await count(), 5, 'the rest carried by the retirement');
  assert.equal(await count(), 5);
  await p.close();
});

test('HotHosts: runs longer than a count word holds (16 bits each for the fast buckets) are carried on the way, nothing lost; a status past the key\'s bits counts in the row', async () => {
  const { routes, ours, hot, at, p } = firstRemembered(3);
  const r = routes[0]!;
  const ref = side();
  // 200,000 requests of one key: both buckets pass 65,535 several times.
  for (let i = 0; i < 200_000; i++) {
    const seconds = i % 3 === 0 ? 0.003 : 0.0005;
    assert.equal(hot.count(at, keyOf(200, 'GET'), seconds), true);
    ref.e.routeRequest(r, r.id, 200, 'GET', seconds);
  }
  // keyOf of a status of four digits needs more than the key's 14 bits: not counted in the slot.
  assert.equal(hot.count(at, keyOf(1200, 'GET'), 0.0005), false);
  await sameMetrics(ours.registry, ref.registry, 'after 200,000 requests of one run');
  hot.retire();
  await p.close();
});

test('HotHosts.remember: a copy numbers at most 65,535 pools; past that a host is not remembered (it routes from its table each time)', async () => {
  const { routes, roots } = hosts(3);
  const ours = side();
  const hot = new HotHosts({ roots } as never, roots, ours.e);
  const a = routes[0]!;
  const at = hot.slotOf(a.host);
  const pools: unknown[] = Reflect.get(hot, 'pools') as unknown[];
  for (let i = 0; i < 65_535; i++) pools.push({});
  const p = new UpstreamPools({ connectMs: 1000, responseHeaderMs: 1000, upstreamIdleMs: 1000 });
  assert.equal(hot.remember(at, p.h1(a.backend.endpoints[0]!), ours.e.rowOf(a, a.id)), false);
  assert.equal(hot.pool(at), undefined);
  pools.length = 65_534;
  assert.equal(hot.remember(at, p.h1(a.backend.endpoints[0]!), ours.e.rowOf(a, a.id)), true);
  assert.equal(hot.pool(at), p.h1(a.backend.endpoints[0]!), 'pool number 65,535 is the last one');
  hot.retire();
  await p.close();
});
