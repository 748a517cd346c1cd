/**
 * ProxyHandler.direct: a route whose backend leaves no choice keeps the endpoint and the
 * HTTP/1.1 pool every request goes to, so that a request reads no backend, endpoint list or pool
 * map. The cache belongs to one pool registry and never hands out a closed pool.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { BlockList } from 'node:net';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import type { Backend, Route } from '../../../src/controllers/routes/types.js';
import { Balancer } from '../../../src/proxy/balancer.js';
import { H1Pool } from '../../../src/proxy/h1client.js';
import { ProxyHandler, type HandlerOptions, type Routed } from '../../../src/proxy/handler.js';
import { newFacts } from '../../../src/proxy/headers.js';
import { createProxyMetrics, entrypointMetrics } from '../../../src/proxy/metrics.js';
import { UpstreamPools } from '../../../src/proxy/upstream.js';
import { silentLogger } from '../../../src/runtime/logger.js';
import { backend, endpoint, TestTable } from '../../proxy/helpers.js';

function handler(pools: UpstreamPools, extra: Partial<HandlerOptions> = {}): ProxyHandler {
  return new ProxyHandler({
    ...extra,
    entrypoint: 'web',
    proto: 'http',
    trusted: new BlockList(),
    accessLog: null,
    logger: silentLogger(),
    metrics: entrypointMetrics(createProxyMetrics(new Registry()), 'web'),
    pools,
    balancer: new Balancer(),
  });
}

const newPools = () => new UpstreamPools({ connectMs: 1000, responseHeaderMs: 1000, upstreamIdleMs: 1000 });

/** A route with the data plane's cache fields unset, as the compiler makes it. */
function routeTo(b: Backend): Route {
  return { id: 'a.test|Prefix|/', sslRedirect: undefined, entrypoints: undefined, metricsOwner: undefined, metricsRow: -1, upstreamOwner: undefined, upstreamEp: undefined, upstreamPool: undefined, backend: b, host: 'a.test', path: '/', pathType: 'Prefix', ingress: { namespace: 'default', name: 'a' } };
}

test('direct: one plain-HTTP endpoint: the pool of that endpoint, kept on the route and reused', async () => {
  const pools = newPools();
  const h = handler(pools);
  const ep = endpoint(18001);
  const r = routeTo(backend('default/a:80', [ep]));
  const pool = h.direct(r);
  assert.ok(pool instanceof H1Pool);
  assert.equal(r.upstreamOwner, pools);
  assert.equal(r.upstreamEp, ep);
  assert.equal(r.upstreamPool, pool);
  assert.equal(h.direct(r), pool, 'the same pool on the next request');
  assert.equal(pools.size(), 1);
  await pools.close();
});

test('direct: a backend that leaves a choice (or needs more than the pool) is not cached', async () => {
  const pools = newPools();
  const h = handler(pools);
  const cases: [string, Backend][] = [
    ['two endpoints', backend('default/a:80', [endpoint(18001), endpoint(18002)])],
    ['no endpoint', backend('default/a:80', [])],
    ['sticky cookie', backend('default/a:80', [endpoint(18001)], { sticky: { name: 's', secure: false, httpOnly: true } })],
    ['backend Host header', backend('default/a:80', [endpoint(18001)], { passHostHeader: false })],
    ['h2c', backend('default/a:80', [endpoint(18001)], { scheme: 'h2c' })],
    ['https', backend('default/a:80', [endpoint(18001, '127.0.0.1', 'https')], { scheme: 'https' })],
    ['an error', backend('default/a:80', [endpoint(18001)], { error: 'port 80 not found' })],
  ];
  for (const [why, b] of cases) {
    const r = routeTo(b);
    assert.equal(h.direct(r), undefined, why);
    assert.equal(r.upstreamOwner, undefined, why);
  }
  assert.equal(pools.size(), 0);
  await pools.close();
});

test('direct: another pool registry gets its own pool (two proxies serving one table)', async () => {
  const a = newPools();
  const b = newPools();
  const ha = handler(a);
  const hb = handler(b);
  const r = routeTo(backend('default/a:80', [endpoint(18001)]));
  const pa = ha.direct(r)!;
  const pb = hb.direct(r)!;
  assert.notEqual(pa, pb);
  assert.equal(r.upstreamOwner, b, 'the cache follows the last registry that used it');
  assert.equal(ha.direct(r), pa, 'and the first registry still gets its own pool');
  await a.close();
  assert.equal(pa.closed, true);
  assert.equal(hb.direct(r), pb);
  assert.equal(pb.closed, false);
  await b.close();
});

test('direct: a closed pool is never handed out; the endpoint gets a new one', async () => {
  const pools = newPools();
  const h = handler(pools);
  const r = routeTo(backend('default/a:80', [endpoint(18001)]));
  const first = h.direct(r)!;
  await pools.close();
  assert.equal(first.closed, true);
  const second = h.direct(r)!;
  assert.notEqual(second, first);
  assert.equal(second.closed, false);
  assert.equal(r.upstreamPool, second);
  await pools.close();
});

test('route: a new table routes from itself until the handler\'s copy is made; then a root host is remembered in its slot (pool and row, no endpoint read); after close, no copy', async () => {
  const pools = newPools();
  const h = handler(pools, { hotDelayMs: 5 });
  const r = routeTo(backend('default/a:80', [endpoint(18001)]));
  h.table = new TestTable([r]);
  // The fields of a request that routing reads (what Node's parser and the fast path fill in).
  const req = { rawHeaders: ['Host', 'a.test'], url: '/x?y=1', method: 'GET', httpVersionMajor: 1, httpVersionMinor: 1 } as unknown as IncomingMessage;
  const route = () => h.route(req, newFacts()) as Routed;
  const early = route();
  assert.equal(early.route, r);
  assert.equal(early.hot, undefined, 'no copy yet: routed from the table');
  assert.equal(early.pool, r.upstreamPool);
  await new Promise((res) => setTimeout(res, 30));
  const first = route();
  assert.equal(first.route, r);
  assert.equal(first.ep, r.backend.endpoints[0], 'the first request with the copy read the route');
  assert.ok(first.hot !== undefined && first.at >= 0);
  const second = route();
  assert.equal(second.route, r);
  assert.equal(second.pool, first.pool);
  assert.equal(second.row, first.row);
  assert.equal(second.ep, undefined, 'the second came from the slot');
  assert.equal(second.hot, first.hot);
  // A new table: the copy stops counting at once, the next one comes later.
  h.table = new TestTable([r]);
  const swapped = route();
  assert.equal(swapped.hot, undefined);
  assert.equal(first.hot.live, false);
  await new Promise((res) => setTimeout(res, 30));
  assert.ok(route().hot !== undefined && route().hot !== first.hot);
  h.close();
  const late = route();
  assert.equal(late.route, r);
  assert.equal(late.pool, first.pool);
  assert.equal(late.hot, undefined, 'no copy after close');
  await new Promise((res) => setTimeout(res, 30));
  assert.equal(Reflect.get(h, 'hot'), undefined);
  await pools.close();
});

test('route: a request routed from a slot reads its route when asked, rightly even after the copy was retired and its slots taken by a table of other hosts', async () => {
  const pools = newPools();
  const h = handler(pools, { hotDelayMs: 5 });
  const ra = routeTo(backend('default/a:80', [endpoint(18001)]));
  h.table = new TestTable([ra]);
  const reqFor = (host: string) => ({ rawHeaders: ['Host', host], url: '/', method: 'GET', httpVersionMajor: 1, httpVersionMinor: 1 }) as unknown as IncomingMessage;
  h.route(reqFor('a.test'), newFacts());
  await new Promise((res) => setTimeout(res, 30));
  h.route(reqFor('a.test'), newFacts()); // the copy remembers a.test's pool
  const inFlight = h.route(reqFor('a.test'), newFacts()) as Routed;
  assert.ok(inFlight.hot !== undefined && inFlight.ep === undefined, 'routed from the slot, the route not read');
  const old = inFlight.hot;
  const oldSlots = Reflect.get(old, 'slots') as Int32Array;
  // A table of another host, with as many slots: the next copy takes the retired copy's slots.
  const rb = { ...routeTo(backend('default/b:80', [endpoint(18002)])), id: 'b.test|Prefix|/', host: 'b.test' };
  h.table = new TestTable([rb]);
  h.route(reqFor('b.test'), newFacts());
  await new Promise((res) => setTimeout(res, 30));
  const next = h.route(reqFor('b.test'), newFacts()) as Routed;
  assert.ok(next.hot !== undefined && next.hot !== old);
  assert.equal(Reflect.get(next.hot, 'slots'), oldSlots, 'the retired copy\'s slots were reused');
  assert.equal(inFlight.route, ra, 'the in-flight request still reads its own route');
  assert.equal(next.route, rb);
  h.close();
  await pools.close();
});
