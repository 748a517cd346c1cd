/**
 * The plain-HTTP/1.1 entrypoint: a node:http server with strict parsing and client-side limits,
 * serving the current route table through ProxyHandler.
 */
import { createServer, type Server } from 'node:http';
import { BlockList, isIPv6, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { RouteTable } from '../controllers/routes/types.js';
import type { Component } from '../runtime/lifecycle.js';
import { Balancer } from './balancer.js';
import { ProxyHandler } from './handler.js';
import { EntrypointMetrics, type ProxyMetrics } from './metrics.js';
import { UpgradeHandler } from './upgrade.js';
import { UpstreamPools } from './upstream.js';

export interface ProxyTimeouts {
  /** Upstream TCP (and TLS) connect. Default 5 s. */
  connectMs: number;
  /** Upstream: from request sent to response headers. Default 60 s. */
  responseHeaderMs: number;
  /** Upstream: longest silence while a response body streams. Default 120 s. */
  upstreamIdleMs: number;
  /** Client: time to send the request headers (slow-loris). Default 20 s. */
  headersMs: number;
  /** Client: time to send the whole request. Default 300 s; never below headersMs. */
  requestMs: number;
  /** Client: idle keep-alive connection lifetime. Default 360 s (longer than an AWS NLB's 350 s idle timeout). */
  keepAliveMs: number;
}

export interface ProxyOptions {
  /** Entrypoint name, e.g. 'web' (metrics label). */
  entrypoint: string;
  /** '' or '::' = all addresses. */
  bind: string;
  port: number;
  /** CIDRs (IPv4/IPv6) whose X-Forwarded-* headers are kept and appended to. */
  trustedProxies: string[];
  timeouts?: Partial<ProxyTimeouts>;
  /** Default 16 KiB; larger header blocks are answered 431. */
  maxHeaderSize?: number;
  /** One JSON line per request; null or undefined = off. */
  accessLog?: Logger | null;
  logger: Logger;
  metrics: ProxyMetrics;
  /** Extra CA certificates (PEM) trusted for `https` backends. */
  upstreamCa?: string[];
  /** How long an endpoint that refused a connection is skipped. Default 10 s. */
  unhealthyMs?: number;
  /** How long the pool of an endpoint no table mentions stays open. Default 60 s. */
  poolRetireMs?: number;
}

export const DEFAULT_TIMEOUTS: ProxyTimeouts = {
  connectMs: 5_000,
  responseHeaderMs: 60_000,
  upstreamIdleMs: 120_000,
  headersMs: 20_000,
  requestMs: 300_000,
  keepAliveMs: 360_000,
};

/** Parses trusted-proxy CIDRs (or single addresses) into a BlockList; throws naming the bad entry. */
export function trustedList(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const c of cidrs) {
    const [addr, bits, extra] = c.trim().split('/');
    const v6 = isIPv6(addr ?? '');
    const type = v6 ? 'ipv6' : 'ipv4';
    const max = v6 ? 128 : 32;
    const prefix = bits === undefined ? max : Number(bits);
    if (!addr || extra !== undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > max) {
      throw new Error(`trustedProxies: "${c}" is not a CIDR (expected e.g. 10.0.0.0/8 or fd00::/8)`);
    }
    try {
      list.addSubnet(addr, prefix, type);
    } catch (err) {
      throw new Error(`trustedProxies: "${c}" is not a CIDR: ${(err as Error).message}`);
    }
  }
  return list;
}

const CLIENT_ERROR_TEXT: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' };

export class HttpProxy implements Component {
  private readonly server: Server;
  private readonly handler: ProxyHandler;
  private readonly pools: UpstreamPools;
  private readonly metrics: EntrypointMetrics;
  private readonly sockets = new Set<Socket>();
  private stopped: Promise<void> | undefined;

  constructor(private readonly o: ProxyOptions) {
    const t = { ...DEFAULT_TIMEOUTS, ...o.timeouts };
    if (t.requestMs > 0 && t.headersMs > t.requestMs) t.headersMs = t.requestMs;
    this.metrics = new EntrypointMetrics(o.metrics, o.entrypoint);
    this.pools = new UpstreamPools({
      connectMs: t.connectMs,
      responseHeaderMs: t.responseHeaderMs,
      upstreamIdleMs: t.upstreamIdleMs,
      ...(o.upstreamCa ? { ca: o.upstreamCa } : {}),
      ...(o.poolRetireMs !== undefined ? { retireMs: o.poolRetireMs } : {}),
    });
    this.handler = new ProxyHandler({
      entrypoint: o.entrypoint,
      proto: 'http',
      trusted: trustedList(o.trustedProxies),
      accessLog: o.accessLog ?? null,
      logger: o.logger,
      metrics: this.metrics,
      pools: this.pools,
      balancer: new Balancer(o.unhealthyMs !== undefined ? { unhealthyMs: o.unhealthyMs } : {}),
    });
    this.server = createServer(
      {
        insecureHTTPParser: false,
        maxHeaderSize: o.maxHeaderSize ?? 16 * 1024,
        headersTimeout: t.headersMs,
        requestTimeout: t.requestMs,
        keepAliveTimeout: t.keepAliveMs,
        // Node checks headersTimeout/requestTimeout only this often; keep it well below them.
        connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(t.headersMs / 4))),
        // We answer a missing Host ourselves, so it is counted and explained.
        requireHostHeader: false,
        joinDuplicateHeaders: false,
        noDelay: true,
      },
      this.handler.handle,
    );
    this.server.on('upgrade', new UpgradeHandler(this.handler).handle);
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => this.onClientError(err, socket));
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      this.metrics.connections(1);
      s.once('close', () => {
        this.sockets.delete(s);
        this.metrics.connections(-1);
      });
    });
  }

  /** Serves `t` from now on; requests already routed finish on the table they started with. */
  setTable(t: RouteTable): void {
    this.handler.table = t;
    this.pools.retain(t);
  }

  async start(): Promise<void> {
    const host = this.o.bind === '' ? undefined : this.o.bind;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(new Error(`entrypoint ${this.o.entrypoint}: cannot listen on ${this.o.bind || '*'}:${this.o.port}: ${err.message}`));
      this.server.once('error', onError);
      this.server.listen({ port: this.o.port, host }, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    this.o.logger.info({ entrypoint: this.o.entrypoint, port: this.address().port }, 'entrypoint listening');
  }

  /** Stops accepting, lets in-flight requests finish for up to `graceMs`, then closes everything. */
  stop(graceMs = 5_000): Promise<void> {
    this.stopped ??= (async () => {
      if (this.server.listening) {
        const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
        // Connections go idle as their in-flight requests finish: close each as soon as it does.
        this.server.closeIdleConnections();
        const sweep = setInterval(() => this.server.closeIdleConnections(), 50);
        const timer = setTimeout(() => {
          for (const s of this.sockets) s.destroy();
        }, graceMs);
        await closed;
        clearInterval(sweep);
        clearTimeout(timer);
      }
      await this.pools.close();
    })();
    return this.stopped;
  }

  address(): { port: number } {
    const a = this.server.address();
    if (a === null || typeof a === 'string') throw new Error(`entrypoint ${this.o.entrypoint} is not listening`);
    return { port: a.port };
  }

  /** Node's parser refused the request: answer a proper 400/408/431 with Connection: close, and count it. */
  private onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    const code = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    this.metrics.clientError(code);
    // A response already started on this connection cannot be followed by another one. (When
    // the request body was malformed the response has not started: answer 400; the pending
    // exchange is aborted when the socket closes.)
    const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
    if (inFlight && inFlight.headersSent !== false) {
      socket.destroy();
      return;
    }
    const body = `${CLIENT_ERROR_TEXT[code]}\n`;
    socket.end(`HTTP/1.1 ${code} ${CLIENT_ERROR_TEXT[code]}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
    // Do not wait for a slow client to read: drop it shortly after.
    setTimeout(() => socket.destroy(), 1_000).unref();
  }
}
