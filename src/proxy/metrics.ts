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

/**
 * The numbers of many histogram series in one Float64Array, one row of `stride` doubles per
 * series: `lead` doubles of the writer's own, then the histogram's: the sum, then the count per
 * bucket (the last bucket is +Inf). With 10,000 routes every request touches another series;
 * where objects per series (a series object, its bucket array, boxed sums) were a cache miss
 * each, a row is two cache lines, and a fast request (first buckets) writes only the first.
 */
export class SeriesRows {
  cells: Float64Array;
  private n = 0;
  constructor(
    readonly stride: number,
    readonly lead = 0,
  ) {
    this.cells = new Float64Array(stride * 64);
  }
  /** A new zeroed row; grows the array (the hot path reads `cells` afresh each time). */
  alloc(): number {
    if ((this.n + 1) * this.stride > this.cells.length) {
      const next = new Float64Array(this.cells.length * 2);
      next.set(this.cells);
      this.cells = next;
    }
    return this.n++;
  }
}

/** One series of a hot histogram: its labels and its row. */
export interface DurationSeries {
  readonly labels: Record<string, string>;
  readonly rows: SeriesRows;
  readonly row: number;
}

/** What a prom-client Registry (and the cluster aggregator) needs from a metric. */
abstract class HotMetric<S extends { labels: Record<string, string> }> {
  readonly aggregator = 'sum' as const;
  protected series = new Map<string, S>();
  /** Run before each scrape: writers that keep numbers aside (EntrypointMetrics) bring them in. */
  readonly beforeCollect: (() => void)[] = [];
  /** Run on reset: writers drop what they cached of the old series. */
  readonly afterReset: (() => void)[] = [];
  constructor(readonly name: string, readonly help: string, readonly type: 'counter' | 'histogram') {}
  reset(): void {
    this.series = new Map();
    for (const fn of this.afterReset) fn();
  }
  protected abstract values(s: S): MetricValue<string>[];
  get(): Promise<MetricObjectWithValues<MetricValue<string>>> {
    for (const fn of this.beforeCollect) fn();
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

/** A histogram whose series are rows of numbers: observe is a bucket search and two additions. */
export class HotHistogram extends HotMetric<DurationSeries> {
  /** Doubles per row: the sum, then one per bucket, +Inf included. */
  readonly stride: number;
  constructor(name: string, help: string, readonly bounds: readonly number[]) {
    super(name, help, 'histogram');
    this.stride = bounds.length + 2;
  }
  /** The series for `key`, made on first use with a new row of `rows` (rows made with this.stride or more). */
  child(key: string, labels: Record<string, string>, rows: SeriesRows): DurationSeries {
    let s = this.series.get(key);
    if (s === undefined) {
      s = { labels, rows, row: rows.alloc() };
      this.series.set(key, s);
    }
    return s;
  }
  /** Records `v` in the histogram's part of a row, which starts at `base` of `cells`. */
  observeAt(cells: Float64Array, base: number, v: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    cells[base]! += v;
    cells[base + 1 + i]!++;
  }
  protected values(s: DurationSeries): MetricValue<string>[] {
    const out: MetricValue<string>[] = [];
    const bucket = `${this.name}_bucket`;
    const cells = s.rows.cells;
    const base = s.row * s.rows.stride + s.rows.lead;
    let acc = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      acc += cells[base + 1 + i]!;
      out.push({ labels: { le: this.bounds[i]!, ...s.labels }, value: acc, metricName: bucket } as MetricValue<string>);
    }
    const count = acc + cells[base + 1 + this.bounds.length]!;
    out.push(
      { labels: { le: '+Inf', ...s.labels }, value: count, metricName: bucket } as MetricValue<string>,
      { labels: s.labels, value: cells[base]!, metricName: `${this.name}_sum` } as MetricValue<string>,
      { labels: s.labels, value: count, metricName: `${this.name}_count` } as MetricValue<string>,
    );
    return out;
  }
}

/** The first two bounds of the duration histogram: requests faster than these may be counted in runs (see PendingRuns). */
export const FAST1 = 0.001;
export const FAST5 = 0.005;

export interface ProxyMetrics {
  /** The writer of each entrypoint (see entrypointMetrics). */
  entrypoints: Map<string, EntrypointMetrics>;
  requests: HotCounter;
  duration: HotHistogram;
  upstreamErrors: Counter<'entrypoint' | 'kind'>;
  openConnections: Gauge<'entrypoint'>;
  clientErrors: Counter<'entrypoint' | 'code'>;
}

export function createProxyMetrics(registry: Registry): ProxyMetrics {
  return {
    entrypoints: new Map(),
    requests: new HotCounter('gangplank_requests_total', 'HTTP requests answered, by entrypoint, route, status code and method.').register(registry),
    duration: new HotHistogram('gangplank_request_duration_seconds', 'Time from request received to response finished.', [FAST1, FAST5, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]).register(registry),
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

/** Where a route keeps the row of the first entrypoint writer that recorded it (see Route). */
export interface MetricsSlot {
  metricsOwner?: symbol | undefined;
  metricsRow?: number;
}

/** A route's label children; its numbers live in the entrypoint's rows. */
interface RouteLabels {
  readonly routeId: string;
  readonly duration: DurationSeries;
  readonly counts: Map<number, CountSeries>;
}

/**
 * A writer that keeps runs of requests aside (the data plane's per-host slots, src/proxy/hothosts.ts)
 * and carries them into rows with EntrypointMetrics.addRun.
 */
export interface PendingRuns {
  /** Carry every run into its row now (before a scrape). */
  flush(): void;
  /** The rows were reset: forget the runs, and the row numbers they were kept for. */
  drop(): void;
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE'];
const METHOD_INDEX = new Map(METHODS.map((m, i) => [m, i + 1] as const));

/** The key of a request's counter series in its route's row: status and method (0: any other method). */
export function keyOf(code: number, method: string): number {
  return code * 16 + (METHOD_INDEX.get(method) ?? 0);
}

/**
 * The one writer of an entrypoint's request metrics in this registry: a route's row and its
 * pending count belong to one writer, so every proxy of an entrypoint shares it.
 */
export function entrypointMetrics(m: ProxyMetrics, entrypoint: string): EntrypointMetrics {
  let e = m.entrypoints.get(entrypoint);
  if (e === undefined) {
    e = new EntrypointMetrics(m, entrypoint);
    m.entrypoints.set(entrypoint, e);
  }
  return e;
}

/** A route's row starts with two numbers of EntrypointMetrics: the pending count and its key (see count). */
const PENDING_AT = 0;
const KEY_AT = 1;
const LEAD = 2;

/**
 * Records requests for one entrypoint (made by entrypointMetrics). Each route has a row in `rows`: its duration histogram,
 * and the requests counted since the status or method last changed (almost every request of a
 * route has the same status and method as the one before), which go to their counter series only
 * when the key changes and before each scrape. So a request touches the route object it was
 * routed with and one row, whatever the size of the route table.
 */
export class EntrypointMetrics {
  private readonly byRoute = new Map<string, RouteLabels>();
  private readonly byRow: RouteLabels[] = [];
  private readonly upstream = new Map<string, CounterChild>();
  /** Where routeRequest caches a route's row on the route object (a new symbol after a reset). */
  private slot = Symbol('gangplank.metrics');
  private rows: SeriesRows;
  private readonly stride: number;
  /** Writers holding runs for rows of the current epoch (see hold). */
  private readonly pending = new Set<PendingRuns>();

  constructor(readonly m: ProxyMetrics, readonly entrypoint: string) {
    if (m.duration.bounds[0] !== FAST1 || m.duration.bounds[1] !== FAST5) throw new Error('EntrypointMetrics: the duration histogram must start with the FAST1 and FAST5 bounds');
    this.stride = LEAD + m.duration.stride;
    this.rows = new SeriesRows(this.stride, LEAD);
    const flush = () => this.flushAll();
    m.requests.beforeCollect.push(flush);
    m.duration.beforeCollect.push(flush);
    const reset = () => this.reset();
    m.requests.afterReset.push(reset);
    m.duration.afterReset.push(reset);
  }

  /** Forgets every series (registry.resetMetrics): rows, label children, and the rows cached on routes. */
  private reset(): void {
    for (const p of this.pending) p.drop();
    this.pending.clear();
    this.slot = Symbol('gangplank.metrics');
    this.byRoute.clear();
    this.byRow.length = 0;
    this.rows = new SeriesRows(this.stride, LEAD);
  }

  /**
   * A request a route answered. The route's row is cached on the route object: in its own fields
   * for the first writer that records it (routes are made with them, so reading them touches no
   * other object), under this writer's symbol for any other.
   */
  routeRequest(route: MetricsSlot, routeId: string, code: number, method: string, seconds: number): void {
    this.count(this.rowOf(route, routeId), code, method, seconds);
  }

  /**
   * The route's row, to count a request later with countAt: looked up when the request is routed
   * (the route was just read), so that counting at its end reads the row alone, not the route again
   * (among 10,000 routes, likely gone from the cache by then).
   */
  rowOf(route: MetricsSlot, routeId: string): number {
    if (route.metricsOwner === this.slot) return route.metricsRow!;
    const slot = route as Record<symbol, number | undefined>;
    let row = slot[this.slot];
    if (row === undefined) {
      row = this.labelsOf(routeId).duration.row;
      if (route.metricsOwner === undefined) {
        route.metricsOwner = this.slot;
        route.metricsRow = row;
      } else slot[this.slot] = row;
    }
    return row;
  }

  /** Which rows rowOf's answers refer to: a reset (registry.resetMetrics) starts new ones. */
  get rowsEpoch(): symbol {
    return this.slot;
  }

  /** Counts a request in a row from rowOf; after a reset in between, finds the route's new row. */
  countAt(row: number, epoch: symbol, route: MetricsSlot & { readonly id: string }, code: number, method: string, seconds: number): void {
    if (epoch === this.slot) this.count(row, code, method, seconds);
    else this.routeRequest(route, route.id, code, method, seconds);
  }

  request(routeId: string, code: number, method: string, seconds: number): void {
    this.count(this.labelsOf(routeId).duration.row, code, method, seconds);
  }

  private labelsOf(routeId: string): RouteLabels {
    let rl = this.byRoute.get(routeId);
    if (rl === undefined) {
      const duration = this.m.duration.child(`${this.entrypoint} ${routeId}`, { entrypoint: this.entrypoint, route: routeId }, this.rows);
      rl = { routeId, duration, counts: new Map() };
      // Route ids come from the route table, so this map is as large as the table at most; a cap
      // that cleared it made every request of a 10,000-host table rebuild its label children.
      this.byRoute.set(routeId, rl);
      this.byRow[duration.row] = rl;
      this.rows.cells[duration.row * this.stride + KEY_AT] = -1;
    }
    return rl;
  }

  private count(row: number, code: number, method: string, seconds: number): void {
    const cells = this.rows.cells;
    const base = row * this.stride;
    this.m.duration.observeAt(cells, base + LEAD, seconds);
    this.pend(row, keyOf(code, method), 1);
  }

  /** Adds `n` requests of counter key `key` to the row's pending count, carrying the pending ones of another key to their series first. */
  private pend(row: number, key: number, n: number): void {
    const cells = this.rows.cells;
    const base = row * this.stride;
    if (cells[base + KEY_AT] === key) cells[base + PENDING_AT]! += n;
    else {
      this.flush(row);
      cells[base + KEY_AT] = key;
      cells[base + PENDING_AT] = n;
    }
  }

  /**
   * Counts a run of requests of one key (keyOf) in a row of this epoch (rowOf, rowsEpoch):
   * `fast1` of them took at most FAST1 seconds, `fast5` more at most FAST5, `seconds` in all.
   * The writer that keeps runs registers with hold, so that they are carried before each scrape.
   */
  addRun(row: number, key: number, fast1: number, fast5: number, seconds: number): void {
    const cells = this.rows.cells;
    const h = row * this.stride + LEAD;
    cells[h]! += seconds;
    cells[h + 1]! += fast1;
    cells[h + 2]! += fast5;
    this.pend(row, key, fast1 + fast5);
  }

  /** Registers a writer that keeps runs for rows of the current epoch: flushed before each scrape, dropped on reset. */
  hold(p: PendingRuns): void {
    this.pending.add(p);
  }

  /** The writer keeps no more runs (it carried them all). */
  release(p: PendingRuns): void {
    this.pending.delete(p);
  }

  /** Adds a row's pending count to the counter series of its key. */
  private flush(row: number): void {
    const cells = this.rows.cells;
    const base = row * this.stride;
    const pending = cells[base + PENDING_AT]!;
    if (pending === 0) return;
    cells[base + PENDING_AT] = 0;
    const key = cells[base + KEY_AT]!;
    const rl = this.byRow[row]!;
    let c = rl.counts.get(key);
    if (c === undefined) {
      const code = Math.floor(key / 16);
      const mi = key % 16;
      const m = mi === 0 ? 'OTHER' : METHODS[mi - 1]!;
      c = this.m.requests.child(`${this.entrypoint} ${rl.routeId} ${code} ${m}`, { entrypoint: this.entrypoint, route: rl.routeId, code: String(code), method: m });
      rl.counts.set(key, c);
    }
    c.value += pending;
  }

  private flushAll(): void {
    for (const p of this.pending) p.flush();
    for (let row = 0; row < this.byRow.length; row++) this.flush(row);
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
