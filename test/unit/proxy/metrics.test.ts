/**
 * The data plane's hot metrics (plain per-series numbers) must read exactly like prom-client's
 * own Counter and Histogram, in one process and summed over worker processes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AggregatorRegistry, Counter, Histogram, Registry } from 'prom-client';
import { createProxyMetrics, entrypointMetrics, type MetricsSlot } from '../../../src/proxy/metrics.js';

/** A route as the metrics see it: its id and the row cache every route has. */
const routeOf = (id: string): MetricsSlot & { id: string } => ({ id, metricsOwner: undefined, metricsRow: -1 });

const BOUNDS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
// Observations on both sides of bucket bounds, on a bound exactly, and past the last one.
const OBSERVED: [string, number, string, number][] = [
  ['a.test|Prefix|/', 200, 'GET', 0.0004],
  ['a.test|Prefix|/', 200, 'GET', 0.001],
  ['a.test|Prefix|/', 200, 'GET', 0.0011],
  ['a.test|Prefix|/', 502, 'POST', 0.3],
  ['b.test|Exact|/x', 200, 'GET', 11],
  ['', 404, 'BREW', 0],
];

/** What prom-client's own metrics print for the same observations. */
async function reference(): Promise<string> {
  const r = new Registry();
  const c = new Counter({ name: 'gangplank_requests_total', help: 'HTTP requests answered, by entrypoint, route, status code and method.', labelNames: ['entrypoint', 'route', 'code', 'method'], registers: [r] });
  const h = new Histogram({ name: 'gangplank_request_duration_seconds', help: 'Time from request received to response finished.', labelNames: ['entrypoint', 'route'], buckets: BOUNDS, registers: [r] });
  for (const [route, code, method, s] of OBSERVED) {
    c.labels('web', route, String(code), method === 'BREW' ? 'OTHER' : method).inc();
    h.labels('web', route).observe(s);
  }
  return r.metrics();
}

function ours(): Registry {
  const r = new Registry();
  const e = entrypointMetrics(createProxyMetrics(r), 'web');
  for (const [route, code, method, s] of OBSERVED) e.request(route, code, method, s);
  return r;
}

const lines = (text: string, prefix: string) => text.split('\n').filter((l) => l.startsWith(prefix)).sort();

test('hot counter and histogram print what prom-client prints for the same requests', async () => {
  const want = await reference();
  const got = await ours().metrics();
  for (const name of ['gangplank_requests_total', 'gangplank_request_duration_seconds']) {
    assert.deepEqual(lines(got, name), lines(want, name), name);
    assert.ok(lines(got, name).length > 0, `${name} has series`);
  }
  assert.match(got, /# TYPE gangplank_request_duration_seconds histogram/);
  assert.match(got, /# TYPE gangplank_requests_total counter/);
});

test('hot metrics sum over worker processes like prom-client metrics do', async () => {
  const one = await ours().getMetricsAsJSON();
  const summed = await AggregatorRegistry.aggregate([one, await ours().getMetricsAsJSON()]).metrics();
  assert.match(summed, /gangplank_requests_total\{entrypoint="web",route="a.test\|Prefix\|\/",code="200",method="GET"\} 6/);
  assert.match(summed, /gangplank_request_duration_seconds_bucket\{le="0.001",entrypoint="web",route="a.test\|Prefix\|\/"\} 4/);
  assert.match(summed, /gangplank_request_duration_seconds_count\{entrypoint="web",route="b.test\|Exact\|\/x"\} 2/);
  assert.match(summed, /gangplank_request_duration_seconds_bucket\{le="10",entrypoint="web",route="b.test\|Exact\|\/x"\} 0/);
});

test('reset empties the hot metrics', async () => {
  const r = ours();
  r.resetMetrics();
  assert.doesNotMatch(await r.metrics(), /gangplank_requests_total\{/);
});

test('routed requests: counts by status and method survive key changes, scrapes in between and many routes', async () => {
  const r = new Registry();
  const m = createProxyMetrics(r);
  const e = entrypointMetrics(m, 'web');
  assert.equal(entrypointMetrics(m, 'web'), e, 'one writer per entrypoint');
  const ref = new Registry();
  const c = new Counter({ name: 'gangplank_requests_total', help: 'x', labelNames: ['entrypoint', 'route', 'code', 'method'], registers: [ref] });
  const h = new Histogram({ name: 'gangplank_request_duration_seconds', help: 'x', labelNames: ['entrypoint', 'route'], buckets: BOUNDS, registers: [ref] });
  // 300 routes (more than the first allocation of rows), each a route object like the table's.
  const routes = Array.from({ length: 300 }, (_, i) => routeOf(`h${i}.test|Prefix|/`));
  const codes = [200, 200, 200, 404, 200, 503, 503, 200];
  const methods = ['GET', 'GET', 'HEAD', 'GET', 'POST', 'BREW', 'BREW', 'GET'];
  const check = async () => {
    const got = await r.metrics();
    const want = await ref.metrics();
    for (const name of ['gangplank_requests_total{', 'gangplank_request_duration_seconds_']) assert.deepEqual(lines(got, name), lines(want, name), name);
  };
  for (let round = 0; round < 3; round++) {
    for (let k = 0; k < codes.length; k++) {
      for (const [i, route] of routes.entries()) {
        if ((i + k + round) % 3 === 0) continue; // not every route every time
        const s = ((i % 7) + k) / 1000;
        e.routeRequest(route, route.id, codes[k]!, methods[k]!, s);
        c.labels('web', route.id, String(codes[k]), methods[k] === 'BREW' ? 'OTHER' : methods[k]!).inc();
        h.labels('web', route.id).observe(s);
      }
      if (k === 3) await check(); // a scrape while counts are pending
    }
    await check();
  }
  assert.match(await r.metrics(), /gangplank_requests_total\{entrypoint="web",route="h299.test\|Prefix\|\/",code="503",method="OTHER"\} \d+/);
});

test('after a reset, routed requests count from zero again', async () => {
  const r = new Registry();
  const e = entrypointMetrics(createProxyMetrics(r), 'web');
  const route = routeOf('a.test|Prefix|/');
  e.routeRequest(route, route.id, 200, 'GET', 0.002);
  e.routeRequest(route, route.id, 200, 'GET', 0.002);
  assert.match(await r.metrics(), /gangplank_requests_total\{entrypoint="web",route="a.test\|Prefix\|\/",code="200",method="GET"\} 2/);
  e.routeRequest(route, route.id, 200, 'GET', 0.002); // pending when the reset comes
  r.resetMetrics();
  assert.doesNotMatch(await r.metrics(), /gangplank_requests_total\{/);
  e.routeRequest(route, route.id, 200, 'GET', 0.02);
  const text = await r.metrics();
  assert.match(text, /gangplank_requests_total\{entrypoint="web",route="a.test\|Prefix\|\/",code="200",method="GET"\} 1\n/);
  assert.match(text, /gangplank_request_duration_seconds_count\{entrypoint="web",route="a.test\|Prefix\|\/"\} 1\n/);
  assert.match(text, /gangplank_request_duration_seconds_bucket\{le="0.01",entrypoint="web",route="a.test\|Prefix\|\/"\} 0\n/);
});

test('two entrypoints recording the same route keep their own rows (the route caches the first one\'s, the second goes by its symbol)', async () => {
  const r = new Registry();
  const m = createProxyMetrics(r);
  const web = entrypointMetrics(m, 'web');
  const secure = entrypointMetrics(m, 'websecure');
  const route = routeOf('a.test|Prefix|/');
  for (let i = 0; i < 3; i++) web.routeRequest(route, route.id, 200, 'GET', 0.002);
  for (let i = 0; i < 2; i++) secure.routeRequest(route, route.id, 200, 'GET', 0.2);
  web.routeRequest(route, route.id, 200, 'GET', 0.002);
  const text = await r.metrics();
  assert.match(text, /gangplank_requests_total\{entrypoint="web",route="a.test\|Prefix\|\/",code="200",method="GET"\} 4\n/);
  assert.match(text, /gangplank_requests_total\{entrypoint="websecure",route="a.test\|Prefix\|\/",code="200",method="GET"\} 2\n/);
  assert.match(text, /gangplank_request_duration_seconds_bucket\{le="0.01",entrypoint="web",route="a.test\|Prefix\|\/"\} 4\n/);
  assert.match(text, /gangplank_request_duration_seconds_bucket\{le="0.01",entrypoint="websecure",route="a.test\|Prefix\|\/"\} 0\n/);
  assert.equal(route.metricsRow, 0, 'the first writer\'s row is kept on the route itself');
});

test('a row looked up when a request is routed counts it at its end; after a reset in between, the route gets its new row', async () => {
  const r = new Registry();
  const e = entrypointMetrics(createProxyMetrics(r), 'web');
  const a = routeOf('a.test|Prefix|/');
  const b = routeOf('b.test|Prefix|/');
  const rowA = e.rowOf(a, a.id);
  const epoch = e.rowsEpoch;
  e.countAt(rowA, epoch, a, 200, 'GET', 0.002);
  e.countAt(e.rowOf(b, b.id), e.rowsEpoch, b, 404, 'GET', 0.2);
  let text = await r.metrics();
  assert.match(text, /gangplank_requests_total\{entrypoint="web",route="a.test\|Prefix\|\/",code="200",method="GET"\} 1\n/);
  assert.match(text, /gangplank_requests_total\{entrypoint="web",route="b.test\|Prefix\|\/",code="404",method="GET"\} 1\n/);
  // A request routed before a reset and finished after it: its row number belongs to the old rows
  // (in the new ones it would be b's row, made first after the reset).
  r.resetMetrics();
  e.routeRequest(b, b.id, 404, 'GET', 0.2);
  e.countAt(rowA, epoch, a, 200, 'GET', 0.002);
  text = await r.metrics();
  assert.match(text, /gangplank_requests_total\{entrypoint="web",route="a.test\|Prefix\|\/",code="200",method="GET"\} 1\n/);
  assert.match(text, /gangplank_requests_total\{entrypoint="web",route="b.test\|Prefix\|\/",code="404",method="GET"\} 1\n/);
  assert.doesNotMatch(text, /route="b.test\|Prefix\|\/",code="200"/);
});
