/**
 * The HTTP/1.1 fast path of the plain-HTTP entrypoint: the common request (a complete, strictly
 * well-formed head in origin form, no request body, no upgrade, no Expect) is parsed here and
 * served by the same ProxyHandler, through a lightweight request/response pair written straight
 * to the socket, without Node's HTTP server (its parser callbacks and the IncomingMessage and
 * ServerResponse streams were the largest JavaScript cost per proxied request).
 *
 * Everything else is handed to Node's HTTP server, which then owns the connection for good: the
 * bytes read so far are put back on the socket and the server is given the connection as if it
 * had just accepted it. So unusual, malformed and hostile input meets exactly the parser and the
 * limits it met before; this code only has to recognise the plain case, strictly.
 */
import type { IncomingMessage, Server } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { hasLineBreak, headEnd, scanFields, tokenEnd } from './fields.js';
import type { ProxyResponse } from './handler.js';
import type { ResponseHead } from './h1parse.js';
import { FIELD_CONTENT_LENGTH, FIELD_DATE, FIELD_PLAIN, downstreamResponseHeaders } from './headers.js';
import { DeadlineSweeper, type Expiring } from './deadlines.js';
import { pushCopy, readInto } from './reads.js';
import { atTurnEnd, beforeTurnWrites, TurnBatch, type TurnWriter } from './turnwrites.js';

/** What the fast path needs from its entrypoint. */
export interface FastPathOptions {
  /** Serves one request (ProxyHandler.handle). */
  handle: (req: IncomingMessage, res: ProxyResponse) => void;
  /** Node's server that takes over whatever the fast path does not serve. */
  fallback: Server;
  keepAliveMs: number;
  /** A client must send a complete request head within this long (else Node's server takes over). */
  headersMs: number;
  maxHeaderSize: number;
  /** True once the entrypoint is stopping: responses then close their connection. */
  stopping: () => boolean;
}

const MAX_FIELDS = 100;
const FIELD_SCRATCH: string[] = [];
/**
 * The method a request line starts with when its method token (the first `n` characters of
 * `text`) is one the fast path serves, as its own literal: the request carries the literal on,
 * not a slice of the head. Compared, not looked up as a property key: a key is turned into a
 * ThinString, which V8 types as two-byte, and every string joined with it (the upstream request
 * head) was then built two bytes per character and converted back to latin1 when written.
 */
function knownMethod(text: string, n: number): string | undefined {
  switch (n) {
    case 3:
      return text.startsWith('GET') ? 'GET' : text.startsWith('PUT') ? 'PUT' : undefined;
    case 4:
      return text.startsWith('HEAD') ? 'HEAD' : text.startsWith('POST') ? 'POST' : undefined;
    case 5:
      return text.startsWith('PATCH') ? 'PATCH' : text.startsWith('TRACE') ? 'TRACE' : undefined;
    case 6:
      return text.startsWith('DELETE') ? 'DELETE' : undefined;
    case 7:
      return text.startsWith('OPTIONS') ? 'OPTIONS' : undefined;
    default:
      return undefined;
  }
}

/** The parts of a request head the fast path serves; undefined = hand the connection over. */
interface Head {
  method: string;
  url: string;
  minor: number;
  rawHeaders: string[];
  keepAlive: boolean;
}

/** Parses `text` (a head without its final empty line); undefined for anything but the plain case. */
export function parsePlainHead(text: string): Head | undefined {
  // The request line: a method token, an origin-form target of visible ASCII, HTTP/1.0 or 1.1.
  const m = tokenEnd(text, 0);
  if (m === 0 || text.charCodeAt(m) !== 32 || text.charCodeAt(m + 1) !== 47) return undefined; // ' /'
  // Methods Node's parser knows; any other token is Node's server's to refuse, as it always did.
  const method = knownMethod(text, m);
  if (method === undefined) return undefined;
  let t = m + 2;
  let c = text.charCodeAt(t);
  while (c > 32 && c < 127) c = text.charCodeAt(++t);
  if (c !== 32 || !text.startsWith('HTTP/1.', t + 1) || text.charCodeAt(t + 9) !== 13 || text.charCodeAt(t + 10) !== 10) return undefined;
  const v = text.charCodeAt(t + 8);
  if (v !== 48 && v !== 49) return undefined;
  const minor = v === 49 ? 1 : 0;
  // Header lines with the response parser's grammar (src/proxy/fields.ts); more than MAX_FIELDS
  // or anything else is Node's server's.
  // Scanned into one reused list and copied at their number: a list grown by push per request
  // had room for 17 entries before its first field.
  const scratch = FIELD_SCRATCH;
  scratch.length = 0;
  if (scanFields(text, t + 11, scratch, MAX_FIELDS) < text.length) return undefined;
  const rawHeaders = scratch.slice();
  let connection: string | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const n = name.length;
    if (n === 6 || n === 7 || n === 10 || n === 14 || n === 17) {
      const lower = name.toLowerCase();
      const value = rawHeaders[i + 1]!;
      // A body, a protocol switch or a 100-continue dance: Node's server does those.
      if (lower === 'transfer-encoding' || lower === 'upgrade' || lower === 'expect') return undefined;
      if (lower === 'content-length' && value !== '0') return undefined;
      if (lower === 'connection') connection = connection === undefined ? value : connection + ',' + value;
    }
  }
  const tokens = connection === undefined ? '' : connection.toLowerCase();
  const keepAlive = minor === 1 ? !tokens.includes('close') : tokens.includes('keep-alive') && !tokens.includes('close');
  return { method, url: text.slice(m + 1, t), minor, rawHeaders, keepAlive };
}

let dateCache = '';
let dateCacheAt = 0;
/** The Date header value, rebuilt at most once per second (as Node's server does). */
function httpDate(): string {
  const now = Date.now();
  if (now - dateCacheAt >= 1000) {
    dateCacheAt = now - (now % 1000);
    dateCache = new Date(now).toUTCString();
  }
  return dateCache;
}

let dateLineCache = Buffer.alloc(0);
let dateLineOf = '';
/** `date: <httpDate()>\r\n` as bytes, rebuilt when httpDate() changes. */
function dateLine(): Buffer {
  const d = httpDate();
  if (d !== dateLineOf) {
    dateLineOf = d;
    dateLineCache = Buffer.from(`date: ${d}\r\n`, 'latin1');
  }
  return dateLineCache;
}

/** Accepts connections for the fast path. */
export class FastPath implements TurnWriter {
  readonly conns = new Set<FastConn>();
  /** The end of a keep-alive response head (the same for every response), as a string and as bytes. */
  readonly keepAliveLines: string;
  readonly keepAliveTail: Buffer;
  /** How long a new connection may stay silent before Node's server takes it (and its timeouts). */
  readonly firstWaitMs: number;
  /** The connections' idle deadlines (see FastConn.arm). */
  readonly deadlines: DeadlineSweeper;
  constructor(readonly o: FastPathOptions) {
    this.keepAliveLines = `connection: keep-alive\r\nkeep-alive: timeout=${Math.floor(o.keepAliveMs / 1000)}\r\n\r\n`;
    this.keepAliveTail = Buffer.from(this.keepAliveLines, 'latin1');
    this.firstWaitMs = Math.min(1_000, o.headersMs / 2);
    this.deadlines = new DeadlineSweeper(this.conns, [o.keepAliveMs, this.firstWaitMs]);
  }

  connection(socket: Socket): void {
    const c = new FastConn(this, socket);
    this.conns.add(c);
  }

  /** Connections with a request parsed in this turn, served at its end (see serveAtTurnEnd). */
  private readonly parsed = new TurnBatch<FastConn>();
  private readonly server: TurnWriter = { flushTurn: () => this.parsed.drain(serveConn) };

  /**
   * `c` has parsed a request: it is served at the end of the turn, with the others parsed in the
   * turn, before the turn's writes go out (src/proxy/turnwrites.ts). Served as each is parsed,
   * the reading and the routing and forwarding of a turn's requests interleave; served together,
   * each kind of work runs back to back: 4-5% more requests per CPU second, at one host and at
   * 10,000 (docs/benchmarks.md, item 51). No later than before: the writes go out at the turn's
   * end as they did.
   */
  serveAtTurnEnd(c: FastConn): void {
    if (this.parsed.add(c)) beforeTurnWrites(this.server);
  }

  /** Responses ended in this turn, closed at its end (see closeSoon). */
  private readonly ended = new TurnBatch<FastResponse>();

  /**
   * A response ended: its 'close' follows at the end of the event-loop turn, with the turn's held
   * writes (src/proxy/turnwrites.ts), as Node's response emits it on a later tick (the exchange
   * learns first that the backend's response completed; the client's connection then takes its
   * next request). Not process.nextTick or queueMicrotask, one per response: after a tick Node 20
   * runs its tick queue and allocates a new Map (for unhandled rejections) every time, and
   * queueMicrotask makes an AsyncResource and a bound function per call; together 9-12% of the
   * bytes allocated per proxied request.
   */
  closeSoon(r: FastResponse): void {
    if (this.ended.add(r)) atTurnEnd(this);
  }

  /** TurnWriter: closes the responses that ended in this turn (each even if a listener of another throws, as with a tick each). */
  flushTurn(): void {
    this.ended.drain(closeEnded);
  }

  /** Graceful stop: idle connections close now, busy ones after their response. */
  closeIdle(): void {
    for (const c of this.conns) c.closeIfIdle();
  }
}

type Listener = (this: FastResponse) => void;

/** Serves a connection's request parsed in this turn (FastPath.serveAtTurnEnd): each even if the handling of another throws. */
function serveConn(c: FastConn): void {
  c.serve();
}

function closeEnded(r: FastResponse): void {
  r.close(true);
}

/**
 * One client connection on the fast path: reads request heads and serves them one at a time
 * (pipelined requests wait in the buffer), until it hands the connection over or it closes.
 */
class FastConn implements Expiring, TurnWriter {
  private buf: Buffer | undefined;
  private res: FastResponse | undefined;
  /** The request parsed and waiting to be served at the end of the turn (FastPath.serveAtTurnEnd). */
  private parsed: FastRequest | undefined;
  private gone = false;
  /** Reads come from the shared client buffer (src/proxy/reads.ts) rather than as 'data' events. */
  private readonly shared: boolean;
  /** Node's server owns the connection now: reads are pushed to the socket's stream for it. */
  private handedOver = false;
  private readonly onData = (d: Buffer) => this.data(d, false);

  /** Complete responses written at the end of the event-loop turn (flushTurn); every other write of the socket goes after them. */
  private turnOut: Buffer | undefined;
  /** Runs while a partial head waits for its rest (see next). */
  private headTimer: NodeJS.Timeout | undefined;
  /** Requests served on this connection (before the first, a quiet client is Node's server's to time out). */
  private served = 0;
  /**
   * The idle limit while no request is being served: `limitMs` of silence (0: none), due at
   * sweep `deadline` of the FastPath's DeadlineSweeper (src/proxy/deadlines.ts).
   */
  private limitMs = 0;
  private deadline = 0;

  constructor(
    readonly fp: FastPath,
    readonly socket: Socket,
  ) {
    socket.setNoDelay(true);
    // A new connection that sends nothing is handed over soon, so that Node's server applies its
    // own headers timeout (and answers 408) as it always did.
    this.arm(fp.firstWaitMs);
    this.shared = readInto(socket, (n, b) => this.read(n, b));
    if (!this.shared) socket.on('data', this.onData);
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      this.gone = true;
      if (this.headTimer !== undefined) clearTimeout(this.headTimer);
      this.fp.conns.delete(this);
      this.res?.clientGone();
    });
  }

  /** A read from the shared buffer: `n` bytes of `b`, valid only until this returns. */
  private read(n: number, b: Buffer): boolean {
    if (this.handedOver) return pushCopy(this.socket, n, b);
    if (!this.gone) this.data(b.subarray(0, n), true); // gone: read and dropped (see shut)
    return true;
  }

  /** `shared`: `d` is a view of the shared read buffer; whatever is kept past this call is copied. */
  private data(d: Buffer, shared: boolean): void {
    const joined = this.buf !== undefined;
    this.buf = joined ? Buffer.concat([this.buf!, d]) : d;
    if (this.res === undefined) this.next();
    else if (this.buf.length > this.fp.o.maxHeaderSize) this.socket.pause(); // pipelined ahead: wait
    if (shared && !joined && this.buf !== undefined) this.buf = Buffer.from(this.buf);
  }

  /** Serves the next buffered request, or waits for one, or hands over. */
  next(): void {
    const buf = this.buf;
    if (buf === undefined || this.gone) return;
    const end = headEnd(buf, 0);
    if (end < 0 && buf.length <= this.fp.o.maxHeaderSize) {
      // The rest of the head is on its way (a head larger than one TCP segment): wait for it, but
      // briefly and by the clock, so a client trickling bytes cannot hold the fast path; then
      // Node's server takes over with its own headers timeout.
      this.headTimer ??= setTimeout(() => this.handOver(), this.fp.firstWaitMs);
      if (this.limitMs !== 0) this.arm(this.limitMs); // bytes came: the idle limit starts over
      return;
    }
    if (this.headTimer !== undefined) {
      clearTimeout(this.headTimer);
      this.headTimer = undefined;
    }
    if (end < 0 || end + 4 > this.fp.o.maxHeaderSize) {
      // An over-long head: Node's server answers it with its limits.
      this.handOver();
      return;
    }
    const head = parsePlainHead(buf.toString('latin1', 0, end + 2));
    if (head === undefined) {
      this.handOver();
      return;
    }
    this.buf = end + 4 === buf.length ? undefined : buf.subarray(end + 4);
    this.limitMs = 0; // no idle limit while serving (the exchange has its own)
    this.served++;
    const req = new FastRequest(head, this.socket);
    this.res = new FastResponse(this, req, head.keepAlive);
    this.parsed = req;
    this.fp.serveAtTurnEnd(this);
  }

  /** Serves the request parsed in this turn, unless the client has gone since. */
  serve(): void {
    const req = this.parsed;
    this.parsed = undefined;
    if (req === undefined || this.gone || this.res === undefined) return;
    this.fp.o.handle(req as unknown as IncomingMessage, this.res);
  }

  /** The response is out: the next request, or close. */
  finished(keepAlive: boolean): void {
    this.res = undefined;
    if (!keepAlive || this.fp.o.stopping()) {
      this.shut();
      return;
    }
    this.arm(this.fp.o.keepAliveMs);
    if (this.socket.isPaused()) this.socket.resume();
    if (this.buf !== undefined) this.next();
  }

  /** Holds a complete response for the end of the turn (src/proxy/turnwrites.ts). */
  holdForTurn(b: Buffer): void {
    if (this.turnOut === undefined) {
      this.turnOut = b;
      atTurnEnd(this);
    } else this.turnOut = Buffer.concat([this.turnOut, b]);
  }

  /** Writes the held responses; called at the end of the turn and before any other write or close. */
  flushTurn(): void {
    const b = this.turnOut;
    if (b === undefined) return;
    this.turnOut = undefined;
    if (!this.socket.destroyed) this.socket.write(b);
  }

  closeIfIdle(): void {
    if (this.res === undefined) this.shut();
  }

  /**
   * Done with this connection: nothing more is served (a request arriving now would reach the
   * backend with nowhere to send its answer), and the socket is destroyed once the last response
   * is flushed, as Node's server does, instead of waiting for the client's FIN. Whatever the
   * client still sends is read and dropped: unread bytes at close would make the kernel reset the
   * connection, which can discard the response before the client has it.
   */
  private shut(): void {
    this.flushTurn();
    this.gone = true;
    this.buf = undefined;
    const s = this.socket;
    s.off('data', this.onData);
    if (s.isPaused()) s.resume();
    s.destroySoon();
  }

  /** The idle limit starts over: `ms` of silence from now. */
  private arm(ms: number): void {
    this.limitMs = ms;
    this.deadline = this.fp.deadlines.due(ms);
    this.fp.deadlines.watch();
  }

  /** From the FastPath's sweep. */
  expireIfDue(sweep: number): void {
    if (this.limitMs === 0 || sweep < this.deadline) return;
    this.limitMs = 0;
    this.idleTimeout();
  }

  private idleTimeout(): void {
    if (this.res !== undefined || this.gone) return;
    // Idle between requests: closed as Node's server would. Before the first request (or with a
    // partial head): Node's server decides, with its own timeouts.
    if (this.served > 0 && this.buf === undefined) this.socket.destroy();
    else this.handOver();
  }

  /** Node's server takes the connection from here on, starting with the bytes not yet served. */
  private handOver(): void {
    if (this.headTimer !== undefined) {
      clearTimeout(this.headTimer);
      this.headTimer = undefined;
    }
    if (this.gone) return;
    this.flushTurn();
    const s = this.socket;
    s.off('data', this.onData);
    this.limitMs = 0;
    this.fp.conns.delete(this);
    const rest = this.buf;
    this.buf = undefined;
    s.pause();
    // A copy when it may be a view of the shared read buffer (a handover from within a read).
    if (rest !== undefined) s.unshift(this.shared ? Buffer.from(rest) : rest);
    this.handedOver = true;
    this.fp.o.fallback.emit('connection', s);
    s.resume();
  }
}

const NO_HEADERS: Record<string, string> = Object.freeze({});

/** The request as ProxyHandler reads it (the fields of IncomingMessage it uses). */
class FastRequest {
  readonly httpVersionMajor = 1;
  readonly httpVersionMinor: number;
  readonly method: string;
  readonly url: string;
  readonly rawHeaders: string[];
  /** Not read by the proxy (it reads rawHeaders): one empty record for every request. */
  readonly headers: Record<string, string> = NO_HEADERS;
  readonly complete = true;
  constructor(
    head: Head,
    readonly socket: Socket,
  ) {
    this.method = head.method;
    this.url = head.url;
    this.httpVersionMinor = head.minor;
    this.rawHeaders = head.rawHeaders;
  }
}

/**
 * The response as ProxyHandler and its exchanges write it (see ProxyResponse).
 * The head goes out with the first body bytes in one write; without a Content-Length the body is
 * chunked; 'close' is emitted after the end, on the next tick, as Node's response does.
 */
class FastResponse implements ProxyResponse {
  shouldKeepAlive: boolean;
  headersSent = false;
  statusCode = 200;
  /** The head, until it goes out with the first body bytes: `headLen` bytes, then `room` bytes kept for the body (see writeHeadRaw). */
  private head: Buffer | undefined;
  private headLen = 0;
  private room = 0;
  private chunked = false;
  private bodyless: boolean;
  private readonly http10: boolean;
  private ended = false;
  private closed = false;
  private trailers: [string, string][] | undefined;
  private pending: Record<string, string | string[]> | undefined;
  private closeListeners: Listener[] | undefined;
  private drainListener: Listener | undefined;

  constructor(
    private readonly conn: FastConn,
    req: FastRequest,
    keepAlive: boolean,
  ) {
    this.shouldKeepAlive = keepAlive;
    this.bodyless = req.method === 'HEAD';
    this.http10 = req.httpVersionMinor === 0;
  }

  on(event: string, fn: Listener): this {
    if (event === 'close') (this.closeListeners ??= []).push(fn);
    else if (event === 'drain') this.once('drain', fn);
    return this;
  }

  once(event: string, fn: Listener): this {
    if (event === 'close') return this.on('close', fn);
    if (event === 'drain') {
      if (this.drainListener === undefined) this.conn.socket.once('drain', () => this.drain());
      this.drainListener = fn;
    }
    return this;
  }

  private drain(): void {
    const fn = this.drainListener;
    this.drainListener = undefined;
    fn?.call(this);
  }

  setHeader(name: string, value: string | string[]): void {
    (this.pending ??= {})[name.toLowerCase()] = value;
  }

  getHeader(name: string): string | string[] | undefined {
    return this.pending?.[name.toLowerCase()];
  }

  writeHead(status: number, reasonOrHeaders?: string | string[] | Record<string, string | number | string[]>, maybeHeaders?: string[] | Record<string, string | number | string[]>): this {
    if (this.headersSent) throw new Error('headers already sent');
    const reason = typeof reasonOrHeaders === 'string' ? reasonOrHeaders : (STATUS_CODES[status] ?? 'unknown');
    const headers = typeof reasonOrHeaders === 'string' ? maybeHeaders : reasonOrHeaders;
    this.statusCode = status;
    // The pieces are joined once (concatenating them one by one made a string per piece).
    const h: string[] = ['HTTP/1.1 ', String(status), ' ', reason, '\r\n'];
    let seen = 0;
    if (Array.isArray(headers)) for (let i = 0; i < headers.length; i += 2) seen |= this.field(h, headers[i]!, headers[i + 1]!);
    else if (headers !== undefined) seen |= this.fields(h, headers);
    if (this.pending !== undefined) seen |= this.fields(h, this.pending);
    this.frame(status, (seen & SIZED) !== 0);
    if (this.chunked) h.push('transfer-encoding: chunked\r\n');
    if ((seen & DATED) === 0) h.push('date: ', httpDate(), '\r\n');
    h.push(this.shouldKeepAlive ? this.conn.fp.keepAliveLines : 'connection: close\r\n\r\n');
    const head = Buffer.from(h.join(''), 'latin1');
    this.head = head;
    this.headLen = head.length;
    this.room = 0;
    this.headersSent = true;
    return this;
  }

  /**
   * ProxyResponse.writeHeadRaw: the status line and the fields that are passed on are copied from
   * the backend's bytes in runs (usually one: all but the Connection line at the end), then the
   * framing and connection lines. When the head gave a small length, the buffer has room for the
   * body after the head: head and body then go out as one buffer allocated once.
   */
  writeHeadRaw(h: ResponseHead): void {
    if (this.headersSent) throw new Error('headers already sent');
    if (this.pending !== undefined) {
      this.writeHead(h.status, h.reason, downstreamResponseHeaders(h.fields(), []));
      return;
    }
    const status = h.status;
    this.statusCode = status;
    const src = h.buf;
    const a = h.ranges.at;
    const count = h.ranges.count;
    const kinds = h.kinds;
    // The status line from its version on ("HTTP/1.1" is written when the backend spoke 1.0).
    let runStart = h.minor === 1 ? h.start : h.start + 8;
    let size = h.minor === 1 ? 0 : 8;
    let runs = 0;
    let sized = false;
    let dated = false;
    for (let i = 0; i < count; i++) {
      const kind = kinds[i]!;
      if (kind === FIELD_PLAIN) continue;
      if (kind === FIELD_CONTENT_LENGTH) sized = true;
      else if (kind === FIELD_DATE) dated = true;
      else {
        // Not passed on: the run before this line ends here.
        const lineStart = a[4 * i]!;
        if (lineStart > runStart) {
          RUNS[runs++] = runStart;
          RUNS[runs++] = lineStart;
          size += lineStart - runStart;
        }
        runStart = i + 1 < count ? a[4 * (i + 1)]! : h.end;
      }
    }
    if (h.end > runStart) {
      RUNS[runs++] = runStart;
      RUNS[runs++] = h.end;
      size += h.end - runStart;
    }
    this.frame(status, sized);
    if (this.chunked) size += CHUNKED_LINE.length;
    const date = dated ? undefined : dateLine();
    if (date !== undefined) size += date.length;
    const tail = this.shouldKeepAlive ? this.conn.fp.keepAliveTail : CLOSE_LINES;
    size += tail.length;
    const length = h.length;
    const room = !this.chunked && !this.bodyless && length > 0 && length < COPY_LIMIT ? length : 0;
    const b = Buffer.allocUnsafe(size + room);
    let at = 0;
    if (h.minor !== 1) at += HTTP11.copy(b, 0);
    for (let r = 0; r < runs; r += 2) at += src.copy(b, at, RUNS[r]!, RUNS[r + 1]!);
    if (this.chunked) at += CHUNKED_LINE.copy(b, at);
    if (date !== undefined) at += date.copy(b, at);
    tail.copy(b, at);
    this.head = b;
    this.headLen = size;
    this.room = room;
    this.headersSent = true;
  }

  /** Framing from the status and whether the fields gave a length (the same for writeHead and writeHeadRaw). */
  private frame(status: number, sized: boolean): void {
    if (status === 204 || status === 304 || status < 200) this.bodyless = true;
    else if (!sized && !this.bodyless) {
      // HTTP/1.0 has no chunked coding: an unsized body ends when the connection does.
      if (this.http10) this.shouldKeepAlive = false;
      else this.chunked = true;
    }
    // A stop that began while this request was in flight: tell the client not to reuse the connection.
    if (this.shouldKeepAlive && this.conn.fp.o.stopping()) this.shouldKeepAlive = false;
  }

  private fields(h: string[], headers: Record<string, string | number | string[]>): number {
    let seen = 0;
    for (const k of Object.keys(headers)) {
      const v = headers[k]!;
      if (Array.isArray(v)) for (const x of v) seen |= this.field(h, k, x);
      else seen |= this.field(h, k, v);
    }
    return seen;
  }

  /**
   * Adds one header line to `h`, except the fields the framing decides; says whether it was a
   * Content-Length (SIZED) or a Date (DATED). Connection only sets shouldKeepAlive.
   */
  private field(h: string[], name: string, value: string | number): number {
    const v = typeof value === 'string' ? value : String(value);
    if (hasLineBreak(v)) throw new Error(`invalid character in response header ${name}`);
    let seen = 0;
    const n = name.length;
    if (n === 14 || n === 10 || n === 4 || n === 17) {
      const lower = name.toLowerCase();
      if (lower === 'content-length') seen = SIZED;
      else if (lower === 'date') seen = DATED;
      else if (lower === 'connection') {
        if (v.toLowerCase().includes('close')) this.shouldKeepAlive = false;
        return 0; // written by writeHead, from shouldKeepAlive
      } else if (lower === 'transfer-encoding') return 0; // framing is ours
    }
    h.push(name, ': ', v, '\r\n');
    return seen;
  }

  write(chunk: Buffer | string): boolean {
    if (this.ended || this.closed) return false;
    if (!this.headersSent) this.writeHead(this.statusCode);
    return this.out(typeof chunk === 'string' ? Buffer.from(chunk) : chunk, false);
  }

  end(chunk?: Buffer | string): this {
    if (this.ended || this.closed) return this;
    if (!this.headersSent) this.writeHead(this.statusCode);
    this.ended = true;
    this.out(chunk === undefined ? undefined : typeof chunk === 'string' ? Buffer.from(chunk) : chunk, true);
    this.conn.fp.closeSoon(this);
    return this;
  }

  /**
   * ProxyResponse.writeView: the bytes are copied before they are written. A large piece goes into
   * a recycled slot (see takeSlot), which comes back at once when the socket took the whole write,
   * as it usually does; a write the kernel did not take at once keeps its slot until it is done.
   * A fresh 64 KiB copy per piece drove V8's external-memory-pressure collections and concurrent
   * marking: about half the CPU of a 64 KiB response.
   */
  writeView(view: Buffer, last: boolean): boolean {
    const n = view.length;
    if (n < COPY_LIMIT && this.head !== undefined && !this.chunked && !this.bodyless) {
      // out() joins a small piece with the head (in the head's room or a new buffer): the view is not kept.
      if (!last) return this.write(view);
      this.end(view);
      return true;
    }
    if (n < COPY_LIMIT || n > SLOT_BYTES) {
      const copy = Buffer.from(view);
      if (!last) return this.write(copy);
      this.end(copy);
      return true;
    }
    const slot = takeSlot();
    const copy = Buffer.from(slot, 0, n);
    view.copy(copy);
    let ok = true;
    if (last) this.end(copy);
    else ok = this.write(copy);
    if (this.conn.socket.writableLength === 0) giveSlot(slot);
    return ok;
  }

  addTrailers(t: [string, string][] | Record<string, string>): void {
    const list = Array.isArray(t) ? t : Object.entries(t);
    (this.trailers ??= []).push(...list.filter(([, v]) => !/[\r\n]/.test(v)));
  }

  destroy(_err?: Error): void {
    this.conn.socket.destroy();
  }

  /** The client went away before the response ended. */
  clientGone(): void {
    this.close(false);
  }

  /** One socket write for head + body piece (+ the chunked terminator when it is the last). */
  private out(body: Buffer | undefined, last: boolean): boolean {
    const s = this.conn.socket;
    const head = this.head;
    if (head !== undefined && !this.chunked && body !== undefined && body.length < COPY_LIMIT && !this.bodyless) {
      // The usual small sized response: head and body in one buffer, the head's own when it kept
      // room for exactly this body.
      this.head = undefined;
      if (s.destroyed) return false;
      const hl = this.headLen;
      let b = head;
      if (this.room === body.length) body.copy(b, hl);
      else {
        b = Buffer.allocUnsafe(hl + body.length);
        head.copy(b, 0, 0, hl);
        body.copy(b, hl);
      }
      // A whole response on a connection that stays open goes out with the rest of this turn's.
      if (last && this.shouldKeepAlive) {
        this.conn.holdForTurn(b);
        return true;
      }
      this.conn.flushTurn();
      return s.write(b);
    }
    this.conn.flushTurn();
    const parts: Buffer[] = [];
    if (head !== undefined) {
      parts.push(this.room === 0 ? head : head.subarray(0, this.headLen));
      this.head = undefined;
    }
    if (body !== undefined && body.length > 0 && !this.bodyless) {
      if (this.chunked) parts.push(Buffer.from(body.length.toString(16) + '\r\n', 'latin1'), body, CRLF);
      else parts.push(body);
    }
    if (last && this.chunked && !this.bodyless) {
      let t = '0\r\n';
      if (this.trailers !== undefined) for (const [n, v] of this.trailers) t += n + ': ' + v + '\r\n';
      parts.push(Buffer.from(t + '\r\n', 'latin1'));
    }
    if (parts.length === 0) return true;
    if (s.destroyed) return false;
    if (parts.length === 1) return s.write(parts[0]!);
    if (body === undefined || body.length < COPY_LIMIT) return s.write(Buffer.concat(parts));
    // A large piece is not copied to join it with the head: one writev through cork. A corked
    // write always reports a full buffer; what says whether to wait is what is left once uncorked.
    s.cork();
    for (const p of parts) s.write(p);
    s.uncork();
    return s.writableLength < s.writableHighWaterMark;
  }

  /** Emits 'close' (listeners, then the connection goes on); `done`: after end(), else the client went away. */
  close(done: boolean): void {
    if (this.closed) return;
    this.closed = true;
    const ls = this.closeListeners;
    if (ls !== undefined) for (const fn of ls) fn.call(this);
    if (done) this.conn.finished(this.shouldKeepAlive);
  }
}

const CRLF = Buffer.from('\r\n', 'latin1');
const HTTP11 = Buffer.from('HTTP/1.1', 'latin1');
const CHUNKED_LINE = Buffer.from('transfer-encoding: chunked\r\n', 'latin1');
const CLOSE_LINES = Buffer.from('connection: close\r\n\r\n', 'latin1');
/** Runs of a backend's head that writeHeadRaw copies: [start, end, start, end, ...] (reused; a head holds at most one field per 4 bytes). */
const RUNS = new Int32Array(2 + 16 * 1024 / 2);
/** What FastResponse.field saw among the fields it wrote. */
const SIZED = 1;
const DATED = 2;
/** Below this, head and body piece are joined into one buffer (cheaper than a writev); above, written together uncopied. */
const COPY_LIMIT = 16 * 1024;

/** A slot holds one read of the upstream client (src/proxy/reads.ts UPSTREAM_READ_BUF). */
const SLOT_BYTES = 64 * 1024;
/** Free slots kept: more than the pieces of one event-loop turn's writes that wait for a client. */
const SLOTS_KEPT = 32;
const freeSlots: ArrayBuffer[] = [];

function takeSlot(): ArrayBuffer {
  return freeSlots.pop() ?? new ArrayBuffer(SLOT_BYTES);
}

/** Only for a slot that takeSlot gave and that no pending write refers to any more. */
function giveSlot(slot: ArrayBuffer): void {
  if (freeSlots.length < SLOTS_KEPT) freeSlots.push(slot);
}
