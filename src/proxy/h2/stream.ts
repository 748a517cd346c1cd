/**
 * One HTTP/2 request stream as ProxyHandler sees it: H2Request (an IncomingMessage-like request
 * whose body is a Readable fed by DATA frames) and H2Stream (the stream itself, which is also the
 * response the handler and its exchanges write: ProxyResponse). The connection (connection.ts)
 * owns framing, flow control and the wire; a stream only turns calls into frames through it.
 */
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { Readable } from 'node:stream';
import type { ProxyResponse, ResponseHeaders } from '../handler.js';
import type { H2Connection } from './connection.js';

type Listener = (this: ProxyResponse) => void;

function ignore(): void {}

// Connection-specific fields HTTP/2 forbids (RFC 9113 8.2.2): never sent in a response.
const FORBIDDEN: Record<string, 1 | undefined> = Object.assign(Object.create(null) as Record<string, 1 | undefined>, {
  connection: 1,
  'keep-alive': 1,
  'proxy-connection': 1,
  'transfer-encoding': 1,
  upgrade: 1,
} as const);

/** The request: what ProxyHandler reads of an IncomingMessage. Its body is a Readable made on demand. */
export class H2Request {
  readonly httpVersionMajor = 2;
  readonly httpVersionMinor = 0;
  private record: Record<string, string | string[]> | undefined;
  constructor(
    readonly stream: H2Stream,
    readonly method: string,
    readonly url: string,
    /** :authority, or undefined (then Host, if any, is the authority). */
    readonly authority: string | undefined,
    readonly scheme: string,
    /** Regular fields, flat (name, value, ...), cookies joined into one (RFC 9113 8.2.3). */
    readonly rawHeaders: string[],
    readonly socket: TLSSocket,
    /** Names of the fields the client sent "never indexed" (RFC 7541 7.1), or undefined. */
    readonly neverIndexed?: readonly string[],
  ) {}

  /** The request's trailer fields, flat, once the body has ended (as IncomingMessage.rawTrailers). */
  rawTrailers: string[] = [];

  /** The fields as a record, pseudo-header fields included (built when first asked for). */
  get headers(): Record<string, string | string[]> {
    if (this.record !== undefined) return this.record;
    const h: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
    h[':method'] = this.method;
    h[':scheme'] = this.scheme;
    h[':path'] = this.url;
    if (this.authority !== undefined) h[':authority'] = this.authority;
    const raw = this.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const n = raw[i]!;
      const prev = h[n];
      h[n] = prev === undefined ? raw[i + 1]! : Array.isArray(prev) ? [...prev, raw[i + 1]!] : [prev, raw[i + 1]!];
    }
    this.record = h;
    return h;
  }

  /** The whole body arrived (END_STREAM). */
  get complete(): boolean {
    return this.stream.remoteEnded;
  }

  // --- the body, for the upstream clients ---
  on(event: string, fn: (...args: unknown[]) => void): this {
    this.stream.body().on(event, fn);
    return this;
  }
  off(event: string, fn: (...args: unknown[]) => void): this {
    this.stream.body().off(event, fn);
    return this;
  }
  once(event: string, fn: (...args: unknown[]) => void): this {
    this.stream.body().once(event, fn);
    return this;
  }
  pause(): this {
    this.stream.body().pause();
    return this;
  }
  resume(): this {
    this.stream.body().resume();
    return this;
  }
  pipe<T extends NodeJS.WritableStream>(dest: T): T {
    return this.stream.body().pipe(dest);
  }
}

/** Stream states this side cares about (RFC 9113 5.1), as bits. */
const REMOTE_ENDED = 1;
const LOCAL_ENDED = 2;
const CLOSED = 4;

export class H2Stream implements ProxyResponse {
  statusCode = 200;
  headersSent = false;
  /** HTTP/1.1 only; an HTTP/2 stream never keeps or closes the connection. */
  shouldKeepAlive = true;
  req!: H2Request;
  /** The client said it takes trailers (TE: trailers); otherwise trailers are not sent. */
  teTrailers = false;
  /** Response field names the backend sent "never indexed": sent so to the client (see neverIndex). */
  neverIndexed: Set<string> | undefined;
  /** The HEADERS frame ended the stream: no body. */
  endAfterHeaders = false;
  /** Content-Length the client declared, -1 if none; the DATA received (counted by the connection) must add up to it. */
  declaredLength = -1;
  received = 0;
  /** What the client may still send on this stream; what we may still send (flow control). */
  recvWindow: number;
  sendWindow: number;
  /** Body bytes handed to the reader but not yet returned to the client's window. */
  unacked = 0;
  /** DATA waiting for flow-control window, in order; `queued` bytes in all. */
  queue: Buffer[] = [];
  queued = 0;
  /** The sweep by which the whole request body must have arrived (0: none). */
  bodyDue = 0;
  /** END_STREAM (or trailers) to send once `queue` is out. */
  endPending = false;
  /** Trailers to end with instead of an empty END_STREAM. */
  endTrailers: string[] | undefined;
  private state = 0;
  private head = false;
  private pending: Record<string, string | string[]> | undefined;
  private trailers: string[] | undefined;
  private closeListeners: Listener[] | undefined;
  private drainListeners: { fn: Listener; once: boolean }[] | undefined;
  /** A write returned false: 'drain' is owed. */
  needDrain = false;
  private reader: Readable | undefined;

  constructor(
    readonly conn: H2Connection,
    readonly id: number,
    recvWindow: number,
    sendWindow: number,
  ) {
    this.recvWindow = recvWindow;
    this.sendWindow = sendWindow;
  }

  /** Called by the connection once the request is known. */
  start(req: H2Request, endAfterHeaders: boolean): void {
    this.req = req;
    this.head = req.method === 'HEAD';
    this.endAfterHeaders = endAfterHeaders;
    if (endAfterHeaders) this.state |= REMOTE_ENDED;
  }

  get remoteEnded(): boolean {
    return (this.state & REMOTE_ENDED) !== 0;
  }
  get localEnded(): boolean {
    return (this.state & LOCAL_ENDED) !== 0;
  }
  get closed(): boolean {
    return (this.state & CLOSED) !== 0;
  }

  // --- request body (connection side) ---

  /** The body as a Readable (an ended one for a bodyless request). */
  body(): Readable {
    if (this.reader !== undefined) return this.reader;
    const r = new Readable({ highWaterMark: 64 * 1024, read: () => this.conn.bodyRead(this) });
    // A body cut short fails its reader; one nobody reads any more must not throw for want of a listener.
    r.on('error', ignore);
    if (this.remoteEnded) r.push(null);
    this.reader = r;
    return r;
  }

  /** DATA for this stream; false when the reader wants no more for now (its window stays held). */
  data(chunk: Buffer): boolean {
    return this.body().push(chunk);
  }

  /** END_STREAM from the client. */
  remoteEnd(): void {
    this.state |= REMOTE_ENDED;
    // A reader made later starts ended (see body()).
    if (this.reader !== undefined) this.reader.push(null);
  }

  // --- ProxyResponse ---

  on(event: string, fn: Listener): this {
    if (event === 'close') (this.closeListeners ??= []).push(fn);
    else if (event === 'drain') (this.drainListeners ??= []).push({ fn, once: false });
    return this;
  }

  once(event: string, fn: Listener): this {
    if (event === 'close') return this.on('close', fn);
    if (event === 'drain') (this.drainListeners ??= []).push({ fn, once: true });
    return this;
  }

  setHeader(name: string, value: string | string[]): void {
    (this.pending ??= {})[name.toLowerCase()] = value;
  }

  getHeader(name: string): string | string[] | number | undefined {
    return this.pending?.[name.toLowerCase()];
  }

  /**
   * Fields of the response the backend sent "never indexed" (an h2c backend's sensitive headers):
   * they reach the client as never-indexed literals too (RFC 7541 7.1.3). Before writeHead.
   */
  neverIndex(names: readonly string[]): void {
    const set = (this.neverIndexed ??= new Set());
    for (const n of names) set.add(n.toLowerCase());
  }

  writeHead(status: number, reasonOrHeaders?: string | ResponseHeaders, maybeHeaders?: ResponseHeaders): this {
    return this.begin(status, typeof reasonOrHeaders === 'string' ? maybeHeaders : reasonOrHeaders, false);
  }

  /**
   * Sends the head. `ending`: end() with no body was called first; the head then ends the stream
   * and carries any trailers itself (a trailers-only response, as gRPC errors are).
   */
  private begin(status: number, headers: ResponseHeaders | undefined, ending: boolean): this {
    if (this.headersSent) throw new Error('headers already sent');
    this.statusCode = status;
    this.headersSent = true;
    if (this.closed) return this;
    const f: string[] = [':status', String(status)];
    if (Array.isArray(headers)) for (let i = 0; i < headers.length; i += 2) addField(f, headers[i]!, headers[i + 1]!);
    else if (headers !== undefined) for (const k in headers) addField(f, k, headers[k]!);
    const p = this.pending;
    if (p !== undefined) for (const k in p) addField(f, k, p[k]!);
    const bodyless = ending || this.head || status === 204 || status === 304;
    if (ending && this.trailers !== undefined) for (let i = 0; i < this.trailers.length; i++) f.push(this.trailers[i]!);
    this.conn.sendHeaders(this, f, bodyless);
    if (bodyless) this.localEnd();
    return this;
  }

  write(chunk: Buffer | string): boolean {
    if (!this.headersSent) this.begin(this.statusCode, undefined, false);
    if (this.head || this.localEnded || this.closed) return true;
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (b.length === 0) return true;
    if (this.conn.sendData(this, b, false)) return true;
    this.needDrain = true;
    return false;
  }

  end(chunk?: Buffer | string): this {
    if (!this.headersSent) {
      this.begin(this.statusCode, undefined, chunk === undefined || this.head);
      if (chunk === undefined || this.head) return this;
    }
    if (this.localEnded || this.closed) return this;
    const b = this.head || chunk === undefined ? undefined : typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    const t = this.teTrailers && this.trailers !== undefined ? this.trailers : undefined;
    this.localEnd();
    this.conn.sendEnd(this, b, t);
    return this;
  }

  addTrailers(t: [string, string][] | Record<string, string>): void {
    const out = (this.trailers ??= []);
    if (Array.isArray(t)) for (const [n, v] of t) addField(out, n, v);
    else for (const n in t) addField(out, n, t[n]!);
  }

  destroy(_err?: Error): void {
    if (!this.closed) this.conn.resetStream(this, 0x2 /* INTERNAL_ERROR */);
  }

  private localEnd(): void {
    this.state |= LOCAL_ENDED;
  }

  // --- connection side ---

  /** The connection can take more: owed 'drain' listeners run. */
  drained(): void {
    if (!this.needDrain || this.queued > 0) return;
    this.needDrain = false;
    const ls = this.drainListeners;
    if (ls === undefined) return;
    this.drainListeners = ls.filter((l) => !l.once);
    for (const l of ls) l.fn.call(this);
  }

  /**
   * The stream is over (response sent, reset by either side, or the connection gone): the body
   * reader fails if it had not ended, and the handler's close listeners run, once.
   */
  close(err: Error | undefined): void {
    if (this.closed) return;
    this.state |= CLOSED;
    const r = this.reader;
    // Finished normally while the client still sent a body: the reader just stops.
    if (r !== undefined && !r.readableEnded && !this.remoteEnded) r.destroy(err);
    this.queue = [];
    this.queued = 0;
    const ls = this.closeListeners;
    this.closeListeners = undefined;
    if (ls !== undefined) for (const fn of ls) fn.call(this);
  }
}

/** Appends a response field: lower-case name, connection-specific fields left out, lists as repeats. */
function addField(out: string[], name: string, value: string | number | string[]): void {
  const n = name.toLowerCase();
  if (FORBIDDEN[n] === 1) return;
  if (Array.isArray(value)) for (const v of value) out.push(n, v);
  else out.push(n, typeof value === 'string' ? value : String(value));
}

/** The request as the handler's signature types it. */
export function asIncoming(req: H2Request): IncomingMessage {
  return req as unknown as IncomingMessage;
}
