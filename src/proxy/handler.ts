/**
 * The request handler of the data plane, independent of how the server was created (plain
 * HTTP/1.1 today; TLS and HTTP/2 compat entrypoints reuse it).
 *
 * One `Exchange` object per request is both the request state and the undici dispatch handler:
 * response bytes go straight from the upstream parser into the client response, no closures.
 */
import type { IncomingMessage } from 'node:http';
import type { BlockList, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import type { AccessLog } from './accesslog.js';
import type { Backend, Route, RouteTable, UpstreamEndpoint } from '../controllers/routes/types.js';
import { cookieValue, type Balancer } from './balancer.js';
import { isConnectFailure, statusForUpstreamError, upstreamErrorKind } from './errors.js';
import {
  addedLinesAreThePeers,
  addedRequestLines,
  PeerLines,
  downstreamResponseHeaders,
  newFacts,
  passedRequestHeaders,
  scanRequestHeaders,
  trailerPairs,
  upstreamRequestHeaders,
  type Forwarding,
  type RequestFacts,
} from './headers.js';
import { HotHosts } from './hothosts.js';
import { keyOf, type EntrypointMetrics } from './metrics.js';
import { normalizeHost, parseTarget } from './normalize.js';
import { H2Exchange } from './h2exchange.js';
import type { H2Request } from './h2/stream.js';
import type { H1Handler, H1Pool, H1Request } from './h1client.js';
import type { ResponseHead } from './h1parse.js';
import type { UpstreamPools } from './upstream.js';

export interface HandlerOptions {
  entrypoint: string;
  /** What X-Forwarded-Proto says for requests arriving here. */
  proto: 'http' | 'https';
  /** Peers whose forwarding headers are kept and appended to (null: none). */
  trusted: BlockList | null;
  accessLog: AccessLog | null;
  logger: Logger;
  metrics: EntrypointMetrics;
  pools: UpstreamPools;
  balancer: Balancer;
  /** Web entrypoint: the websecure port that ssl-redirect responses point at. */
  redirectPort?: number;
  /**
   * Websecure: true when the request's host would be served another certificate than its SNI
   * name (the client reused a connection it should not have): answered 421.
   */
  misdirected?: (req: IncomingMessage, host: string) => boolean;
  /** How long a new table serves before the handler makes its copy of the hosts (see hotFor); default HOT_DELAY_MS. */
  hotDelayMs?: number;
}

/**
 * A new route table serves this long from the table itself before the handler copies its hosts
 * (HotHosts): tables come in bursts (a rollout changes EndpointSlices many times a second), and a
 * copy (1-3 ms at 10,000 hosts, more while its code is cold) made for each of them would be work
 * thrown away, paid by the first request after each change.
 */
export const HOT_DELAY_MS = 100;

/**
 * What ProxyHandler and its exchanges use of a response. Node's ProxyResponse has it, and so do
 * the light responses of the HTTP/1.1 fast path (fast.ts) and of HTTP/2 streams (h2/stream.ts).
 */
/** Response fields as the proxy passes them: a flat [name, value, ...] list or a record. */
export type ResponseHeaders = string[] | Record<string, string | number | string[]>;

export interface ProxyResponse {
  statusCode: number;
  readonly headersSent: boolean;
  shouldKeepAlive: boolean;
  setHeader(name: string, value: string | string[]): unknown;
  getHeader(name: string): string | string[] | number | undefined;
  writeHead(status: number, headers?: ResponseHeaders): unknown;
  writeHead(status: number, reason: string, headers?: ResponseHeaders): unknown;
  write(chunk: Buffer | string): boolean;
  end(chunk?: Buffer | string): unknown;
  /**
   * write(view), or end(view) when `last`, for a view of a buffer the caller reuses as soon as
   * this returns: the response copies what it keeps. Optional: without it the caller copies.
   */
  writeView?(view: Buffer, last: boolean): boolean;
  /**
   * writeHead from the backend's head as gangplank's HTTP/1.1 client read it (status, reason and
   * fields, less the hop-by-hop ones), copying the bytes of the fields it passes on. Optional:
   * without it the caller passes strings (writeHead).
   */
  writeHeadRaw?(head: ResponseHead): void;
  addTrailers(trailers: [string, string][] | Record<string, string>): void;
  destroy(err?: Error): unknown;
  on(event: 'close' | 'drain', listener: (this: ProxyResponse) => void): unknown;
  once(event: 'close' | 'drain', listener: (this: ProxyResponse) => void): unknown;
}

/** Answers HTTP-01 challenges: the key authorization for a token, or undefined. */
export type AcmeResponder = (token: string) => string | undefined;

export const ACME_PREFIX = '/.well-known/acme-challenge/';

/** What the proxy knows about a client connection, computed once per socket. */
export interface Peer {
  ip: string;
  trusted: boolean;
  localPort: string;
  /** The header lines gangplank adds upstream for this peer's requests, when they depend on it alone (see PeerLines). */
  lines: PeerLines | undefined;
}

const kPeer = Symbol('gangplank.peer');
const kExchange = Symbol('gangplank.exchange');

type PeerSocket = Socket & { [kPeer]?: Peer };
type ExRes = ProxyResponse & { [kExchange]?: Exchange };

export function peerOf(sock: Socket, trusted: BlockList | null): Peer {
  const s = sock as PeerSocket;
  let p = s[kPeer];
  if (p === undefined) {
    let ip = sock.remoteAddress ?? '';
    if (ip.startsWith('::ffff:') && ip.includes('.')) ip = ip.slice(7);
    const fam = ip.includes(':') ? 'ipv6' : 'ipv4';
    p = { ip, trusted: trusted !== null && ip !== '' && trusted.check(ip, fam), localPort: String(sock.localPort ?? ''), lines: undefined };
    s[kPeer] = p;
  }
  return p;
}

const IDEMPOTENT: Record<string, 1 | undefined> = { GET: 1, HEAD: 1, OPTIONS: 1, PUT: 1, DELETE: 1, TRACE: 1 };

/** Where a request went wrong before reaching a backend: status and a plain-text reason. */
export interface Refusal {
  status: number;
  message: string;
  /** Close the client connection after answering (malformed requests). */
  close: boolean;
  /** A redirect's target. */
  location?: string;
}

/**
 * The outcome of routing one request; shared by plain requests and upgrades.
 *
 * A request for a remembered root host (HotHosts) is routed without its Route: reading it from the
 * copy's values is one more trip to memory among 10,000 hosts, and the usual request never needs
 * it (its pool, metrics row and counts are in the host's slot). `route` reads it when asked, by
 * the value index read from the slot when routed (the slot itself may hold another table's host by
 * then: a retired copy's slots are reused by the next).
 */
export class Routed {
  constructor(
    private known: Route | undefined,
    readonly host: string,
    readonly path: string,
    /** path + original query, what the backend receives. */
    readonly target: string,
    /** The request's authority as sent (absolute-form target, else Host header): what the backend gets as Host. normalizeHost accepted it (no line break). */
    readonly authority: string,
    /**
     * When the route is known to go straight to one endpoint (see ProxyHandler.direct): its pool,
     * else undefined. The endpoint is then the backend's only one (`ep`, or undefined when the
     * request was routed without reading the route).
     */
    readonly pool: H1Pool | undefined,
    readonly ep: UpstreamEndpoint | undefined,
    /** With `pool`: the route's metrics row (EntrypointMetrics.rowOf), else -1. */
    readonly row: number,
    /** With `pool`, for a root host: the handler's copy of the roots that remembered them and the host's slot there (a run counts there), else undefined and -1. */
    readonly hot: HotHosts | undefined,
    readonly at: number,
    /** Without `known`: the route's value index in `hot` (HotHosts.valueIndex). */
    private readonly vi = -1,
  ) {}

  get route(): Route {
    return (this.known ??= this.hot!.routeAt(this.vi));
  }
}

export class ProxyHandler {
  table: RouteTable | undefined;
  /** Set by the data plane on the web entrypoint; consulted before routing. */
  acme: AcmeResponder | undefined;
  private readonly facts: RequestFacts = newFacts();
  /** This handler's copy of the current table's root hosts (see HotHosts). */
  private hot: HotHosts | undefined;
  /** Set by close: a request still routed after it makes no copy (routes from the table). */
  private closed = false;
  /** When the next copy is made (see hotFor). */
  private hotTimer: NodeJS.Timeout | undefined;
  readonly handle: (req: IncomingMessage, res: ProxyResponse) => void;

  constructor(readonly o: HandlerOptions) {
    this.handle = (req, res) => this.onRequest(req, res);
  }

  /**
   * Validates and routes a request. Fills `facts` and returns a Routed, or a Refusal saying
   * which status to answer. Used by upgrades too.
   */
  route(req: IncomingMessage, facts: RequestFacts): Routed | Refusal {
    scanRequestHeaders(req.rawHeaders, facts);
    if (facts.error !== undefined) return { status: 400, message: `bad request: ${facts.error}`, close: true };
    // HTTP/2 frames the body itself: there is one unless the HEADERS frame ended the stream.
    if (req.httpVersionMajor === 2) facts.hasBody = !(req as unknown as H2Request).stream.endAfterHeaders;
    const t = parseTarget(req.url ?? '');
    if (t === undefined) return { status: 400, message: 'bad request: invalid request target', close: true };
    // HTTP/2 carries the authority as a pseudo-header, which wins over a Host header (RFC 9113 8.3.1).
    let hostRaw = t.host ?? (req.httpVersionMajor === 2 ? ((req as unknown as H2Request).authority ?? facts.host) : facts.host);
    if (hostRaw === undefined) {
      if (req.httpVersionMinor >= 1 && req.httpVersionMajor === 1) {
        return { status: 400, message: 'bad request: missing Host header', close: true };
      }
      hostRaw = '';
    }
    const host = normalizeHost(hostRaw);
    if (host === undefined) return { status: 400, message: 'bad request: invalid Host header', close: true };
    const o = this.o;
    if (o.misdirected !== undefined && o.misdirected(req, host)) {
      return { status: 421, message: `misdirected request: this connection was made for another host than ${host}; open a new connection for it`, close: false };
    }
    const table = this.table;
    if (table === undefined) return { status: 503, message: 'no routes loaded yet', close: false };
    const target = t.query === '' ? t.path : t.path + t.query;
    // A root host (most hosts) whose route goes straight to one endpoint: the pool and metrics
    // row remembered in its slot of the handler's copy, and nothing else read.
    const hot = table.roots === undefined ? undefined : this.hotFor(table);
    let at = -1;
    if (hot !== undefined) {
      at = hot.slotOf(host);
      if (at >= 0) {
        const pool = hot.pool(at);
        if (pool !== undefined && !pool.closed) return new Routed(undefined, host, t.path, target, hostRaw, pool, undefined, hot.row(at), hot, at, hot.valueIndex(at));
      }
    }
    const route = at >= 0 ? hot!.route(at) : table.match(host, t.path);
    if (route === undefined) return { status: 404, message: `no route for ${host}${t.path}`, close: false };
    // traefik router.entrypoints: a route of another entrypoint does not exist here.
    if (route.entrypoints !== undefined && !route.entrypoints.includes(o.entrypoint)) return { status: 404, message: `no route for ${host}${t.path} on entrypoint ${o.entrypoint}`, close: false };
    if (route.sslRedirect === true && o.redirectPort !== undefined && !t.path.startsWith(ACME_PREFIX)) {
      const get = req.method === 'GET' || req.method === 'HEAD';
      const h = host.includes(':') ? `[${host}]` : host;
      const location = `https://${h}${o.redirectPort === 443 ? '' : `:${o.redirectPort}`}${t.query === '' ? t.path : t.path + t.query}`;
      return { status: get ? 301 : 308, message: `moved to ${location}`, close: false, location };
    }
    // A route known to go straight to one endpoint (see direct) has a backend without an error.
    if (route.upstreamOwner !== o.pools) {
      const b = route.backend;
      if (b.error !== undefined) return { status: 503, message: `backend ${b.id} unavailable: ${b.error}`, close: false };
      if (b.endpoints.length === 0) return { status: 503, message: `no ready endpoints for ${b.id}`, close: false };
    }
    const pool = this.direct(route);
    if (pool === undefined) return new Routed(route, host, t.path, target, hostRaw, undefined, undefined, -1, undefined, -1);
    const row = o.metrics.rowOf(route, route.id);
    // Every check above passed on the route's fields and this handler's options alone, so the
    // next request for the host can skip them; except where the path decided (an ACME challenge
    // path is exempt from the ssl redirect).
    if (at >= 0 && !(route.sslRedirect === true && o.redirectPort !== undefined) && hot!.remember(at, pool, row)) {
      return new Routed(route, host, t.path, target, hostRaw, pool, route.upstreamEp, row, hot, at);
    }
    return new Routed(route, host, t.path, target, hostRaw, pool, route.upstreamEp, row, undefined, -1);
  }

  /**
   * This handler's copy of `table`'s root hosts, or undefined while there is none for it: after a
   * table change or a metrics reset the old copy stops counting, and the new one is made
   * HOT_DELAY_MS later (with the old one's runs carried first), for whichever table is current then.
   */
  private hotFor(table: RouteTable): HotHosts | undefined {
    const h = this.hot;
    if (h !== undefined && h.table === table && h.live) return h;
    if (this.closed) return undefined;
    h?.stop();
    this.hotTimer ??= setTimeout(() => this.makeHot(), this.o.hotDelayMs ?? HOT_DELAY_MS).unref();
    return undefined;
  }

  private makeHot(): void {
    this.hotTimer = undefined;
    if (this.closed) return;
    const old = this.hot;
    old?.retire();
    const table = this.table;
    const roots = table?.roots;
    this.hot = table !== undefined && roots !== undefined ? new HotHosts(table, roots, this.o.metrics, old) : undefined;
  }

  /** The handler serves no more requests (its entrypoint stopped): carries what its copy holds into the metrics. */
  close(): void {
    this.closed = true;
    clearTimeout(this.hotTimer);
    this.hotTimer = undefined;
    this.hot?.retire();
    this.hot = undefined;
  }

  /**
   * The HTTP/1.1 pool every request of `route` goes to when its backend leaves no choice (one
   * endpoint, plain HTTP, no sticky cookie, the client's Host passed on), else undefined. Kept on
   * the route with its endpoint (route.upstream*, owned by this handler's pool registry): the
   * backend is immutable, and while a table references an endpoint its pool stays open.
   */
  direct(route: Route): H1Pool | undefined {
    const pools = this.o.pools;
    if (route.upstreamOwner === pools) {
      const pool = route.upstreamPool as H1Pool;
      if (!pool.closed) return pool;
    }
    const b = route.backend;
    if (b.scheme !== 'http' || b.sticky !== undefined || !b.passHostHeader || b.error !== undefined || b.endpoints.length !== 1) return undefined;
    const ep = b.endpoints[0]!;
    const pool = pools.h1(ep);
    route.upstreamOwner = pools;
    route.upstreamEp = ep;
    route.upstreamPool = pool;
    return pool;
  }

  /** Chooses the endpoint; returns the sticky cookie value to set when it changed. */
  choose(b: Backend, facts: RequestFacts): { ep: UpstreamEndpoint | undefined; setCookie: string | undefined } {
    const sticky = b.sticky;
    if (sticky === undefined) return { ep: this.o.balancer.pick(b), setCookie: undefined };
    const have = cookieValue(facts.cookie, sticky.name);
    if (have !== undefined) {
      const ep = this.o.balancer.sticky(b, have);
      if (ep !== undefined) return { ep, setCookie: undefined };
    }
    const ep = this.o.balancer.pick(b);
    return { ep, setCookie: ep === undefined ? undefined : this.o.balancer.cookieValue(ep.origin) };
  }

  private onRequest(req: IncomingMessage, res: ProxyResponse): void {
    const start = performance.now();
    if (this.acme !== undefined && this.answerAcme(req, res, start)) return;
    const facts = this.facts;
    const r = this.route(req, facts);
    if ('status' in r) {
      this.refuse(req, res, r, start);
      return;
    }
    const peer = peerOf(req.socket, this.o.trusted);
    const pool = r.pool;
    let ex: Exchange;
    if (pool !== undefined) {
      // The usual case: no choice to make, and nothing of the backend (or the route) to read.
      // The client's fields go as a list, the ones gangplank adds as lines (made once per
      // connection and host when they depend on nothing else).
      const lines = addedLinesAreThePeers(facts, peer.trusted) ? (peer.lines ??= new PeerLines(this.forwarding(peer, r))).lines(r.authority, facts.teTrailers, r.at) : addedRequestLines(facts, this.forwarding(peer, r), r.authority);
      const headers = lines === undefined ? upstreamRequestHeaders(req.rawHeaders, facts, this.forwarding(peer, r), r.authority) : passedRequestHeaders(req.rawHeaders, facts);
      ex = new Exchange(this, req, res, r, r.ep, headers, facts.hasBody, start, peer.ip);
      ex.pool = pool;
      ex.setLines(lines);
    } else {
      const b = r.route.backend;
      const { ep, setCookie } = this.choose(b, facts);
      if (ep === undefined) {
        this.refuse(req, res, { status: 503, message: `no ready endpoints for ${b.id}`, close: false }, start, r);
        return;
      }
      const hostHeader = b.passHostHeader ? r.authority : hostPort(ep);
      const headers = upstreamRequestHeaders(req.rawHeaders, facts, this.forwarding(peer, r), hostHeader);
      if (b.scheme === 'h2c') {
        new H2Exchange(this, req, res, r, ep, headers, facts.hasBody, start, peer.ip, setCookie === undefined ? undefined : stickyCookie(b, setCookie)).send();
        return;
      }
      ex = new Exchange(this, req, res, r, ep, headers, facts.hasBody, start, peer.ip);
      if (setCookie !== undefined) ex.setCookie = stickyCookie(b, setCookie);
    }
    (res as ExRes)[kExchange] = ex;
    res.on('close', onResponseClose);
    ex.send();
  }

  /** What the forwarding headers say for a request of `peer` routed as `r` (made only where the headers are built from it). */
  private forwarding(peer: Peer, r: Routed): Forwarding {
    return { trusted: peer.trusted, clientIp: peer.ip, proto: this.o.proto, host: r.authority, port: peer.localPort };
  }

  /** HTTP-01: answers a challenge the responder knows; false lets the request route normally. */
  private answerAcme(req: IncomingMessage, res: ProxyResponse, start: number): boolean {
    const url = req.url;
    if (url === undefined || !url.startsWith(ACME_PREFIX) || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
    const token = url.slice(ACME_PREFIX.length);
    if (token === '' || token.includes('/') || token.includes('?')) return false;
    const keyAuth = this.acme!(token);
    if (keyAuth === undefined) return false;
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(keyAuth), 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : keyAuth);
    this.o.metrics.request('acme-http01', 200, req.method ?? '', (performance.now() - start) / 1000);
    return true;
  }

  /** Answers a request the proxy will not forward, with a plain-text reason. */
  refuse(req: IncomingMessage, res: ProxyResponse, r: Refusal, start: number, routed?: Routed): void {
    const body = r.message + '\n';
    const headers: Record<string, string | number> = {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
    };
    if (r.location !== undefined) headers.location = r.location;
    // A request body we will not read would be parsed as the next request: close instead.
    // (HTTP/2 forbids Connection; a stream ends on its own.)
    if (req.httpVersionMajor === 1 && (r.close || (this.facts.hasBody && !req.complete))) {
      headers.connection = 'close';
      res.shouldKeepAlive = false;
    }
    res.writeHead(r.status, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
    const routeId = routed?.route.id ?? '';
    const m = this.o.metrics;
    if (r.status === 400) m.clientError(400);
    else m.request(routeId, r.status, req.method ?? '', (performance.now() - start) / 1000);
    if (this.o.accessLog !== null) {
      logAccess(this.o.accessLog, this.o.entrypoint, req, routed?.host ?? '', routed?.path ?? req.url ?? '', r.status, start, body.length, routeId, '', peerOf(req.socket, this.o.trusted).ip);
    }
  }
}

/** `address:port` of an endpoint, bracketed for IPv6: the Host header when passHostHeader is off. */
export function hostPort(ep: UpstreamEndpoint): string {
  return ep.address.includes(':') ? `[${ep.address}]:${ep.port}` : `${ep.address}:${ep.port}`;
}

export function stickyCookie(b: Backend, value: string): string {
  const s = b.sticky!;
  let c = `${s.name}=${value}; Path=/`;
  if (s.maxAge !== undefined) c += `; Max-Age=${s.maxAge}`;
  if (s.httpOnly) c += '; HttpOnly';
  if (s.secure) c += '; Secure';
  if (s.sameSite !== undefined) c += `; SameSite=${s.sameSite === 'none' ? 'None' : s.sameSite === 'lax' ? 'Lax' : 'Strict'}`;
  return c;
}

export function logAccess(
  log: AccessLog,
  entrypoint: string,
  req: IncomingMessage,
  host: string,
  path: string,
  status: number,
  start: number,
  bytes: number,
  route: string,
  upstream: string,
  clientIp: string,
): void {
  log.record(entrypoint, req.method ?? '', host, path, status, start, bytes, route, upstream, clientIp);
}

function onResponseClose(this: ExRes): void {
  const ex = this[kExchange];
  if (ex !== undefined) ex.clientClosed();
}

function onResponseDrain(this: ExRes): void {
  const ex = this[kExchange];
  if (ex !== undefined) ex.drained();
}

/**
 * One proxied request: its state and the handler of the upstream client that carries it
 * (gangplank's HTTP/1.1 client for plain-HTTP backends, undici for TLS backends).
 */
class Exchange implements Dispatcher.DispatchHandler, H1Handler {
  setCookie: string | undefined;
  /** The pool of `ep` when the handler already has it (ProxyHandler.direct); first attempt only. */
  pool: H1Pool | undefined;
  /** The route's metrics row, looked up while the route was in the cache (EntrypointMetrics.rowOf). */
  private readonly row: number;
  private readonly rowsEpoch: symbol;
  private attempt = 0;
  private responded = false;
  private done = false;
  private finished = false;
  private status = 0;
  private bytes = 0;
  /** Body bytes still expected when the backend sent Content-Length; -1 = unknown. */
  private remaining = -1;
  private ended = false;
  private abortFn: ((err?: Error) => void) | undefined;
  private resumeFn: (() => void) | undefined;
  private readonly opts: Dispatcher.DispatchOptions & H1Request;

  constructor(
    private readonly h: ProxyHandler,
    private readonly req: IncomingMessage,
    private readonly res: ProxyResponse,
    private readonly r: Routed,
    /** Undefined: the route's backend's only endpoint (read when needed, see endpoint). */
    private ep: UpstreamEndpoint | undefined,
    private readonly headers: string[],
    private readonly hasBody: boolean,
    private readonly start: number,
    private readonly clientIp: string,
  ) {
    this.opts = {
      path: r.target,
      method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
      headers,
      lines: undefined,
      body: hasBody ? req : null,
      // Never let undici replay a request itself: we decide about retries.
      idempotent: false,
      blocking: true,
    };
    const m = h.o.metrics;
    this.row = r.row >= 0 ? r.row : m.rowOf(r.route, r.route.id);
    this.rowsEpoch = m.rowsEpoch;
  }

  /** The endpoint of this attempt. */
  private endpoint(): UpstreamEndpoint {
    return (this.ep ??= this.r.route.backend.endpoints[0]!);
  }

  /** Header lines added after `headers` by gangplank's HTTP/1.1 client (H1Request.lines). */
  setLines(lines: string | undefined): void {
    this.opts.lines = lines;
  }

  send(): void {
    const pool = this.pool;
    if (pool !== undefined) {
      this.pool = undefined;
      pool.dispatch(this.opts, this);
      return;
    }
    const b = this.r.route.backend;
    const pools = this.h.o.pools;
    if (b.scheme === 'http') pools.h1(this.endpoint()).dispatch(this.opts, this);
    else pools.get(this.endpoint(), b.scheme).dispatch(this.opts, this);
  }

  // --- undici handler (the raw, allocation-free variant of the dispatch API) ---

  onConnect(abort: (err?: Error) => void): void {
    this.abortFn = abort;
    if (this.finished) abort(new Error('client closed the connection'));
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[] | string[], resume: () => void, statusText: string, length?: number): boolean {
    if (statusCode < 200) return true; // 1xx from the backend: 100-continue was answered by us already
    this.resumeFn = resume;
    this.status = statusCode;
    const out = downstreamResponseHeaders(rawHeaders, []);
    // gangplank's HTTP/1.1 client says how long the body is; from undici, read the header.
    if (length !== undefined) this.remaining = length;
    else {
      for (let i = 0; i < out.length; i += 2) {
        const n = out[i]!;
        if (n.length === 14 && n.toLowerCase() === 'content-length') this.remaining = Number(out[i + 1]);
      }
    }
    if (this.setCookie !== undefined) out.push('set-cookie', this.setCookie);
    // If writeHead throws (a header value node refuses), undici aborts and the client gets a 502.
    // HTTP/2 has no reason phrase.
    if (this.req.httpVersionMajor === 1) this.res.writeHead(statusCode, statusText, out);
    else this.res.writeHead(statusCode, out);
    this.responded = true;
    return true;
  }

  /** The head from gangplank's HTTP/1.1 client (H1Handler). */
  onHead(head: ResponseHead, resume: () => void): boolean {
    const res = this.res;
    // The head's bytes go to the client as they are, when nothing is to be added to them or
    // taken out of them beyond what writeHeadRaw does (hop-by-hop fields). HTTP/1.1 clients only.
    if (res.writeHeadRaw === undefined || this.setCookie !== undefined || head.namesOthers) {
      return this.onHeaders(head.status, head.fields(), resume, head.reason, head.length);
    }
    this.resumeFn = resume;
    this.status = head.status;
    this.remaining = head.length;
    res.writeHeadRaw(head);
    this.responded = true;
    return true;
  }

  /** Body bytes from undici: the chunk is ours to keep. */
  onData(chunk: Buffer): boolean {
    return this.body(chunk, false);
  }

  /** Body bytes from gangplank's HTTP/1.1 client: a view valid only during this call. */
  onDataView(view: Buffer): boolean {
    return this.res.writeView === undefined ? this.body(Buffer.from(view), false) : this.body(view, true);
  }

  private body(chunk: Buffer, view: boolean): boolean {
    this.bytes += chunk.length;
    const res = this.res;
    if (chunk.length === this.remaining) {
      // The last bytes of a sized body: one end() instead of write() + end().
      this.remaining = -1;
      this.ended = true;
      if (view) res.writeView!(chunk, true);
      else res.end(chunk);
      return true;
    }
    if (this.remaining > 0) this.remaining -= chunk.length;
    if (view ? res.writeView!(chunk, false) : res.write(chunk)) return true;
    res.once('drain', onResponseDrain);
    return false;
  }

  onComplete(trailers: string[] | null): void {
    this.done = true;
    if (this.ended) return;
    const t = trailerPairs(trailers);
    if (t !== undefined) this.res.addTrailers(t);
    this.res.end();
  }

  onError(err: Error): void {
    if (this.finished || this.ended) return;
    const o = this.h.o;
    const kind = upstreamErrorKind(err);
    o.metrics.upstreamError(kind);
    const connectFailed = isConnectFailure(err);
    const ep = this.endpoint();
    if (connectFailed) o.balancer.markDown(ep.origin);
    if (this.responded) {
      // Part of the response is already out: all we can do is cut it short.
      this.done = true;
      this.res.destroy(err);
      return;
    }
    // Retry a bodyless idempotent request that got no response byte: once on another endpoint
    // after a refused connection; up to twice after a reset (a stale keep-alive connection, which
    // may be followed by more stale ones after a backend restart), on any endpoint.
    const canRetry = connectFailed ? this.attempt === 0 : kind === 'reset' && this.attempt < 2;
    if (canRetry && !this.hasBody && IDEMPOTENT[this.opts.method] === 1) {
      const b = this.r.route.backend;
      const next = o.balancer.pick(b, ep) ?? (connectFailed ? undefined : ep);
      if (next !== undefined) {
        this.attempt++;
        if (next !== ep && !b.passHostHeader) replaceHost(this.headers, hostPort(next));
        if (this.setCookie !== undefined) this.setCookie = stickyCookie(b, o.balancer.cookieValue(next.origin));
        this.ep = next;
        this.send();
        return;
      }
    }
    this.done = true;
    const status = statusForUpstreamError(kind);
    const why = kind === 'timeout' ? 'timed out' : `failed (${kind}: ${(err as NodeJS.ErrnoException).code ?? err.message})`;
    const body = `backend ${this.r.route.backend.id} ${why}\n`;
    this.status = status;
    this.bytes = body.length;
    const hdrs: Record<string, string | number> = {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': body.length,
      'cache-control': 'no-store',
    };
    if (this.hasBody && !this.req.complete && this.req.httpVersionMajor === 1) {
      hdrs.connection = 'close';
      this.res.shouldKeepAlive = false;
    }
    this.res.writeHead(status, hdrs);
    this.res.end(this.req.method === 'HEAD' ? undefined : body);
    if (o.logger.isLevelEnabled('debug')) o.logger.debug({ err, backend: this.r.route.backend.id, upstream: ep.origin }, 'upstream request failed');
  }

  /** The client response closed: finished normally or the client went away. */
  clientClosed(): void {
    if (this.finished) return;
    this.finished = true;
    if (!this.done) {
      this.done = true;
      this.abortFn?.(new Error('client closed the connection'));
      if (this.status === 0) this.status = 499;
    }
    this.resumeFn = undefined;
    const o = this.h.o;
    const r = this.r;
    const seconds = (performance.now() - this.start) / 1000;
    const hot = r.hot;
    if (hot === undefined || !hot.live || !hot.count(r.at, keyOf(this.status, this.opts.method), seconds)) o.metrics.countAt(this.row, this.rowsEpoch, r.route, this.status, this.opts.method, seconds);
    if (o.accessLog !== null) {
      logAccess(o.accessLog, o.entrypoint, this.req, r.host, r.target, this.status, this.start, this.bytes, r.route.id, this.endpoint().origin, this.clientIp);
    }
  }

  drained(): void {
    const r = this.resumeFn;
    if (r !== undefined && !this.done) r();
  }
}

function replaceHost(headers: string[], value: string): void {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] === 'host') {
      headers[i + 1] = value;
      return;
    }
  }
}
