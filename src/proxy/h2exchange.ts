/**
 * One request proxied to an h2c backend over a shared HTTP/2 session: headers translated to
 * HTTP/2 (Host becomes :authority, `te: trailers` kept for gRPC), body and response streamed with
 * backpressure, trailers passed through both ways (the response's grpc-status; the request's
 * those a proxy may pass).
 */
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { constants, sensitiveHeaders, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import { performance } from 'node:perf_hooks';
import type { UpstreamEndpoint } from '../controllers/routes/types.js';
import { isConnectFailure, statusForUpstreamError, upstreamErrorKind } from './errors.js';
import { logAccess, type ProxyHandler, type ProxyResponse, type Routed } from './handler.js';
import { isHopByHop, isPassableRequestTrailer } from './headers.js';
import { H2Stream, type H2Request } from './h2/stream.js';

/** A request's raw trailer fields as HTTP/2 trailers: lower-case names, those a proxy passes only, repeated names joined. */
export function requestTrailers(raw: readonly string[] | undefined): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  if (raw === undefined) return out;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (!isPassableRequestTrailer(name)) continue;
    const prev = out[name];
    out[name] = prev === undefined ? raw[i + 1]! : `${prev as string}, ${raw[i + 1]!}`;
  }
  return out;
}

export class H2Exchange {
  private stream: ClientHttp2Stream | undefined;
  private responded = false;
  private done = false;
  private finished = false;
  private attempt = 0;
  private status = 0;
  private bytes = 0;

  constructor(
    private readonly h: ProxyHandler,
    private readonly req: IncomingMessage,
    private readonly res: ProxyResponse,
    private readonly r: Routed,
    private ep: UpstreamEndpoint,
    /** Flat upstream headers as built for HTTP/1.1 (host included). */
    private readonly headers: string[],
    private readonly hasBody: boolean,
    private readonly start: number,
    private readonly clientIp: string,
    private readonly setCookie: string | undefined,
  ) {
    res.once('close', () => this.clientClosed());
  }

  send(): void {
    const o = this.h.o;
    const out: OutgoingHttpHeaders = { ':method': this.req.method ?? 'GET', ':path': this.r.target, ':scheme': 'http' };
    const hs = this.headers;
    for (let i = 0; i < hs.length; i += 2) {
      const name = hs[i]!.toLowerCase();
      const v = hs[i + 1]!;
      if (name === 'host') out[':authority'] = v;
      else if (name === 'te') {
        if (v === 'trailers') out.te = v;
      } else if (isHopByHop(name)) continue;
      else {
        const prev = out[name];
        if (prev === undefined) out[name] = v;
        else if (name === 'cookie') out[name] = `${prev as string}; ${v}`;
        else out[name] = Array.isArray(prev) ? [...prev, v] : [String(prev), v];
      }
    }
    // Fields an HTTP/2 client sent "never indexed" go to the backend never indexed (RFC 7541 7.1.3).
    const never = this.req.httpVersionMajor === 2 ? (this.req as unknown as H2Request).neverIndexed : undefined;
    if (never !== undefined) (out as Record<symbol, unknown>)[sensitiveHeaders] = never.filter((n) => out[n] !== undefined);
    let stream: ClientHttp2Stream;
    try {
      // With a body the stream ends with the request's trailer section (empty: an empty DATA frame
      // with END_STREAM), once the client's body, and with it its trailers, has ended.
      stream = o.pools.h2.get(this.ep).request(out, this.hasBody ? { endStream: false, waitForTrailers: true } : { endStream: true });
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    this.stream = stream;
    stream.setTimeout(this.h.o.pools.responseHeaderMs, () => this.onTimeout());
    stream.on('response', (headers, flags) => this.onResponse(headers, (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0));
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('trailers', (trailers) => this.onTrailers(trailers));
    stream.on('end', () => this.onEnd());
    stream.on('error', (err: Error) => this.fail(err));
    stream.on('close', () => {
      if (!this.done) this.fail(Object.assign(new Error(`stream closed by the backend (HTTP/2 code ${stream.rstCode})`), { code: 'ECONNRESET' }));
    });
    if (this.hasBody) {
      stream.on('wantTrailers', () => this.sendTrailers());
      this.req.pipe(stream);
    }
  }

  /** The client's request trailers that may pass (RFC 9110 6.5.1), on to the backend. */
  private sendTrailers(): void {
    const s = this.stream;
    // Also after the response has ended: with waitForTrailers the stream stays open until its
    // trailers (or a close) are sent.
    if (s === undefined || s.destroyed || s.closed) return;
    const t = requestTrailers((this.req as { rawTrailers?: string[] }).rawTrailers);
    try {
      s.sendTrailers(t);
    } catch (err) {
      this.fail(err as Error);
    }
  }

  private onResponse(headers: IncomingHttpHeaders, endStream: boolean): void {
    if (this.finished) return;
    const status = Number(headers[':status']);
    if (status < 200) return;
    this.responded = true;
    this.status = status;
    this.stream!.setTimeout(this.h.o.pools.upstreamIdleMs, () => this.onTimeout());
    const out: string[] = [];
    for (const name in headers) {
      if (name.charCodeAt(0) === 58 || isHopByHop(name)) continue;
      const v = headers[name];
      if (Array.isArray(v)) for (const x of v) out.push(name, x);
      else if (v !== undefined) out.push(name, v);
    }
    if (this.setCookie !== undefined) out.push('set-cookie', this.setCookie);
    // What the backend sent "never indexed" reaches an HTTP/2 client never indexed (RFC 7541 7.1.3).
    const never = (headers as Record<symbol, unknown>)[sensitiveHeaders];
    if (Array.isArray(never) && never.length > 0 && this.res instanceof H2Stream) this.res.neverIndex(never as string[]);
    if (endStream) {
      // Headers that end the stream (gRPC "Trailers-Only": grpc-status in the headers) must reach
      // the client the same way: one HEADERS frame with END_STREAM, no DATA, no trailers.
      this.done = true;
      const res = this.res;
      res.statusCode = status;
      for (let i = 0; i < out.length; i += 2) {
        const prev = res.getHeader(out[i]!);
        res.setHeader(out[i]!, prev === undefined ? out[i + 1]! : ([] as string[]).concat(prev as string | string[], out[i + 1]!));
      }
      res.end();
      return;
    }
    try {
      this.res.writeHead(status, out);
    } catch (err) {
      this.responded = false;
      this.fail(err as Error);
    }
  }

  private onData(chunk: Buffer): void {
    this.bytes += chunk.length;
    if (this.res.write(chunk)) return;
    const s = this.stream!;
    s.pause();
    this.res.once('drain', () => s.resume());
  }

  private onTrailers(trailers: IncomingHttpHeaders): void {
    const t: Record<string, string> = {};
    let any = false;
    for (const name in trailers) {
      if (name.charCodeAt(0) === 58 || isHopByHop(name)) continue;
      const v = trailers[name];
      if (v === undefined) continue;
      t[name] = Array.isArray(v) ? v.join(', ') : v;
      any = true;
    }
    if (any) this.res.addTrailers(t);
  }

  private onEnd(): void {
    if (this.done) return;
    this.done = true;
    if (!this.responded) {
      this.fail(Object.assign(new Error('the backend ended the stream without a response'), { code: 'ECONNRESET' }));
      return;
    }
    this.res.end();
  }

  private onTimeout(): void {
    this.fail(Object.assign(new Error('h2c backend timed out'), { code: 'UND_ERR_HEADERS_TIMEOUT' }));
  }

  private fail(e: Error): void {
    if (this.finished || (this.done && this.responded)) return;
    // A stream cancelled because its session failed carries the session's error (e.g. ECONNREFUSED).
    const err = (e as NodeJS.ErrnoException).code === 'ERR_HTTP2_STREAM_CANCEL' && e.cause instanceof Error ? e.cause : e;
    const o = this.h.o;
    const s = this.stream;
    if (s !== undefined && !s.closed) s.close(constants.NGHTTP2_CANCEL);
    const kind = upstreamErrorKind(err);
    o.metrics.upstreamError(kind);
    const connectFailed = isConnectFailure(err);
    if (connectFailed) o.balancer.markDown(this.ep.origin);
    if (this.responded) {
      this.done = true;
      this.res.destroy(err);
      return;
    }
    // A connection that was never made carried none of the request: try another endpoint once.
    if (connectFailed && this.attempt === 0 && !this.hasBody) {
      const next = o.balancer.pick(this.r.route.backend, this.ep);
      if (next !== undefined) {
        this.attempt++;
        this.ep = next;
        this.send();
        return;
      }
    }
    this.done = true;
    const status = statusForUpstreamError(kind);
    const body = `backend ${this.r.route.backend.id} ${kind === 'timeout' ? 'timed out' : `failed (${kind}: ${(err as NodeJS.ErrnoException).code ?? err.message})`}\n`;
    this.status = status;
    this.bytes = body.length;
    if (this.res.headersSent) {
      this.res.destroy(err);
      return;
    }
    this.res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': body.length, 'cache-control': 'no-store' });
    this.res.end(this.req.method === 'HEAD' ? undefined : body);
    if (o.logger.isLevelEnabled('debug')) o.logger.debug({ err: err.message, backend: this.r.route.backend.id, upstream: this.ep.origin }, 'h2c upstream request failed');
  }

  private clientClosed(): void {
    if (this.finished) return;
    this.finished = true;
    if (!this.done) {
      this.done = true;
      if (this.status === 0) this.status = 499;
    }
    // A stream still open now is the client's side of it: the client went away, or the backend
    // answered before the request body ended (the rest of the body is not read). Cancelled, not
    // left open in the session.
    const s = this.stream;
    if (s !== undefined && !s.closed) s.close(constants.NGHTTP2_CANCEL);
    const o = this.h.o;
    o.metrics.routeRequest(this.r.route, this.r.route.id, this.status, this.req.method ?? '', (performance.now() - this.start) / 1000);
    if (o.accessLog !== null) {
      logAccess(o.accessLog, o.entrypoint, this.req, this.r.host, this.r.target, this.status, this.start, this.bytes, this.r.route.id, this.ep.origin, this.clientIp);
    }
  }
}
