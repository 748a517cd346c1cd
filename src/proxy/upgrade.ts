/**
 * HTTP/1.1 Upgrade (WebSocket) through the proxy: routed and forwarded like any request, then
 * bytes piped both ways until either side closes. HTTP idle timeouts do not apply once upgraded.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { performance } from 'node:perf_hooks';
import type { Dispatcher } from 'undici';
import type { UpstreamEndpoint } from '../controllers/routes/types.js';
import { isConnectFailure, statusForUpstreamError, upstreamErrorKind } from './errors.js';
import { downstreamResponseHeaders, newFacts, upstreamRequestHeaders, type RequestFacts } from './headers.js';
import { hostPort, logAccess, peerOf, type ProxyHandler, type Routed } from './handler.js';

const STATUS_TEXT: Record<number, string> = {
  301: 'Moved Permanently',
  308: 'Permanent Redirect',
  400: 'Bad Request',
  404: 'Not Found',
  421: 'Misdirected Request',
  426: 'Upgrade Required',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** Writes a complete plain-text response on a raw socket and closes it. */
export function writeRawResponse(socket: Duplex, status: number, message: string, location?: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = message + '\n';
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\nCache-Control: no-store\r\n` +
      `${location === undefined ? '' : `Location: ${location}\r\n`}\r\n${body}`,
  );
}

export class UpgradeHandler {
  private readonly facts: RequestFacts = newFacts();
  readonly handle: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

  constructor(readonly h: ProxyHandler) {
    this.handle = (req, socket, head) => this.onUpgrade(req, socket, head);
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const start = performance.now();
    const o = this.h.o;
    socket.on('error', destroyQuietly);
    const facts = this.facts;
    const r = this.h.route(req, facts);
    if ('status' in r) {
      if (r.status === 400) o.metrics.clientError(400);
      else o.metrics.request('', r.status, req.method ?? '', 0);
      writeRawResponse(socket, r.status, r.message, r.location);
      return;
    }
    if (req.method !== 'GET' || facts.upgrade === undefined || facts.hasBody) {
      o.metrics.clientError(400);
      writeRawResponse(socket, 400, 'bad request: only GET requests without a body can be upgraded');
      return;
    }
    const b = r.route.backend;
    if (b.scheme === 'h2c') {
      o.metrics.request(r.route.id, 502, 'GET', 0);
      writeRawResponse(socket, 502, `backend ${b.id} speaks h2c, which cannot carry an HTTP/1.1 upgrade`);
      return;
    }
    const { ep } = this.h.choose(b, facts);
    if (ep === undefined) {
      o.metrics.request(r.route.id, 503, 'GET', 0);
      writeRawResponse(socket, 503, `no ready endpoints for ${b.id}`);
      return;
    }
    const peer = peerOf(req.socket, o.trusted);
    const hostHeader = b.passHostHeader ? r.authority : hostPort(ep);
    const headers = upstreamRequestHeaders(req.rawHeaders, facts, { trusted: peer.trusted, clientIp: peer.ip, proto: o.proto, host: r.authority, port: peer.localPort }, hostHeader);
    const tunnel = new Tunnel(this.h, req, socket, head, r, ep, headers, facts.upgrade, start, peer.ip);
    tunnel.send();
  }
}

function destroyQuietly(this: Duplex): void {
  this.destroy();
}

/** One upgrade attempt and, when the backend agrees, the tunnel it becomes. */
class Tunnel implements Dispatcher.DispatchHandler {
  private status = 0;
  private bytes = 0;
  private responded = false;
  private attempt = 0;
  private readonly opts: Dispatcher.DispatchOptions;

  constructor(
    private readonly h: ProxyHandler,
    private readonly req: IncomingMessage,
    private readonly socket: Duplex,
    private readonly head: Buffer,
    private readonly r: Routed,
    private ep: UpstreamEndpoint,
    headers: string[],
    upgrade: string,
    private readonly start: number,
    private readonly clientIp: string,
  ) {
    this.opts = { path: r.target, method: 'GET', headers, upgrade, body: null, idempotent: false };
    socket.once('close', () => {
      if (!this.responded) this.abort?.(new Error('client closed the connection'));
    });
  }

  private abort: ((err?: Error) => void) | undefined;

  send(): void {
    this.h.o.pools.get(this.ep, this.r.route.backend.scheme).dispatch(this.opts, this);
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abort = abort;
  }

  onUpgrade(statusCode: number, rawHeaders: Buffer[] | string[] | null, upstream: Duplex): void {
    this.responded = true;
    this.status = statusCode;
    const client = this.socket;
    if (client.destroyed) {
      upstream.destroy();
      return;
    }
    // Upgrade and Connection are what make this a 101: keep them, drop the other hop-by-hop headers.
    const out = downstreamResponseHeaders(rawHeaders ?? [], []);
    let head = `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n`;
    for (let i = 0; i < out.length; i += 2) head += `${out[i]}: ${out[i + 1]}\r\n`;
    head += `Upgrade: ${upgradeValue(rawHeaders) ?? this.opts.upgrade}\r\n\r\n`;
    client.write(head);
    if (this.head.length > 0) upstream.write(this.head);
    pipeBoth(client, upstream);
    this.finish();
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], _resume: () => void, statusText: string): boolean {
    if (statusCode < 200) return true;
    // The backend refused to upgrade: relay its answer and close, the connection is not reusable.
    this.responded = true;
    this.status = statusCode;
    const out = downstreamResponseHeaders(rawHeaders, []);
    let head = `HTTP/1.1 ${statusCode} ${statusText || 'Response'}\r\n`;
    for (let i = 0; i < out.length; i += 2) {
      const lower = out[i]!.toLowerCase();
      if (lower === 'content-length' || lower === 'trailer') continue;
      head += `${out[i]}: ${out[i + 1]}\r\n`;
    }
    head += 'Connection: close\r\n\r\n';
    this.socket.write(head);
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.bytes += chunk.length;
    return this.socket.write(chunk) || true;
  }

  onComplete(): void {
    this.socket.end();
    this.finish();
  }

  onError(err: Error): void {
    const o = this.h.o;
    const kind = upstreamErrorKind(err);
    if (this.socket.destroyed) return;
    o.metrics.upstreamError(kind);
    const connectFailed = isConnectFailure(err);
    if (connectFailed) o.balancer.markDown(this.ep.origin);
    if (this.responded) {
      this.socket.destroy();
      this.finish();
      return;
    }
    if (this.attempt === 0 && connectFailed) {
      const next = o.balancer.pick(this.r.route.backend, this.ep);
      if (next !== undefined) {
        this.attempt++;
        this.ep = next;
        this.send();
        return;
      }
    }
    this.status = statusForUpstreamError(kind);
    writeRawResponse(this.socket, this.status, `backend ${this.r.route.backend.id} ${kind === 'timeout' ? 'timed out' : `failed (${kind})`}`);
    this.finish();
  }

  private finish(): void {
    const o = this.h.o;
    o.metrics.routeRequest(this.r.route, this.r.route.id, this.status, 'GET', (performance.now() - this.start) / 1000);
    if (o.accessLog !== null) {
      logAccess(o.accessLog, o.entrypoint, this.req, this.r.host, this.r.target, this.status, this.start, this.bytes, this.r.route.id, this.ep.origin, this.clientIp);
    }
  }
}

function upgradeValue(raw: Buffer[] | string[] | null): string | undefined {
  if (raw === null) return undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toString().toLowerCase() === 'upgrade') return raw[i + 1]!.toString();
  }
  return undefined;
}

/** Pipes both directions; an end on one side ends the other, an error or close destroys both. */
function pipeBoth(a: Duplex, b: Duplex): void {
  const sa = a as Duplex & { setTimeout?: (ms: number) => void; setNoDelay?: (v: boolean) => void };
  sa.setTimeout?.(0);
  sa.setNoDelay?.(true);
  const kill = () => {
    a.destroy();
    b.destroy();
  };
  a.on('error', kill);
  b.on('error', kill);
  a.on('close', () => endThenDestroy(b));
  b.on('close', () => endThenDestroy(a));
  a.pipe(b);
  b.pipe(a);
}

/** Half-close after pending writes flush, then release the socket. */
function endThenDestroy(s: Duplex): void {
  if (s.destroyed) return;
  s.end(() => s.destroy());
}
