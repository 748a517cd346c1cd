/**
 * HTTP/2 requests on the websecure entrypoint without Node's compatibility layer: each stream is
 * served by the same ProxyHandler through a thin request/response pair over the core stream API
 * (Http2ServerRequest/Response and their per-stream bookkeeping were about a third of the CPU of
 * a proxied h2 request). CONNECT and Expect go to the compatibility layer, as before.
 *
 * Trailers: a response is opened with `waitForTrailers` only when the client said it takes
 * trailers (`TE: trailers`, as gRPC clients do), so other responses end with their last DATA
 * frame instead of an extra empty trailers step.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { constants } from 'node:http2';
import type { IncomingMessage } from 'node:http';
import type { ProxyResponse } from './handler.js';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';

type Handle = (req: IncomingMessage, res: ProxyResponse) => void;
type Listener = (this: H2Response) => void;

/** The response of a stream, for the stream's listeners (shared functions, no closure per stream). */
const kResponse = Symbol('gangplank.h2response');
type Stream = ServerHttp2Stream & { [kResponse]?: H2Response };

function onStreamClose(this: Stream): void {
  this[kResponse]?.closed();
}

/** A stream reset by the client surfaces as an error event: 'close' follows and says it all. */
function ignore(): void {}

/** Serves one stream, or returns false to leave it to the compatibility layer. */
export function serveStream(handle: Handle, stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders: string[]): boolean {
  const method = headers[':method'];
  if (method === 'CONNECT' || headers.expect !== undefined) return false;
  const req = new H2Request(stream, headers, rawHeaders);
  const res = new H2Response(stream, req);
  handle(req as unknown as IncomingMessage, res);
  return true;
}

/** The request as ProxyHandler reads it; its body is the stream's readable side. */
class H2Request {
  readonly httpVersionMajor = 2;
  readonly httpVersionMinor = 0;
  readonly method: string;
  readonly url: string;
  readonly socket: Socket;
  readonly teTrailers: boolean;
  constructor(
    readonly stream: ServerHttp2Stream,
    readonly headers: IncomingHttpHeaders,
    readonly rawHeaders: string[],
  ) {
    this.method = (headers[':method'] as string | undefined) ?? 'GET';
    this.url = (headers[':path'] as string | undefined) ?? '';
    this.socket = stream.session!.socket as Socket;
    const te = headers.te;
    this.teTrailers = typeof te === 'string' && te.toLowerCase().includes('trailers');
  }
  get complete(): boolean {
    return this.stream.readableEnded;
  }
  // --- the body, for the upstream clients ---
  on(event: string, fn: (...args: unknown[]) => void): this {
    this.stream.on(event, fn);
    return this;
  }
  off(event: string, fn: (...args: unknown[]) => void): this {
    this.stream.off(event, fn);
    return this;
  }
  once(event: string, fn: (...args: unknown[]) => void): this {
    this.stream.once(event, fn);
    return this;
  }
  pause(): this {
    this.stream.pause();
    return this;
  }
  resume(): this {
    this.stream.resume();
    return this;
  }
  pipe<T extends NodeJS.WritableStream>(dest: T): T {
    return (this.stream as unknown as Readable).pipe(dest);
  }
}

// Connection-specific fields HTTP/2 forbids (RFC 9113 8.2.2); Node throws on them.
const FORBIDDEN: Record<string, 1 | undefined> = Object.assign(Object.create(null) as Record<string, 1 | undefined>, {
  connection: 1,
  'keep-alive': 1,
  'proxy-connection': 1,
  'transfer-encoding': 1,
  upgrade: 1,
} as const);

/** Adds a field to an HTTP/2 header object: lower-case name, connection-specific fields left out, repeats joined in a list. */
function addHeader(out: OutgoingHttpHeaders, name: string, value: string | number | string[]): void {
  const n = name.toLowerCase();
  if (FORBIDDEN[n] === 1) return;
  const prev = out[n];
  if (prev === undefined) out[n] = value;
  else out[n] = ([] as (string | number)[]).concat(prev as string | number | string[], value).map(String);
}

/** The response as ProxyHandler and its exchanges write it, over the core stream API. */
class H2Response implements ProxyResponse {
  shouldKeepAlive = true;
  headersSent = false;
  statusCode = 200;
  private pending: OutgoingHttpHeaders | undefined;
  private trailers: OutgoingHttpHeaders | undefined;
  private closeListeners: Listener[] | undefined;
  private readonly head: boolean;

  constructor(
    private readonly stream: ServerHttp2Stream,
    private readonly req: H2Request,
  ) {
    this.head = req.method === 'HEAD';
    (stream as Stream)[kResponse] = this;
    stream.on('close', onStreamClose);
    stream.on('error', ignore);
  }

  /** The stream closed (once): the handler's close listeners run. */
  closed(): void {
    const ls = this.closeListeners;
    this.closeListeners = undefined;
    if (ls !== undefined) for (const fn of ls) fn.call(this);
  }

  on(event: string, fn: Listener): this {
    if (event === 'close') (this.closeListeners ??= []).push(fn);
    else if (event === 'drain') this.stream.on('drain', () => fn.call(this));
    return this;
  }

  once(event: string, fn: Listener): this {
    if (event === 'close') return this.on('close', fn);
    if (event === 'drain') this.stream.once('drain', () => fn.call(this));
    return this;
  }

  setHeader(name: string, value: string | string[]): void {
    (this.pending ??= {})[name.toLowerCase()] = value;
  }

  getHeader(name: string): string | string[] | number | undefined {
    return this.pending?.[name.toLowerCase()];
  }

  writeHead(status: number, reasonOrHeaders?: string | string[] | OutgoingHttpHeaders, maybeHeaders?: string[] | OutgoingHttpHeaders): this {
    return this.begin(status, typeof reasonOrHeaders === 'string' ? maybeHeaders : reasonOrHeaders, false);
  }

  /**
   * Sends the head. `ending`: end() with no body was called first; the head then ends the stream
   * and carries any trailers itself (a trailers-only response, as gRPC errors are).
   */
  private begin(status: number, headers: string[] | OutgoingHttpHeaders | undefined, ending: boolean): this {
    if (this.headersSent) throw new Error('headers already sent');
    this.statusCode = status;
    const out: OutgoingHttpHeaders = { ':status': status };
    if (Array.isArray(headers)) for (let i = 0; i < headers.length; i += 2) addHeader(out, headers[i]!, headers[i + 1]!);
    else if (headers !== undefined) for (const k of Object.keys(headers)) addHeader(out, k, headers[k] as string | number | string[]);
    if (this.pending !== undefined) for (const k of Object.keys(this.pending)) addHeader(out, k, this.pending[k] as string | number | string[]);
    if (ending && this.trailers !== undefined) for (const k of Object.keys(this.trailers)) addHeader(out, k, this.trailers[k] as string | number | string[]);
    this.headersSent = true;
    const s = this.stream;
    if (s.destroyed || s.closed) return this;
    const bodyless = ending || this.head || status === 204 || status === 304;
    const waitForTrailers = this.req.teTrailers && !bodyless;
    if (waitForTrailers) s.once('wantTrailers', () => s.sendTrailers(this.trailers ?? {}));
    s.respond(out, { endStream: bodyless, waitForTrailers });
    return this;
  }

  write(chunk: Buffer | string): boolean {
    if (!this.headersSent) this.begin(this.statusCode, undefined, false);
    const s = this.stream;
    if (this.head || s.destroyed || s.writableEnded) return true;
    return s.write(chunk);
  }

  end(chunk?: Buffer | string): this {
    if (!this.headersSent) {
      this.begin(this.statusCode, undefined, chunk === undefined || this.head);
      if (chunk === undefined || this.head) return this;
    }
    const s = this.stream;
    if (s.destroyed || s.writableEnded) return this;
    if (this.head || chunk === undefined) s.end();
    else s.end(chunk);
    return this;
  }

  addTrailers(t: [string, string][] | Record<string, string>): void {
    const list = Array.isArray(t) ? t : Object.entries(t);
    const out = (this.trailers ??= {});
    for (const [n, v] of list) if (FORBIDDEN[n.toLowerCase()] !== 1) out[n.toLowerCase()] = v;
  }

  destroy(_err?: Error): void {
    const s = this.stream;
    if (!s.destroyed) s.close(constants.NGHTTP2_INTERNAL_ERROR);
  }
}
