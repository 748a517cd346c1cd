/**
 * Prometheus metrics of the data plane. The two metrics every request touches (request count and
 * duration) are kept in plain per-series numbers and turned into Prometheus values only when
 * scraped: a prom-client child validates and hashes its labels on every inc/observe, which was
 * 2.5% of the proxy's CPU. The others are ordinary prom-client metrics.
 */
import { Counter, Gauge, type Metric, type MetricObjectWithValues, type MetricValue, type Registry } from 'prom-client';

type CounterChild = ReturnType<Counter<string>['labels']>;

/** One series of a hot counter. */
export interface CountSeries {
  readonly labels: Record<string, string>;
  value: number;
}

/** One series of a hot histogram: counts per bucket (the last one is +Inf), sum and count. */
export interface DurationSeries {
  readonly labels: Record<string, string>;
  readonly buckets: Float64Array;
  sum: number;
  count: number;
}

/** What a prom-client Registry (and the cluster aggregator) needs from a metric. */
abstract class HotMetric<S extends { labels: Record<string, string> }> {
  readonly aggregator = 'sum' as const;
  protected series = new Map<string, S>();
  constructor(readonly name: string, readonly help: string, readonly type: 'counter' | 'histogram') {}
  reset(): void {
    this.series = new Map();
  }
  protected abstract values(s: S): MetricValue<string>[];
  get(): Promise<MetricObjectWithValues<MetricValue<string>>> {
    const values: MetricValue<string>[] = [];
    for (const s of this.series.values()) values.push(...this.values(s));
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values } as unknown as MetricObjectWithValues<MetricValue<string>>);
  }
  register(registry: Registry): this {
    registry.registerMetric(this as unknown as Metric);
    return this;
  }
}

/** A counter whose series are plain objects: `series(...).value++` is the whole hot path. */
export class HotCounter extends HotMetric<CountSeries> {
  constructor(name: string, help: string) {
    super(name, help, 'counter');
  }
  /** The series for `key` (a caller-chosen unique key of the labels), made on first use. */
  child(key: string, labels: Record<string, string>): CountSeries {
    let s = this.series.get(key);
    if (s === undefined) {
      s = { labels, value: 0 };
      this.series.set(key, s);
    }
    return s;
  }
  protected values(s: CountSeries): MetricValue<string>[] {
    return [{ labels: s.labels, value: s.value }];
  }
}

/** A histogram whose series are plain arrays: observe is a bucket search and three additions. */
export class HotHistogram extends HotMetric<DurationSeries> {
  constructor(name: string, help: string, readonly bounds: readonly number[]) {
    super(name, help, 'histogram');
  }
  child(key: string, labels: Record<string, string>): DurationSeries {
    let s = this.series.get(key);
    if (s === undefined) {
      s = { labels, buckets: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    return s;
  }
  observe(s: DurationSeries, v: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    s.buckets[i]!++;
    s.sum += v;
    s.count++;
  }
  protected values(s: DurationSeries): MetricValue<string>[] {
    const out: MetricValue<string>[] = [];
    const bucket = `${this.name}_bucket`;
    let acc = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      acc += s.buckets[i]!;
      out.push({ labels: { le: this.bounds[i]!, ...s.labels }, value: acc, metricName: bucket } as MetricValue<string>);
    }
    out.push(
      { labels: { le: '+Inf', ...s.labels }, value: s.count, metricName: bucket } as MetricValue<string>,
      { labels: s.labels, value: s.sum, metricName: `${this.name}_sum` } as MetricValue<string>,
      { labels: s.labels, value: s.count, metricName: `${this.name}_count` } as MetricValue<string>,
    );
    return out;
  }
}

export interface ProxyMetrics {
  requests: HotCounter;
  duration: HotHistogram;
  upstreamErrors: Counter<'entrypoint' | 'kind'>;
  openConnections: Gauge<'entrypoint'>;
  clientErrors: Counter<'entrypoint' | 'code'>;
}

export function createProxyMetrics(registry: Registry): ProxyMetrics {
  return {
    requests: new HotCounter('gangplank_requests_total', 'HTTP requests answered, by entrypoint, route, status code and method.').register(registry),
    duration: new HotHistogram('gangplank_request_duration_seconds', 'Time from request received to response finished.', [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]).register(registry),
    upstreamErrors: new Counter({
      name: 'gangplank_upstream_errors_total',
      help: 'Failed attempts to reach a backend, by kind (connect, timeout, reset, tls, protocol, other).',
      labelNames: ['entrypoint', 'kind'],
      registers: [registry],
    }),
    openConnections: new Gauge({
      name: 'gangplank_open_connections',
      help: 'Client connections currently open.',
      labelNames: ['entrypoint'],
      registers: [registry],
    }),
    clientErrors: new Counter({
      name: 'gangplank_client_errors_total',
      help: 'Requests refused before routing because they were malformed, too large or too slow.',
      labelNames: ['entrypoint', 'code'],
      registers: [registry],
    }),
  };
}

/** Per-route cached label children. */
interface RouteLabels {
  duration: DurationSeries;
  counts: Map<number, CountSeries>;
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE'];
const METHOD_INDEX = new Map(METHODS.map((m, i) => [m, i + 1] as const));

/** Records requests for one entrypoint with cached label children. */
export class EntrypointMetrics {
  private readonly byRoute = new Map<string, RouteLabels>();
  private readonly upstream = new Map<string, CounterChild>();
  /** Where routeRequest caches a route's series on the route object. */
  private readonly slot = Symbol('gangplank.metrics');

  constructor(readonly m: ProxyMetrics, readonly entrypoint: string) {}

  /**
   * A request a route answered. The route's series are cached on the route object itself (under a
   * symbol of this entrypoint), so the hot path reads a property of an object it just touched
   * instead of probing a map as large as the route table (which, with 10,000 routes, missed the
   * CPU cache on every request).
   */
  routeRequest(route: object, routeId: string, code: number, method: string, seconds: number): void {
    const slot = route as Record<symbol, RouteLabels | undefined>;
    let rl = slot[this.slot];
    if (rl === undefined) {
      rl = this.labelsOf(routeId);
      slot[this.slot] = rl;
    }
    this.count(rl, routeId, code, method, seconds);
  }

  request(routeId: string, code: number, method: string, seconds: number): void {
    this.count(this.labelsOf(routeId), routeId, code, method, seconds);
  }

  private labelsOf(routeId: string): RouteLabels {
    let rl = this.byRoute.get(routeId);
    if (rl === undefined) {
      rl = { duration: this.m.duration.child(`${this.entrypoint} ${routeId}`, { entrypoint: this.entrypoint, route: routeId }), counts: new Map() };
      // Route ids come from the route table, so this map is as large as the table at most; a cap
      // that cleared it made every request of a 10,000-host table rebuild its label children.
      this.byRoute.set(routeId, rl);
    }
    return rl;
  }

  private count(rl: RouteLabels, routeId: string, code: number, method: string, seconds: number): void {
    const mi = METHOD_INDEX.get(method) ?? 0;
    const key = code * 16 + mi;
    let c = rl.counts.get(key);
    if (c === undefined) {
      const m = mi === 0 ? 'OTHER' : method;
      c = this.m.requests.child(`${this.entrypoint} ${routeId} ${code} ${m}`, { entrypoint: this.entrypoint, route: routeId, code: String(code), method: m });
      rl.counts.set(key, c);
    }
    c.value++;
    this.m.duration.observe(rl.duration, seconds);
  }

  upstreamError(kind: string): void {
    let c = this.upstream.get(kind);
    if (c === undefined) {
      c = this.m.upstreamErrors.labels(this.entrypoint, kind);
      this.upstream.set(kind, c);
    }
    c.inc();
  }

  clientError(code: number): void {
    this.m.clientErrors.labels(this.entrypoint, String(code)).inc();
    this.request('', code, 'OTHER', 0);
  }

  connections(delta: number): void {
    this.m.openConnections.labels(this.entrypoint).inc(delta);
  }
}
