/**
 * gangplank's HTTP/2 server (RFC 9113) for the websecure entrypoint: framing, HPACK, flow control
 * and the limits an edge server needs, written for the proxy. Each request stream is served by
 * ProxyHandler through H2Stream/H2Request (stream.ts), exactly as HTTP/1.1 requests are.
 *
 * Why not node:http2: its stream objects and the ticks each stream schedules cost more CPU than
 * nginx spends on a whole proxied request (docs/benchmarks.md). Here a request is a few objects,
 * frames are parsed in place from what TLS hands up, and everything a connection has to say is
 * gathered and written once per event-loop turn (setImmediate), so many streams share one TLS
 * record and one system call.
 *
 * Limits (each tested in test/proxy/h2server.test.ts): concurrent streams (REFUSED_STREAM, and
 * GOAWAY for a client that keeps opening beyond the limit), header list size and field count
 * (431), header blocks spread over CONTINUATION frames (size-bounded, and a deadline), streams
 * reset by the client while served (Rapid Reset, a token bucket), frames that carry nothing,
 * control frames from a client that does not read our answers, idle connections.
 */
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { DeadlineSweeper, type Expiring } from '../deadlines.js';
import { isLowerToken, isToken } from '../fields.js';
import type { ProxyResponse } from '../handler.js';
import * as F from './frames.js';
import { HpackDecoder, HpackEncoder } from './hpack.js';
import { H2Request, H2Stream } from './stream.js';

export interface H2Options {
  /** Serves one request (ProxyHandler.handle). */
  handle: (req: IncomingMessage, res: ProxyResponse) => void;
  maxConcurrentStreams: number;
  /** Streams refused for concurrency a connection may open before it is closed. */
  maxSessionRejectedStreams: number;
  /** Frames that carry nothing or break the rules (stream errors) a connection may send. */
  maxSessionInvalidFrames: number;
  maxHeaderListSize: number;
  maxHeaderListPairs: number;
  keepAliveMs: number;
  headersMs: number;
  /** Time a client has to send a request's whole body (0: no limit); past it the stream is reset (CANCEL). */
  requestMs: number;
  /** A request refused before it reached the handler (431, 405), for the metrics. */
  clientError: (status: number) => void;
}

/** The connection window we grant (the stream windows, 64 KiB each, bound what is buffered). */
const CONN_WINDOW = 1 << 20;
const STREAM_WINDOW = F.DEFAULT_WINDOW;
/** Body bytes read before the stream's window is topped up. */
const WINDOW_STEP = 16 * 1024;
/** Output a connection may have queued before writers are asked to wait ('drain'). */
const OUT_HIGH = 128 * 1024;
/** Output queued for a client that does not read, past which its control frames end the connection. */
const OUT_LIMIT = 4 * 1024 * 1024;
/** Rapid Reset: streams a client may reset while we serve them, as a burst and per second. */
const RESET_BURST = 1_000;
const RESET_PER_S = 200;
/** Not a wire flag: marks a HEADERS frame whose stream depends on itself. */
const SELF_DEPENDENT = 0x100;
/** Streams we reset, remembered so that frames the client sent before it knew are ignored. */
const RESETS_KEPT = 64;
/** The output buffer's usual size, and the size past which it is given back after a write. */
const WBUF_SIZE = 16 * 1024;
const WBUF_KEEP = 64 * 1024;
/** Payloads at least this long are written as their own buffer instead of copied. */
const COPY_LIMIT = 2_048;

/**
 * :path and :authority go into an HTTP/1.1 request line and Host field: no space, no control
 * character (a CR LF or a space there would write a second request to the backend).
 */
function validTarget(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c <= 32 || c === 127) return false;
  }
  return true;
}

/** No NUL, CR or LF; no leading or trailing space or tab (RFC 9113 8.2.1). */
function validValue(v: string): boolean {
  const n = v.length;
  if (n === 0) return true;
  let c = v.charCodeAt(0);
  if (c === 32 || c === 9) return false;
  c = v.charCodeAt(n - 1);
  if (c === 32 || c === 9) return false;
  for (let i = 0; i < n; i++) {
    c = v.charCodeAt(i);
    if (c === 0 || c === 10 || c === 13) return false;
  }
  return true;
}

class ConnectionError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** The HTTP/2 connections of one entrypoint and their deadlines. */
export class H2Server {
  readonly conns = new Set<H2Connection>();
  readonly deadlines: DeadlineSweeper;
  constructor(readonly o: H2Options) {
    this.deadlines = new DeadlineSweeper(this.conns, [o.keepAliveMs, o.headersMs, o.requestMs]);
  }

  /** A TLS connection that chose h2 by ALPN. */
  connection(socket: TLSSocket): H2Connection {
    const c = new H2Connection(this, socket);
    this.conns.add(c);
    return c;
  }

  /** Graceful stop: every connection gets GOAWAY and closes when its streams are done. */
  shutdown(): void {
    for (const c of this.conns) c.shutdown();
  }

  destroy(): void {
    for (const c of this.conns) c.destroy();
  }
}

export class H2Connection implements Expiring {
  private readonly o: H2Options;
  private buf: Buffer | undefined;
  /** 0: expecting the preface, 1: expecting the client's SETTINGS, 2: open. */
  private phase = 0;
  private readonly streams = new Map<number, H2Stream>();
  /** The highest stream id the client opened. */
  private lastId = 0;
  /** GOAWAY sent or received: no new streams. */
  private goingAway = false;
  private ended = false;
  private goawaySent = false;
  private dead = false;
  // A header block spread over CONTINUATION frames.
  private blockStream = 0;
  private blockFlags = 0;
  private blockParts: Buffer[] = [];
  private blockLen = 0;
  private readonly decoder: HpackDecoder;
  private readonly encoder = new HpackEncoder();
  // Flow control: what we may send on the connection, and what the client may.
  private sendWindow = F.DEFAULT_WINDOW;
  private peerInitialWindow = F.DEFAULT_WINDOW;
  private peerMaxFrame = F.DEFAULT_MAX_FRAME;
  private recvWindow = F.DEFAULT_WINDOW;
  private readonly blocked = new Set<H2Stream>();
  /** Streams owed a 'drain' once the socket takes more. */
  private readonly waiting = new Set<H2Stream>();
  // Output: frames are gathered in `wbuf` (small ones copied in) and `parts`, written once per turn.
  private wbuf = Buffer.allocUnsafe(WBUF_SIZE);
  private wpos = 0;
  private parts: Buffer[] = [];
  private partsLen = 0;
  private scheduled = false;
  /** Where the flags of the last DATA frame in wbuf are, and its stream (END_STREAM can be set on it). */
  private lastDataAt = -1;
  private lastDataStream = 0;
  /** Streams whose END_STREAM is in the output: they close once it is written. */
  private finished: H2Stream[] = [];
  // Limits.
  private resetTokens = RESET_BURST;
  private resetAt = Date.now();
  private invalid = 0;
  private readonly resets = new Int32Array(RESETS_KEPT);
  private resetsAt = 0;
  private refused = 0;
  /** Streams opened with a body to come (and a requestMs deadline); recounted by the sweeps. */
  private bodies = 0;
  private deadline = 0;
  private readonly flushFn = () => this.flush();

  constructor(
    private readonly server: H2Server,
    readonly socket: TLSSocket,
  ) {
    this.o = server.o;
    this.decoder = new HpackDecoder({ maxHeaderListSize: this.o.maxHeaderListSize, maxFields: this.o.maxHeaderListPairs });
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('drain', () => this.onDrain());
    socket.on('error', () => undefined);
    socket.on('close', () => this.onClose());
    // Our SETTINGS, then the connection window raised to CONN_WINDOW.
    const s: [number, number][] = [
      [F.SETTINGS_ENABLE_PUSH, 0],
      [F.SETTINGS_MAX_CONCURRENT_STREAMS, this.o.maxConcurrentStreams],
      [F.SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW],
      [F.SETTINGS_MAX_HEADER_LIST_SIZE, this.o.maxHeaderListSize],
    ];
    const p = this.reserve(s.length * 6, F.SETTINGS, 0, 0);
    for (let i = 0; i < s.length; i++) {
      this.wbuf.writeUInt16BE(s[i]![0], p + i * 6);
      this.wbuf.writeUInt32BE(s[i]![1], p + i * 6 + 2);
    }
    this.windowUpdate(0, CONN_WINDOW - F.DEFAULT_WINDOW);
    this.recvWindow = CONN_WINDOW;
    this.arm(this.o.headersMs);
  }

  // --- input ---

  private onData(d: Buffer): void {
    if (this.dead) return;
    let b = d;
    if (this.buf !== undefined) {
      b = Buffer.concat([this.buf, d]);
      this.buf = undefined;
    }
    let p = 0;
    const n = b.length;
    try {
      if (this.phase === 0) {
        const have = Math.min(n, F.PREFACE.length);
        if (b.compare(F.PREFACE, 0, have, 0, have) !== 0) throw new ConnectionError(F.PROTOCOL_ERROR, 'not an HTTP/2 connection preface');
        if (n < F.PREFACE.length) {
          this.buf = b;
          return;
        }
        p = F.PREFACE.length;
        this.phase = 1;
      }
      while (n - p >= F.FRAME_HEADER && !this.dead) {
        const len = (b[p]! << 16) | (b[p + 1]! << 8) | b[p + 2]!;
        if (len > F.DEFAULT_MAX_FRAME) throw new ConnectionError(F.FRAME_SIZE_ERROR, `frame of ${len} bytes exceeds the maximum frame size`);
        const end = p + F.FRAME_HEADER + len;
        if (end > n) break;
        this.frame(b[p + 3]!, b[p + 4]!, b.readUInt32BE(p + 5) & 0x7fffffff, b, p + F.FRAME_HEADER, end);
        p = end;
      }
    } catch (err) {
      if (!(err instanceof ConnectionError)) throw err;
      this.fail(err.code, err.message);
      return;
    }
    if (this.dead) return;
    if (p < n) this.buf = b.subarray(p);
    if (this.recvWindow < CONN_WINDOW / 2) {
      this.windowUpdate(0, CONN_WINDOW - this.recvWindow);
      this.recvWindow = CONN_WINDOW;
    }
  }

  private frame(type: number, flags: number, sid: number, b: Buffer, s: number, e: number): void {
    if (this.phase === 1) {
      if (type !== F.SETTINGS || (flags & F.ACK) !== 0) throw new ConnectionError(F.PROTOCOL_ERROR, 'the first frame must be SETTINGS');
      this.phase = 2;
      if (this.streams.size === 0) this.arm(this.o.keepAliveMs);
    }
    if (this.blockStream !== 0 && type !== F.CONTINUATION) throw new ConnectionError(F.PROTOCOL_ERROR, 'a header block was interrupted by another frame');
    switch (type) {
      case F.DATA:
        return this.onDataFrame(flags, sid, b, s, e);
      case F.HEADERS:
        return this.onHeaders(flags, sid, b, s, e);
      case F.PRIORITY:
        // Priorities are not acted on; only their form is checked.
        if (sid === 0) throw new ConnectionError(F.PROTOCOL_ERROR, 'PRIORITY on stream 0');
        if (e - s !== 5) this.streamError(sid, F.FRAME_SIZE_ERROR, this.streams.get(sid));
        else if ((b.readUInt32BE(s) & 0x7fffffff) === sid) this.streamError(sid, F.PROTOCOL_ERROR, this.streams.get(sid));
        return;
      case F.RST_STREAM:
        return this.onReset(sid, b, s, e);
      case F.SETTINGS:
        return this.onSettings(flags, sid, b, s, e);
      case F.PUSH_PROMISE:
        throw new ConnectionError(F.PROTOCOL_ERROR, 'a client cannot push');
      case F.PING:
        if (sid !== 0) throw new ConnectionError(F.PROTOCOL_ERROR, 'PING on a stream');
        if (e - s !== 8) throw new ConnectionError(F.FRAME_SIZE_ERROR, 'PING payload is not 8 bytes');
        if ((flags & F.ACK) === 0) {
          this.control();
          // reserve() may grow wbuf: take the position before the buffer.
          const at = this.reserve(8, F.PING, F.ACK, 0);
          b.copy(this.wbuf, at, s, e);
        }
        return;
      case F.GOAWAY:
        if (sid !== 0) throw new ConnectionError(F.PROTOCOL_ERROR, 'GOAWAY on a stream');
        if (e - s < 8) throw new ConnectionError(F.FRAME_SIZE_ERROR, 'GOAWAY payload shorter than 8 bytes');
        this.goingAway = true;
        this.maybeEnd();
        return;
      case F.WINDOW_UPDATE:
        return this.onWindowUpdate(sid, b, s, e);
      case F.CONTINUATION:
        return this.onContinuation(flags, sid, b, s, e);
      default:
        // Unknown frame types are ignored (RFC 9113 5.5).
        return;
    }
  }

  private onDataFrame(flags: number, sid: number, b: Buffer, s: number, e: number): void {
    if (sid === 0) throw new ConnectionError(F.PROTOCOL_ERROR, 'DATA on stream 0');
    const len = e - s;
    // The whole payload counts against the windows, padding included.
    this.recvWindow -= len;
    if (this.recvWindow < 0) throw new ConnectionError(F.FLOW_CONTROL_ERROR, 'DATA beyond the connection window');
    let ds = s;
    let de = e;
    if ((flags & F.PADDED) !== 0) {
      if (len < 1 || b[s]! >= len) throw new ConnectionError(F.PROTOCOL_ERROR, 'DATA padding longer than the frame');
      ds = s + 1;
      de = e - b[s]!;
    }
    const st = this.streams.get(sid);
    if (st === undefined) {
      if (sid > this.lastId) throw new ConnectionError(F.PROTOCOL_ERROR, 'DATA on a stream never opened');
      // A stream we reset may still get DATA the client sent before it knew; any other closed one may not.
      if (!this.resetByUs(sid)) this.streamError(sid, F.STREAM_CLOSED);
      return;
    }
    if (st.remoteEnded) return this.streamError(sid, F.STREAM_CLOSED, st);
    st.recvWindow -= len;
    if (st.recvWindow < 0) return this.streamError(sid, F.FLOW_CONTROL_ERROR, st);
    const end = (flags & F.END_STREAM) !== 0;
    if (de === ds && !end) this.invalidFrame();
    st.unacked += len - (de - ds);
    if (de > ds) {
      st.received += de - ds;
      if (st.declaredLength >= 0 && st.received > st.declaredLength) return this.streamError(sid, F.PROTOCOL_ERROR, st);
      const more = st.data(b.subarray(ds, de));
      st.unacked += de - ds;
      if (more && !end && st.unacked >= WINDOW_STEP) this.returnWindow(st);
    }
    if (end) {
      if (st.declaredLength >= 0 && st.received !== st.declaredLength) return this.streamError(sid, F.PROTOCOL_ERROR, st);
      st.remoteEnd();
    }
  }

  /** The body reader wants more: the client may send what it has read. */
  bodyRead(st: H2Stream): void {
    // Below WINDOW_STEP the client still has most of its window: no WINDOW_UPDATE per small frame.
    if (st.unacked >= WINDOW_STEP && !st.remoteEnded && !st.closed) this.returnWindow(st);
  }

  private returnWindow(st: H2Stream): void {
    this.windowUpdate(st.id, st.unacked);
    st.recvWindow += st.unacked;
    st.unacked = 0;
  }

  private onHeaders(flags: number, sid: number, b: Buffer, s: number, e: number): void {
    if (sid === 0 || (sid & 1) === 0) throw new ConnectionError(F.PROTOCOL_ERROR, `HEADERS on stream ${sid}`);
    let hs = s;
    let he = e;
    if ((flags & F.PADDED) !== 0) {
      if (he - hs < 1 || b[hs]! >= he - hs) throw new ConnectionError(F.PROTOCOL_ERROR, 'HEADERS padding longer than the frame');
      he -= b[hs]!;
      hs++;
    }
    if ((flags & F.PRIORITY_FLAG) !== 0) {
      if (he - hs < 5) throw new ConnectionError(F.FRAME_SIZE_ERROR, 'HEADERS priority fields missing');
      // A stream that depends on itself is malformed (decoded all the same: the HPACK state must follow).
      if ((b.readUInt32BE(hs) & 0x7fffffff) === sid) flags |= SELF_DEPENDENT;
      hs += 5;
    }
    if ((flags & F.END_HEADERS) !== 0) {
      this.headerBlock(sid, flags, b, hs, he);
      return;
    }
    this.blockStream = sid;
    this.blockFlags = flags;
    this.blockParts = [b.subarray(hs, he)];
    this.blockLen = he - hs;
    this.arm(this.o.headersMs);
  }

  private onContinuation(flags: number, sid: number, b: Buffer, s: number, e: number): void {
    if (this.blockStream === 0 || sid !== this.blockStream) throw new ConnectionError(F.PROTOCOL_ERROR, 'CONTINUATION without a header block');
    this.blockLen += e - s;
    // A block is rarely longer than the list it decodes to (Huffman shortens, indexing shortens
    // more); one four times the list limit is a flood, not a large request to answer 431.
    if (this.blockLen > 4 * this.o.maxHeaderListSize) throw new ConnectionError(F.ENHANCE_YOUR_CALM, 'header block too large');
    if (e === s && (flags & F.END_HEADERS) === 0) this.invalidFrame();
    this.blockParts.push(b.subarray(s, e));
    if ((flags & F.END_HEADERS) === 0) return;
    const block = Buffer.concat(this.blockParts, this.blockLen);
    this.blockStream = 0;
    this.blockParts = [];
    this.headerBlock(sid, this.blockFlags, block, 0, block.length);
    if (this.streams.size > 0) this.deadline = 0;
    else this.arm(this.o.keepAliveMs);
  }

  /** A complete header block: a new request, or trailers of one. */
  private headerBlock(sid: number, flags: number, b: Buffer, s: number, e: number): void {
    const fields: string[] = [];
    let count: number;
    try {
      count = this.decoder.decode(b, s, e, fields);
    } catch (err) {
      throw new ConnectionError(F.COMPRESSION_ERROR, (err as Error).message);
    }
    const endStream = (flags & F.END_STREAM) !== 0;
    const open = this.streams.get(sid);
    if (open !== undefined) {
      // Trailers: they end the request body, and go on to HTTP/1.1 backends in the last chunk
      // and to h2c backends in a trailing HEADERS frame (rawTrailers, as Node's IncomingMessage has them).
      if (open.remoteEnded) return this.streamError(sid, F.STREAM_CLOSED, open);
      if (!endStream) return this.streamError(sid, F.PROTOCOL_ERROR, open);
      // Trailers carry no pseudo-header fields (RFC 9113 8.1), and the fields' rules are the head's.
      for (let i = 0; i < fields.length; i += 2) {
        if (!isLowerToken(fields[i]!) || !validValue(fields[i + 1]!)) return this.streamError(sid, F.PROTOCOL_ERROR, open);
      }
      if (open.declaredLength >= 0 && open.received !== open.declaredLength) return this.streamError(sid, F.PROTOCOL_ERROR, open);
      if (fields.length > 0) open.req.rawTrailers = fields;
      open.remoteEnd();
      return;
    }
    if (sid <= this.lastId) throw new ConnectionError(F.STREAM_CLOSED, `HEADERS on closed stream ${sid}`);
    this.lastId = sid;
    if (this.goingAway) return this.rst(sid, F.REFUSED_STREAM);
    if (this.streams.size >= this.o.maxConcurrentStreams) {
      this.rst(sid, F.REFUSED_STREAM);
      if (++this.refused > this.o.maxSessionRejectedStreams) throw new ConnectionError(F.ENHANCE_YOUR_CALM, 'too many streams beyond the concurrency limit');
      return;
    }
    if ((flags & SELF_DEPENDENT) !== 0) return this.malformed(sid);
    if (count < 0) return this.answer(sid, 431, endStream);
    this.request(sid, fields, endStream);
  }

  /** Validates a request's fields (RFC 9113 8.3) and hands it to the handler. */
  private request(sid: number, f: string[], endStream: boolean): void {
    let method: string | undefined;
    let scheme: string | undefined;
    let path: string | undefined;
    let authority: string | undefined;
    let cookie: string | undefined;
    let te = false;
    let declared = -1;
    let expect = false;
    let regular = false;
    const raw: string[] = [];
    for (let i = 0; i < f.length; i += 2) {
      const n = f[i]!;
      const v = f[i + 1]!;
      if (n.charCodeAt(0) === 58) {
        if (regular) return this.malformed(sid);
        if (n === ':method' && method === undefined && isToken(v)) method = v;
        else if (n === ':path' && path === undefined && validTarget(v)) path = v;
        else if (n === ':scheme' && scheme === undefined && isToken(v)) scheme = v;
        else if (n === ':authority' && authority === undefined && validTarget(v)) authority = v;
        else return this.malformed(sid);
        continue;
      }
      regular = true;
      if (!isLowerToken(n) || !validValue(v)) return this.malformed(sid);
      switch (n) {
        case 'connection':
        case 'keep-alive':
        case 'proxy-connection':
        case 'transfer-encoding':
        case 'upgrade':
          return this.malformed(sid);
        case 'te':
          if (v !== 'trailers') return this.malformed(sid);
          te = true;
          break;
        case 'cookie':
          // Cookie crumbs are joined for HTTP/1.1 (RFC 9113 8.2.3).
          cookie = cookie === undefined ? v : `${cookie}; ${v}`;
          continue;
        case 'content-length':
          if (declared >= 0 || !/^[0-9]{1,15}$/.test(v)) return this.malformed(sid);
          declared = Number(v);
          break;
        case 'expect':
          expect = v.toLowerCase() === '100-continue';
          break;
      }
      raw.push(n, v);
    }
    if (cookie !== undefined) raw.push('cookie', cookie);
    if (method === undefined) return this.malformed(sid);
    if (method === 'CONNECT') {
      // Tunnels are not offered (nor extended CONNECT: SETTINGS_ENABLE_CONNECT_PROTOCOL is never sent).
      if (scheme !== undefined || path !== undefined || authority === undefined) return this.malformed(sid);
      return this.answer(sid, 405, endStream);
    }
    if (scheme === undefined || path === undefined || path === '') return this.malformed(sid);
    if (endStream && declared > 0) return this.malformed(sid);
    const st = new H2Stream(this, sid, STREAM_WINDOW, this.peerInitialWindow);
    st.teTrailers = te;
    st.declaredLength = declared;
    const req = new H2Request(st, method, path, authority, scheme, raw, this.socket, this.decoder.neverIndexed);
    st.start(req, endStream);
    this.streams.set(sid, st);
    if (!endStream && this.o.requestMs > 0) {
      st.bodyDue = this.server.deadlines.due(this.o.requestMs);
      this.bodies++;
      this.server.deadlines.watch();
    }
    if (this.blockStream === 0) this.deadline = 0;
    // The client waits for a go-ahead before sending the body.
    if (expect && !endStream) this.sendHeaders(st, [':status', '100'], false);
    try {
      this.o.handle(req as unknown as IncomingMessage, st);
    } catch {
      // A handler that throws loses its stream, not the connection's other streams.
      this.resetStream(st, F.INTERNAL_ERROR);
    }
  }

  private malformed(sid: number): void {
    this.invalidFrame();
    this.rst(sid, F.PROTOCOL_ERROR);
  }

  /** Answers a request the handler never sees, with an empty body. */
  private answer(sid: number, status: number, clientDone: boolean): void {
    // An answer costs output like a control frame does: a client that reads none is cut off.
    this.control();
    this.o.clientError(status);
    this.headersFrame(sid, [':status', String(status), 'content-length', '0'], F.END_STREAM);
    if (!clientDone) this.rst(sid, F.NO_ERROR);
    this.schedule();
  }

  private onReset(sid: number, b: Buffer, s: number, e: number): void {
    if (sid === 0) throw new ConnectionError(F.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
    if (e - s !== 4) throw new ConnectionError(F.FRAME_SIZE_ERROR, 'RST_STREAM payload is not 4 bytes');
    if (sid > this.lastId) throw new ConnectionError(F.PROTOCOL_ERROR, 'RST_STREAM on a stream never opened');
    const st = this.streams.get(sid);
    if (st === undefined) return;
    if (!st.localEnded) {
      // Rapid Reset (CVE-2023-44487): each stream reset while we serve it costs a token.
      const now = Date.now();
      this.resetTokens = Math.min(RESET_BURST, this.resetTokens + ((now - this.resetAt) * RESET_PER_S) / 1000);
      this.resetAt = now;
      if (--this.resetTokens < 0) throw new ConnectionError(F.ENHANCE_YOUR_CALM, 'too many streams reset');
    }
    this.remove(st, new Error(`stream reset by the client (HTTP/2 code ${b.readUInt32BE(s)})`));
  }

  private onSettings(flags: number, sid: number, b: Buffer, s: number, e: number): void {
    if (sid !== 0) throw new ConnectionError(F.PROTOCOL_ERROR, 'SETTINGS on a stream');
    if ((flags & F.ACK) !== 0) {
      if (e !== s) throw new ConnectionError(F.FRAME_SIZE_ERROR, 'SETTINGS ack with a payload');
      return;
    }
    if ((e - s) % 6 !== 0) throw new ConnectionError(F.FRAME_SIZE_ERROR, 'SETTINGS payload is not a multiple of 6');
    let grew = false;
    for (let p = s; p < e; p += 6) {
      const id = b.readUInt16BE(p);
      const v = b.readUInt32BE(p + 2);
      switch (id) {
        case F.SETTINGS_HEADER_TABLE_SIZE:
          this.encoder.setPeerMaxTableSize(v);
          break;
        case F.SETTINGS_ENABLE_PUSH:
          if (v > 1) throw new ConnectionError(F.PROTOCOL_ERROR, 'SETTINGS_ENABLE_PUSH is not 0 or 1');
          break;
        case F.SETTINGS_INITIAL_WINDOW_SIZE: {
          if (v > F.MAX_WINDOW) throw new ConnectionError(F.FLOW_CONTROL_ERROR, 'SETTINGS_INITIAL_WINDOW_SIZE too large');
          const delta = v - this.peerInitialWindow;
          this.peerInitialWindow = v;
          for (const st of this.streams.values()) {
            st.sendWindow += delta;
            if (st.sendWindow > F.MAX_WINDOW) throw new ConnectionError(F.FLOW_CONTROL_ERROR, 'a stream window grew too large');
          }
          if (delta > 0) grew = true;
          break;
        }
        case F.SETTINGS_MAX_FRAME_SIZE:
          if (v < F.DEFAULT_MAX_FRAME || v > F.MAX_MAX_FRAME) throw new ConnectionError(F.PROTOCOL_ERROR, 'SETTINGS_MAX_FRAME_SIZE out of range');
          this.peerMaxFrame = v;
          break;
      }
    }
    this.control();
    // The acknowledgement goes before the DATA a larger window lets out.
    this.reserve(0, F.SETTINGS, F.ACK, 0);
    if (grew) this.resumeBlocked();
  }

  private onWindowUpdate(sid: number, b: Buffer, s: number, e: number): void {
    if (e - s !== 4) throw new ConnectionError(F.FRAME_SIZE_ERROR, 'WINDOW_UPDATE payload is not 4 bytes');
    const inc = b.readUInt32BE(s) & 0x7fffffff;
    if (sid === 0) {
      if (inc === 0) throw new ConnectionError(F.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0');
      this.sendWindow += inc;
      if (this.sendWindow > F.MAX_WINDOW) throw new ConnectionError(F.FLOW_CONTROL_ERROR, 'connection window grew too large');
      this.resumeBlocked();
      return;
    }
    const st = this.streams.get(sid);
    if (st === undefined) {
      if (sid > this.lastId) throw new ConnectionError(F.PROTOCOL_ERROR, 'WINDOW_UPDATE on a stream never opened');
      return;
    }
    if (inc === 0) return this.streamError(sid, F.PROTOCOL_ERROR, st);
    st.sendWindow += inc;
    if (st.sendWindow > F.MAX_WINDOW) return this.streamError(sid, F.FLOW_CONTROL_ERROR, st);
    if (st.queued > 0) this.pump(st);
  }

  /** A frame that carries nothing or breaks a stream's rules; too many end the connection. */
  private invalidFrame(): void {
    if (++this.invalid > this.o.maxSessionInvalidFrames) throw new ConnectionError(F.ENHANCE_YOUR_CALM, 'too many invalid frames');
  }

  /** We are about to answer a control frame: a client that never reads our answers is cut off. */
  private control(): void {
    if (this.socket.writableLength + this.wpos + this.partsLen > OUT_LIMIT) throw new ConnectionError(F.ENHANCE_YOUR_CALM, 'the client does not read what it asks for');
  }

  private streamError(sid: number, code: number, st?: H2Stream): void {
    this.invalidFrame();
    if (st !== undefined) this.resetStream(st, code);
    else this.rst(sid, code);
  }

  // --- output, for the streams ---

  /** Sends a head (or trailers): HEADERS, with CONTINUATION frames if the block is long. */
  sendHeaders(st: H2Stream, fields: string[], end: boolean): void {
    this.headersFrame(st.id, fields, end ? F.END_STREAM : 0, st.neverIndexed);
    if (end) this.finish(st);
    this.schedule();
  }

  /** Body bytes; false when the writer should wait for 'drain'. */
  sendData(st: H2Stream, b: Buffer, _end: boolean): boolean {
    if (st.queued > 0) {
      st.queue.push(b);
      st.queued += b.length;
      return false;
    }
    let off = 0;
    const n = b.length;
    while (off < n) {
      const k = Math.min(n - off, st.sendWindow, this.sendWindow, this.peerMaxFrame);
      if (k <= 0) break;
      this.dataFrame(st.id, 0, b, off, off + k);
      st.sendWindow -= k;
      this.sendWindow -= k;
      off += k;
    }
    this.schedule();
    if (off < n) {
      const rest = off === 0 ? b : b.subarray(off);
      st.queue.push(rest);
      st.queued += rest.length;
      this.blocked.add(st);
      return false;
    }
    if (this.congested()) {
      this.waiting.add(st);
      return false;
    }
    return true;
  }

  /** The end of a response: its last bytes (if any), then END_STREAM or trailers. */
  sendEnd(st: H2Stream, b: Buffer | undefined, trailers: string[] | undefined): void {
    if (b !== undefined && b.length > 0) this.sendData(st, b, true);
    st.endPending = true;
    st.endTrailers = trailers;
    if (st.queued === 0) this.endStream(st);
    this.schedule();
  }

  /** Resets a stream (ours to close): RST_STREAM and the stream closes. */
  resetStream(st: H2Stream, code: number): void {
    if (st.closed) return;
    this.rst(st.id, code);
    this.remove(st, new Error(`stream reset (HTTP/2 code ${code})`));
  }

  private endStream(st: H2Stream): void {
    st.endPending = false;
    const t = st.endTrailers;
    if (t !== undefined && t.length > 0) this.headersFrame(st.id, t, F.END_STREAM, st.neverIndexed);
    else if (this.lastDataStream === st.id && this.lastDataAt >= 0) this.wbuf[this.lastDataAt]! |= F.END_STREAM;
    else this.reserve(0, F.DATA, F.END_STREAM, st.id);
    this.finish(st);
  }

  private finish(st: H2Stream): void {
    this.blocked.delete(st);
    this.waiting.delete(st);
    this.finished.push(st);
  }

  /** Window opened: queued DATA of `st` goes out. */
  private pump(st: H2Stream): void {
    const q = st.queue;
    while (q.length > 0) {
      const c = q[0]!;
      const k = Math.min(c.length, st.sendWindow, this.sendWindow, this.peerMaxFrame);
      if (k <= 0) break;
      this.dataFrame(st.id, 0, c, 0, k);
      st.sendWindow -= k;
      this.sendWindow -= k;
      st.queued -= k;
      if (k === c.length) q.shift();
      else q[0] = c.subarray(k);
    }
    this.schedule();
    if (st.queued > 0) return;
    this.blocked.delete(st);
    if (st.endPending) this.endStream(st);
    else if (st.needDrain) this.waiting.add(st);
  }

  private resumeBlocked(): void {
    for (const st of this.blocked) {
      if (this.sendWindow <= 0) break;
      if (st.sendWindow > 0) this.pump(st);
    }
  }

  private congested(): boolean {
    return this.wpos + this.partsLen + this.socket.writableLength > OUT_HIGH;
  }

  // --- frame writing ---

  /** Room for a frame of `len` payload bytes in wbuf, its header written; returns where the payload goes. */
  private reserve(len: number, type: number, flags: number, sid: number): number {
    this.ensure(F.FRAME_HEADER + len);
    const p = this.wpos;
    F.frameHeader(this.wbuf, p, len, type, flags, sid);
    this.wpos = p + F.FRAME_HEADER + len;
    this.lastDataStream = 0;
    this.schedule();
    return p + F.FRAME_HEADER;
  }

  private ensure(n: number): void {
    if (this.wpos + n <= this.wbuf.length) return;
    const nb = Buffer.allocUnsafe(Math.max(this.wbuf.length * 2, this.wpos + n));
    this.wbuf.copy(nb, 0, 0, this.wpos);
    this.wbuf = nb;
  }

  private dataFrame(sid: number, flags: number, b: Buffer, s: number, e: number): void {
    const len = e - s;
    if (len < COPY_LIMIT) {
      const p = this.reserve(len, F.DATA, flags, sid);
      b.copy(this.wbuf, p, s, e);
      this.lastDataAt = p - F.FRAME_HEADER + 4;
      this.lastDataStream = sid;
      return;
    }
    this.reserve(0, F.DATA, flags, sid);
    // The header was written for an empty payload: set the real length and send the payload as is.
    const h = this.wpos - F.FRAME_HEADER;
    this.wbuf[h] = len >>> 16;
    this.wbuf[h + 1] = (len >>> 8) & 0xff;
    this.wbuf[h + 2] = len & 0xff;
    this.spill();
    this.parts.push(s === 0 && e === b.length ? b : b.subarray(s, e));
    this.partsLen += len;
  }

  /** Moves what wbuf holds into `parts` (copied: wbuf is reused). */
  private spill(): void {
    if (this.wpos === 0) return;
    const c = Buffer.allocUnsafe(this.wpos);
    this.wbuf.copy(c, 0, 0, this.wpos);
    this.parts.push(c);
    this.partsLen += this.wpos;
    this.wpos = 0;
    this.lastDataStream = 0;
  }

  /** `never`: names the backend sent "never indexed", sent so again (RFC 7541 7.1.3). */
  private headersFrame(sid: number, fields: string[], flags: number, never?: ReadonlySet<string>): void {
    const block = this.encoder.encode(fields, never);
    const max = this.peerMaxFrame;
    if (block.length <= max) {
      const at = this.reserve(block.length, F.HEADERS, flags | F.END_HEADERS, sid);
      block.copy(this.wbuf, at);
      return;
    }
    for (let off = 0; off < block.length; off += max) {
      const k = Math.min(max, block.length - off);
      const last = off + k === block.length;
      const type = off === 0 ? F.HEADERS : F.CONTINUATION;
      const fl = (off === 0 ? flags : 0) | (last ? F.END_HEADERS : 0);
      const at = this.reserve(k, type, fl, sid);
      block.copy(this.wbuf, at, off, off + k);
    }
  }

  private rst(sid: number, code: number): void {
    const at = this.reserve(4, F.RST_STREAM, 0, sid);
    this.wbuf.writeUInt32BE(code, at);
    this.resets[this.resetsAt++ % RESETS_KEPT] = sid;
  }

  private resetByUs(sid: number): boolean {
    return this.resets.includes(sid);
  }

  private windowUpdate(sid: number, inc: number): void {
    const at = this.reserve(4, F.WINDOW_UPDATE, 0, sid);
    this.wbuf.writeUInt32BE(inc, at);
  }

  private goaway(code: number, debug: string): void {
    const d = Buffer.from(debug, 'latin1');
    const p = this.reserve(8 + d.length, F.GOAWAY, 0, 0);
    this.wbuf.writeUInt32BE(this.lastId, p);
    this.wbuf.writeUInt32BE(code, p + 4);
    d.copy(this.wbuf, p + 8);
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flushFn);
  }

  /** Writes what the turn gathered, then closes the streams whose last frame went with it. */
  private flush(): void {
    this.scheduled = false;
    if (this.dead) return;
    this.write();
    const fin = this.finished;
    if (fin.length > 0) {
      this.finished = [];
      for (const st of fin) {
        // The client is still sending a body nobody will read: tell it to stop (RFC 9113 8.1).
        if (!st.remoteEnded && !st.closed) this.rst(st.id, F.NO_ERROR);
        this.remove(st, undefined);
      }
      this.write();
    }
    if (this.waiting.size > 0 && !this.congested()) this.drainWaiting();
    this.maybeEnd();
  }

  private write(): void {
    const s = this.socket;
    if (this.parts.length === 0) {
      if (this.wpos === 0) return;
      const c = Buffer.allocUnsafe(this.wpos);
      this.wbuf.copy(c, 0, 0, this.wpos);
      this.wpos = 0;
      this.lastDataStream = 0;
      s.write(c);
    } else {
      this.spill();
      const parts = this.parts;
      this.parts = [];
      this.partsLen = 0;
      s.cork();
      for (const p of parts) s.write(p);
      s.uncork();
    }
    // A turn with a burst of small frames grew wbuf: the connection goes back to the usual size.
    if (this.wbuf.length > WBUF_KEEP) this.wbuf = Buffer.allocUnsafe(WBUF_SIZE);
  }

  private onDrain(): void {
    if (this.waiting.size > 0) this.drainWaiting();
  }

  private drainWaiting(): void {
    const w = [...this.waiting];
    this.waiting.clear();
    for (const st of w) st.drained();
  }

  // --- lifecycle ---

  private remove(st: H2Stream, err: Error | undefined): void {
    this.streams.delete(st.id);
    this.blocked.delete(st);
    this.waiting.delete(st);
    st.close(err);
    if (this.streams.size === 0 && this.blockStream === 0 && !this.dead) this.arm(this.o.keepAliveMs);
  }

  private arm(ms: number): void {
    this.deadline = this.server.deadlines.due(ms);
    this.server.deadlines.watch();
  }

  expireIfDue(sweep: number): void {
    if (this.bodies > 0) this.expireBodies(sweep);
    if (this.deadline === 0 || sweep < this.deadline) return;
    this.deadline = 0;
    if (this.phase < 2 || this.blockStream !== 0) this.destroy();
    else if (this.streams.size === 0) this.shutdown();
  }

  /** Streams whose body did not arrive within requestMs are reset; their handler's exchange ends. */
  private expireBodies(sweep: number): void {
    let left = 0;
    for (const st of this.streams.values()) {
      if (st.bodyDue === 0 || st.remoteEnded) continue;
      if (sweep >= st.bodyDue) this.resetStream(st, F.CANCEL);
      else left++;
    }
    this.bodies = left;
  }

  /** Graceful: GOAWAY; the connection closes once its streams are done. */
  shutdown(): void {
    if (this.dead || this.ended) return;
    this.goingAway = true;
    if (!this.goawaySent) {
      this.goawaySent = true;
      this.goaway(F.NO_ERROR, '');
    }
    this.schedule();
    this.maybeEnd();
  }

  private maybeEnd(): void {
    if (!this.goingAway || this.streams.size > 0 || this.ended || this.dead) return;
    this.ended = true;
    this.write();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1_000).unref();
  }

  /** A connection error: GOAWAY with the code, every stream closed, the socket ended. */
  private fail(code: number, message: string): void {
    if (this.dead) return;
    this.goingAway = true;
    this.goawaySent = true;
    this.goaway(code, message);
    this.write();
    this.dead = true;
    this.closeStreams(new Error(`HTTP/2 connection error: ${message}`));
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1_000).unref();
  }

  destroy(): void {
    this.dead = true;
    this.socket.destroy();
  }

  private closeStreams(err: Error): void {
    const all = [...this.streams.values()];
    this.streams.clear();
    this.blocked.clear();
    this.waiting.clear();
    for (const st of all) st.close(err);
  }

  private onClose(): void {
    this.dead = true;
    this.deadline = 0;
    this.server.conns.delete(this);
    this.closeStreams(new Error('the client connection closed'));
  }
}
