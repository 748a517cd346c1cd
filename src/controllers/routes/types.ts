/**
 * The compiled route table: an immutable snapshot the proxy matches requests against.
 * Built by src/controllers/routes/compile.ts from the store; swapped atomically by the proxy.
 */
import type { PathType } from '../../api/types.js';
import type { HostIndex } from './hostindex.js';

export type UpstreamScheme = 'http' | 'https' | 'h2c';

/** One ready (or not) address:port of a Service's endpoints. */
export interface UpstreamEndpoint {
  /** `http://10.0.0.1:8080` or `http://[fd00::1]:8080`; the key of the upstream connection pool. */
  readonly origin: string;
  readonly address: string;
  readonly port: number;
  readonly ready: boolean;
}

export interface StickyCookie {
  name: string;
  secure: boolean;
  httpOnly: boolean;
  sameSite?: 'none' | 'lax' | 'strict';
  maxAge?: number;
}

/** Where a route sends traffic: the resolved endpoints of one Service port. */
export interface Backend {
  /** `namespace/service:port`, stable, used in metrics and logs. */
  readonly id: string;
  readonly namespace: string;
  readonly service: string;
  readonly port: number | string;
  /** Ready endpoints only, in a stable order. Empty → 503. */
  readonly endpoints: readonly UpstreamEndpoint[];
  /** Endpoints that exist but are not ready (for /api/routes; never receive traffic). */
  readonly unready?: readonly UpstreamEndpoint[];
  /** Set when the Service or its port is missing: the route exists, its backend does not (503). */
  readonly error?: string;
  readonly scheme: UpstreamScheme;
  /** traefik service.passhostheader; default true. */
  readonly passHostHeader: boolean;
  readonly sticky?: StickyCookie;
  /** Annotations on the Service that could not be used (the default applies), for /api/routes. */
  readonly warnings?: readonly string[];
}

export interface Route {
  /** Unique within a table: `host|pathType|path` (`*` for host-less). Used as the metrics label. */
  readonly id: string;
  /** Lower case; `''` for rules without host; `*.example.com` for wildcards. */
  readonly host: string;
  readonly path: string;
  readonly pathType: PathType;
  readonly ingress: { namespace: string; name: string };
  readonly backend: Backend;
  /** Set on the route that answers requests no rule matched (spec.defaultBackend). */
  readonly isDefault?: boolean;
  /** The host has TLS (spec.tls names it, or traefik router.tls): served on websecure. */
  readonly tls?: boolean;
  /** Requests on the web entrypoint are redirected to https (on by default for TLS hosts). */
  readonly sslRedirect?: boolean;
  /** traefik router.entrypoints: the entrypoints this route answers on; undefined = all. */
  readonly entrypoints?: readonly string[];
  /** traefik router.priority: a higher priority wins over the usual longest-match order. */
  readonly priority?: number;
  /**
   * Kept by the data plane's request metrics (src/proxy/metrics.ts), not part of the route's
   * meaning: which entrypoint writer first recorded this route (its current symbol) and that
   * writer's row, so that a request finds its row without reading another object.
   */
  metricsOwner?: symbol | undefined;
  metricsRow?: number;
  /**
   * Kept by the data plane (src/proxy/handler.ts `direct`), not part of the route's meaning: when
   * the backend leaves no choice (one endpoint, plain HTTP, no stickiness), the endpoint and the
   * connection pool every request goes to, and the pool registry they came from. A request then
   * reads the route alone, not also its backend, endpoint list, endpoint and the pool map (each a
   * cache miss of its own among 10,000 hosts).
   */
  upstreamOwner?: object | undefined;
  upstreamEp?: UpstreamEndpoint | undefined;
  upstreamPool?: object | undefined;
}

/** The certificate a TLS host is served with: the Secret an Ingress names in spec.tls. */
export interface TlsBinding {
  /** Lower-case host or `*.example.com`. */
  readonly host: string;
  /** `namespace/name` of a kubernetes.io/tls Secret; undefined = the default certificate. */
  readonly secret?: string;
  readonly ingress: { namespace: string; name: string };
}

export interface RouteTable {
  /** Increases with every compiled table. */
  readonly version: number;
  /**
   * The route for a request. `host` is lower case without port or trailing dot; `path` is the
   * normalized path (no query). Undefined → 404.
   */
  match(host: string, path: string): Route | undefined;
  /**
   * The hosts whose only route is Prefix `/` (most hosts), each with the route match would give
   * for any path. The data plane keeps what it derived from such a route in the slots of its own
   * copy of this index (HostIndex.withWords, src/proxy/hothosts.ts), so a request for one of
   * 10,000 hosts reads one slot instead of the route object, which lies anywhere in a large heap.
   */
  readonly roots?: HostIndex<Route>;
  /** Every route, for /api/routes and tests. */
  routes(): readonly Route[];
  /** TLS hosts and the Secrets that serve them. */
  readonly tls?: ReadonlyMap<string, TlsBinding>;
}
