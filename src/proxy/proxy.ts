/**
 * An entrypoint: plain HTTP/1.1 (web), or TLS with HTTP/2 and HTTP/1.1 by ALPN (websecure), with
 * strict parsing and client-side limits, serving the current route table through ProxyHandler.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createTlsServer, type SecureContext, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { BlockList, createServer as createNetServer, isIPv6, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { RouteTable } from '../controllers/routes/types.js';
import type { AccessLog } from './accesslog.js';
import type { Component } from '../runtime/lifecycle.js';
import { Balancer } from './balancer.js';
import { ProxyHandler, type AcmeResponder, type ProxyResponse } from './handler.js';
import { SERVER_TLS_OPTIONS } from '../tls/options.js';
import { canonicalName } from '../tls/match.js';
import { entrypointMetrics, type EntrypointMetrics, type ProxyMetrics } from './metrics.js';
import { UpgradeHandler } from './upgrade.js';
import { FastPath } from './fast.js';
import { H2Server } from './h2/connection.js';
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
  /**
   * Client: time to send the whole request (HTTP/1.1: the connection's request; HTTP/2: each
   * stream's body, reset with CANCEL past it). Default 300 s; 0: no limit; never below headersMs.
   */
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
  accessLog?: AccessLog | null;
  logger: Logger;
  metrics: ProxyMetrics;
  /** Extra CA certificates (PEM) trusted for `https` backends. */
  upstreamCa?: string[];
  /** How long an endpoint that refused a connection is skipped. Default 10 s. */
  unhealthyMs?: number;
  /** How long the pool of an endpoint no table mentions stays open. Default 60 s. */
  poolRetireMs?: number;
  /** Web: the websecure port ssl-redirect responses point at (omit to never redirect). */
  redirectPort?: number;
  /** Web: answers HTTP-01 challenges before routing. */
  acmeResponder?: AcmeResponder;
  /** Websecure: serve TLS with these certificates (HTTP/2 and HTTP/1.1 by ALPN). */
  tls?: TlsEntrypointOptions;
}

/** What a TLS entrypoint needs from the certificate store. */
export interface TlsCertificates {
  readonly defaultCert: { certPem: string; keyPem: string; base?: { certPem: string; keyPem: string } };
  readonly sniCallback: (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) => void;
  /** The context a canonical host name is served with (identity tells two certificates apart). */
  contextFor(host: string): SecureContext;
}

/**
 * HTTP/2 limits that bound the known floods (src/proxy/h2/connection.ts also bounds streams reset
 * while served, CONTINUATION blocks by size and time, and control frames from a client that does
 * not read its answers).
 */
export interface Http2Limits {
  /** Streams one client may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS). Default 250. */
  maxConcurrentStreams: number;
  /** Streams refused for concurrency before the connection is closed. Default 100. */
  maxSessionRejectedStreams: number;
  /** Invalid frames (empty DATA and CONTINUATION frames, stream errors) before the connection is closed. Default 1000. */
  maxSessionInvalidFrames: number;
  /** Header pairs per block. Default 128. */
  maxHeaderListPairs: number;
}

export const DEFAULT_H2_LIMITS: Http2Limits = {
  maxConcurrentStreams: 250,
  maxSessionRejectedStreams: 100,
  maxSessionInvalidFrames: 1000,
  maxHeaderListPairs: 128,
};

export interface TlsEntrypointOptions {
  certs: TlsCertificates;
  /** 48 bytes, shared by every worker; rotate with setTicketKeys. */
  ticketKeys: Buffer;
  h2?: Partial<Http2Limits>;
}

export const DEFAULT_TIMEOUTS: ProxyTimeouts = {
  connectMs: 5_000,
  responseHeaderMs: 60_000,
  upstreamIdleMs: 120_000,
  headersMs: 20_000,
  requestMs: 300_000,
  keepAliveMs: 360_000,
};

/**
 * Parses trusted-proxy CIDRs (or single addresses) into a BlockList, null when there are none;
 * throws naming the bad entry. (A check against an empty BlockList still builds a SocketAddress
 * for the client's address: 2% of the CPU of a new TLS connection.)
 */
export function trustedList(cidrs: readonly string[]): BlockList | null {
  if (cidrs.length === 0) return null;
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
  /**
   * Node's HTTP/1.1 server for this entrypoint. It never listens itself: the fast path (plain
   * HTTP) or the TLS server (HTTP/1.1 by ALPN) hands it connections.
   */
  private readonly server: Server;
  /** The listening socket server: the TLS server, or a TCP server feeding the fast path. */
  private readonly listener: TlsServer | NetServer;
  private readonly fast: FastPath | undefined;
  /** websecure: gangplank's HTTP/2 server (src/proxy/h2), for connections that chose h2. */
  private readonly h2: H2Server | undefined;
  private readonly tlsServer: TlsServer | undefined;
  private readonly handler: ProxyHandler;
  private readonly pools: UpstreamPools;
  private readonly metrics: EntrypointMetrics;
  private readonly sockets = new Set<Socket>();
  private stopping = false;
  private stopped: Promise<void> | undefined;

  constructor(private readonly o: ProxyOptions) {
    const t = { ...DEFAULT_TIMEOUTS, ...o.timeouts };
    if (t.requestMs > 0 && t.headersMs > t.requestMs) t.headersMs = t.requestMs;
    this.metrics = entrypointMetrics(o.metrics, o.entrypoint);
    this.pools = new UpstreamPools({
      connectMs: t.connectMs,
      responseHeaderMs: t.responseHeaderMs,
      upstreamIdleMs: t.upstreamIdleMs,
      ...(o.upstreamCa ? { ca: o.upstreamCa } : {}),
      ...(o.poolRetireMs !== undefined ? { retireMs: o.poolRetireMs } : {}),
    });
    const certs = o.tls?.certs;
    this.handler = new ProxyHandler({
      entrypoint: o.entrypoint,
      proto: o.tls ? 'https' : 'http',
      ...(o.redirectPort !== undefined ? { redirectPort: o.redirectPort } : {}),
      ...(certs ? { misdirected: (req: IncomingMessage, host: string) => misdirected(certs, req, host) } : {}),
      trusted: trustedList(o.trustedProxies),
      accessLog: o.accessLog ?? null,
      logger: o.logger,
      metrics: this.metrics,
      pools: this.pools,
      balancer: new Balancer(o.unhealthyMs !== undefined ? { unhealthyMs: o.unhealthyMs } : {}),
    });
    this.handler.acme = o.acmeResponder;
    const http1 = {
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
    };
    if (o.tls) {
      const tls = o.tls;
      const lim = { ...DEFAULT_H2_LIMITS, ...tls.h2 };
      const handle = this.handler.handle;
      // HTTP/1.1 over TLS; during a graceful stop its answers say Connection: close.
      const h1 = createServer(http1, (req, res) => {
        if (this.stopping) res.shouldKeepAlive = false;
        handle(req, res);
      });
      const h2 = new H2Server({
        handle,
        maxConcurrentStreams: lim.maxConcurrentStreams,
        maxSessionRejectedStreams: lim.maxSessionRejectedStreams,
        maxSessionInvalidFrames: lim.maxSessionInvalidFrames,
        maxHeaderListSize: o.maxHeaderSize ?? 16 * 1024,
        maxHeaderListPairs: lim.maxHeaderListPairs,
        keepAliveMs: t.keepAliveMs,
        headersMs: t.headersMs,
        requestMs: t.requestMs,
        clientError: (status) => this.metrics.clientError(status),
      });
      const server = createTlsServer(
        {
          ...SERVER_TLS_OPTIONS,
          cert: (tls.certs.defaultCert.base ?? tls.certs.defaultCert).certPem,
          key: (tls.certs.defaultCert.base ?? tls.certs.defaultCert).keyPem,
          SNICallback: tls.certs.sniCallback,
          ticketKeys: tls.ticketKeys,
          ALPNProtocols: ['h2', 'http/1.1'],
          // Clients must finish the handshake quickly (slow-loris on TLS).
          handshakeTimeout: Math.min(t.headersMs, 10_000),
          noDelay: true,
        },
        // A client that offered no ALPN speaks HTTP/1.1.
        (socket: TLSSocket) => {
          if (socket.alpnProtocol === 'h2') {
            if (this.stopping) socket.destroy();
            else h2.connection(socket);
          } else h1.emit('connection', socket);
        },
      );
      server.on('tlsClientError', (err: NodeJS.ErrnoException) => {
        this.metrics.clientError(400);
        if (o.logger.isLevelEnabled('debug')) o.logger.debug({ entrypoint: o.entrypoint, err: err.code ?? err.message }, 'TLS handshake failed');
      });
      // Node's server tracks its connections and checks their timeouts from 'listening'.
      h1.emit('listening');
      this.h2 = h2;
      this.tlsServer = server;
      this.server = h1;
      this.listener = server;
    } else {
      // Plain HTTP: a TCP listener whose connections start on the fast path (src/proxy/fast.ts);
      // Node's HTTP server (never listening itself) takes over whatever the fast path does not serve.
      const server = createServer(http1, this.handler.handle);
      this.fast = new FastPath({
        handle: this.handler.handle,
        fallback: server,
        keepAliveMs: t.keepAliveMs,
        headersMs: t.headersMs,
        maxHeaderSize: o.maxHeaderSize ?? 16 * 1024,
        stopping: () => this.stopping,
      });
      const fast = this.fast;
      this.listener = createNetServer({ noDelay: true }, (s) => fast.connection(s));
      // Node's server tracks its connections and checks their timeouts from 'listening'.
      server.emit('listening');
      this.server = server;
    }
    this.server.on('upgrade', new UpgradeHandler(this.handler).handle);
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => this.onClientError(err, socket));
    this.listener.on('connection', (s: Socket) => {
      this.sockets.add(s);
      this.metrics.connections(1);
      s.once('close', () => {
        this.sockets.delete(s);
        this.metrics.connections(-1);
      });
    });
  }

  /** Answers HTTP-01 challenges from now on (undefined: stop). */
  setAcmeResponder(fn: AcmeResponder | undefined): void {
    this.handler.acme = fn;
  }

  /** Websecure: the ticket keys of the server's own context (SNI contexts are the certificate store's). */
  setTicketKeys(keys: Buffer): void {
    this.tlsServer?.setTicketKeys(keys);
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
      this.listener.once('error', onError);
      this.listener.listen({ port: this.o.port, host }, () => {
        this.listener.off('error', onError);
        resolve();
      });
    });
    this.o.logger.info({ entrypoint: this.o.entrypoint, port: this.address().port }, 'entrypoint listening');
  }

  /** Stops accepting, lets in-flight requests finish for up to `graceMs`, then closes everything. */
  stop(graceMs = 5_000): Promise<void> {
    this.stopped ??= (async () => {
      this.stopping = true;
      if (this.listener.listening) {
        const server = this.server;
        const closed = new Promise<void>((resolve) => this.listener.close(() => resolve()));
        // Node's server of the plain entrypoint never listened: close() only stops its timers.
        if (this.listener !== this.server) server.close(() => undefined);
        // Connections go idle as their in-flight requests finish: close each as soon as it does.
        // HTTP/2 sessions get a GOAWAY and close when their streams are done.
        const closeIdle = () => {
          server.closeIdleConnections();
          this.fast?.closeIdle();
        };
        closeIdle();
        this.h2?.shutdown();
        const sweep = setInterval(closeIdle, 50);
        const timer = setTimeout(() => {
          this.h2?.destroy();
          for (const s of this.sockets) s.destroy();
        }, graceMs);
        await closed;
        clearInterval(sweep);
        clearTimeout(timer);
      }
      this.handler.close();
      await this.pools.close();
    })();
    return this.stopped;
  }

  address(): { port: number } {
    const a = this.listener.address();
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

/** True when `host` would get another certificate than the connection's SNI name (RFC 9110 421). */
function misdirected(certs: TlsCertificates, req: IncomingMessage, host: string): boolean {
  const sni = (req.socket as TLSSocket).servername;
  if (!sni || sni === host) return false;
  return certs.contextFor(canonicalName(sni)) !== certs.contextFor(host);
}
