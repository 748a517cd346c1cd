/** Prometheus metrics of the data plane; label children are cached so the hot path does no label hashing. */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

type CounterChild = ReturnType<Counter<string>['labels']>;
type HistogramChild = ReturnType<Histogram<string>['labels']>;

export interface ProxyMetrics {
  requests: Counter<'entrypoint' | 'route' | 'code' | 'method'>;
  duration: Histogram<'entrypoint' | 'route'>;
  upstreamErrors: Counter<'entrypoint' | 'kind'>;
  openConnections: Gauge<'entrypoint'>;
  clientErrors: Counter<'entrypoint' | 'code'>;
}

export function createProxyMetrics(registry: Registry): ProxyMetrics {
  return {
    requests: new Counter({
      name: 'gangplank_requests_total',
      help: 'HTTP requests answered, by entrypoint, route, status code and method.',
      labelNames: ['entrypoint', 'route', 'code', 'method'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'gangplank_request_duration_seconds',
      help: 'Time from request received to response finished.',
      labelNames: ['entrypoint', 'route'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
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
  duration: HistogramChild;
  counts: Map<number, CounterChild>;
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE'];
const METHOD_INDEX = new Map(METHODS.map((m, i) => [m, i + 1] as const));

/** Records requests for one entrypoint with cached label children. */
export class EntrypointMetrics {
  private readonly byRoute = new Map<string, RouteLabels>();
  private readonly upstream = new Map<string, CounterChild>();

  constructor(readonly m: ProxyMetrics, readonly entrypoint: string) {}

  request(routeId: string, code: number, method: string, seconds: number): void {
    let rl = this.byRoute.get(routeId);
    if (rl === undefined) {
      rl = { duration: this.m.duration.labels(this.entrypoint, routeId), counts: new Map() };
      // Route ids come from the route table, so this map is as large as the table at most; a cap
      // that cleared it made every request of a 10,000-host table rebuild its label children.
      this.byRoute.set(routeId, rl);
    }
    const mi = METHOD_INDEX.get(method) ?? 0;
    const key = code * 16 + mi;
    let c = rl.counts.get(key);
    if (c === undefined) {
      c = this.m.requests.labels(this.entrypoint, routeId, String(code), mi === 0 ? 'OTHER' : method);
      rl.counts.set(key, c);
    }
    c.inc();
    rl.duration.observe(seconds);
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
