/**
 * gangplank's HTTP/1.1 client to plain-HTTP backends: keep-alive connections per endpoint, one
 * request at a time per connection, the response parsed by src/proxy/h1parse.ts and handed to
 * a handler interface shaped like the one the proxy gives undici (onConnect/onComplete/onError
 * alike; the head as the parser's ResponseHead, onHead, and body bytes as views of the read
 * buffer, onDataView, where undici hands over strings and owned chunks: what the fast path
 * passes on unchanged is then copied as bytes, never made into strings).
 *
 * Why not undici here: on the proxy's hot path undici was the largest cost after the kernel
 * (its wasm parser, its request queue and its generic dispatcher machinery), and a proxy needs
 * none of what it adds: no redirects, no retries of its own, no pipelining, no body mixins.
 * Backends over TLS and protocol upgrades still go through undici (src/proxy/upstream.ts).
 */
import { connect, type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { hasLineBreak } from './fields.js';
import { isPassableRequestTrailer } from './headers.js';
import { ResponseParser, type ResponseHead, type ResponseSink } from './h1parse.js';
import { DeadlineSweeper, type Expiring } from './deadlines.js';
import { UPSTREAM_READ_BUF } from './reads.js';
import { atTurnEnd, type TurnWriter } from './turnwrites.js';

/** The part of undici's DispatchHandler the proxy implements, with string raw headers. */
export interface H1Handler {
  /**
   * `abort` (and the `resume` given to onHead) belong to the connection, not to one exchange:
   * call them only until onComplete/onError, or they may act on the connection's next exchange.
   */
  onConnect(abort: (err?: Error) => void): void;
  /**
   * Only final (>= 200) heads; `head` and its bytes are valid only during this call (see
   * ResponseHead). false pauses reading after the current socket buffer, whose body bytes still
   * arrive.
   */
  onHead(head: ResponseHead, resume: () => void): boolean;
  /**
   * Body bytes as a view of the connection's read buffer, valid only until this returns (the
   * next read overwrites it): whatever keeps them copies them. false pauses reading.
   */
  onDataView(view: Buffer): boolean;
  onComplete(trailers: string[] | null): void;
  onError(err: Error): void;
}

export interface H1Request {
  method: string;
  /** Origin-form target: path and query. */
  path: string;
  /** Flat [name, value, ...], without hop-by-hop headers (the proxy removed them). */
  headers: string[];
  /** More header lines, written after `headers` as they are: each ends in CRLF, checked by whoever made them. */
  lines?: string | undefined;
  /** The request body, or null. Sent as is when the headers carry Content-Length, else chunked. */
  body: Readable | null;
}

export interface H1PoolOptions {
  host: string;
  port: number;
  connectMs: number;
  /** From the request's last byte to the response head. */
  headersMs: number;
  /** Longest silence while a response body streams. */
  bodyIdleMs: number;
  /** How long an idle connection is kept (shortened by a backend's Keep-Alive: timeout). */
  keepAliveMs: number;
}

/** An error with the code the proxy's error mapping (src/proxy/errors.ts) understands. */
export function upstreamError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/** Keep-alive connections to one backend endpoint. */
export class H1Pool {
  /** Idle connections, most recently used last (reused first: warm, least likely to be closed by the backend). */
  private readonly idle: Conn[] = [];
  private busy = 0;
  private isClosed = false;
  /** Closed (close or destroy): takes no more requests. */
  get closed(): boolean {
    return this.isClosed;
  }
  /** Every open connection (for destroy and the deadline sweep). */
  readonly all = new Set<Conn>();
  /** Checks the connections' deadlines while any is open (see Conn.arm). */
  readonly deadlines: DeadlineSweeper;

  constructor(readonly o: H1PoolOptions) {
    this.deadlines = new DeadlineSweeper(this.all, [o.connectMs, o.headersMs, o.bodyIdleMs, o.keepAliveMs]);
  }

  dispatch(req: H1Request, handler: H1Handler): void {
    if (this.isClosed) {
      handler.onError(upstreamError('UND_ERR_CLOSED', 'the connection pool to this backend was closed'));
      return;
    }
    let conn = this.idle.pop();
    while (conn !== undefined && conn.dead) conn = this.idle.pop();
    if (conn === undefined) {
      conn = new Conn(this);
      this.all.add(conn);
    }
    this.busy++;
    conn.start(req, handler);
  }

  /** A connection finished its exchange and may take the next one. */
  release(conn: Conn, reusable: boolean): void {
    this.busy--;
    if (reusable && !this.isClosed) {
      conn.park();
      this.idle.push(conn);
    } else conn.destroy();
  }

  /** An idle connection closed or timed out. */
  forget(conn: Conn): void {
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
  }

  /** A connection closed for good. */
  closedConn(conn: Conn): void {
    this.all.delete(conn);
  }

  /** Connections open now (idle + busy). */
  get size(): number {
    return this.idle.length + this.busy;
  }

  /** Stops taking requests; idle connections close now, busy ones after their exchange. */
  close(): void {
    this.isClosed = true;
    for (const c of this.idle.splice(0)) c.destroy();
  }

  /** Closes every connection now, busy ones too (shutdown). */
  destroy(): void {
    this.close();
    for (const c of this.all) c.destroy();
    this.deadlines.stop();
  }
}

const CRLF = Buffer.from('\r\n', 'latin1');

/**
 * The last chunk of a chunked request body, with the trailer fields the client sent (Node's
 * IncomingMessage and our H2Request both keep them as `rawTrailers`, flat), those that
 * headers.ts isPassableRequestTrailer lets through.
 */
export function lastChunk(trailers: readonly string[] | undefined): string {
  let t = '0\r\n';
  if (trailers !== undefined) {
    for (let i = 0; i + 1 < trailers.length; i += 2) {
      const n = trailers[i]!;
      const v = trailers[i + 1]!;
      const lower = n.toLowerCase();
      if (!isPassableRequestTrailer(lower) || hasLineBreak(n) || hasLineBreak(v)) continue;
      t += n + ': ' + v + '\r\n';
    }
  }
  return t + '\r\n';
}

/** One connection: the response sink of its parser and the abort/resume target of its handler. */
class Conn implements ResponseSink, Expiring, TurnWriter {
  dead = false;
  private readonly socket: Socket;
  private readonly parser: ResponseParser;
  private connected = false;
  /** True from start() until the exchange ends (finish). */
  private active = false;
  private handler: H1Handler | undefined;
  private req: H1Request | undefined;
  private headDone = false;
  /** The socket timeout is the body idle limit (set once the body goes on past the first read). */
  private bodyTimerArmed = false;
  private reqSent = false;
  private resDone = false;
  private keepAlive = true;
  private keepAliveMs: number;
  private paused = false;
  /** Bytes of the last read not yet parsed when the handler paused (a copy). */
  private held: Buffer | undefined;
  /**
   * The connection's time limit: `limitMs` of silence from the backend (0: none), due at sweep
   * `deadline` of the pool's DeadlineSweeper. A deadline instead of socket.setTimeout, which makes a
   * new timer and a bound function each call (twice per request) and refreshes a timer list on
   * every read and write; the pool sweeps deadlines a few times per shortest limit.
   */
  private limitMs = 0;
  private deadline = 0;
  /** A bodiless request, written at the end of the event-loop turn (flushTurn). */
  private turnHead: string | undefined;
  /** Stops streaming the request body (listeners off). */
  private stopBody: (() => void) | undefined;
  private readonly abortFn: (err?: Error) => void;
  private readonly resumeFn: () => void;

  constructor(private readonly pool: H1Pool) {
    this.parser = new ResponseParser(this);
    this.keepAliveMs = pool.o.keepAliveMs;
    this.abortFn = () => this.finish(false);
    this.resumeFn = () => this.resume();
    const s = connect({
      host: pool.o.host,
      port: pool.o.port,
      noDelay: true,
      onread: {
        // Every connection reads into one buffer (src/proxy/reads.ts): the bytes are parsed before
        // the callback returns; what must outlive it is copied (bytes held while paused, here;
        // body bytes, by whoever keeps them: see H1Handler.onDataView).
        buffer: UPSTREAM_READ_BUF,
        // Pauses go through socket.pause() (see onSocketData), so this always says go on.
        callback: (n: number, buf: Uint8Array) => {
          this.touch();
          this.onSocketData((buf as Buffer).subarray(0, n));
          return true;
        },
      },
    });
    this.socket = s;
    this.arm(pool.o.connectMs);
    s.on('connect', () => this.onConnected());
    s.on('error', (err) => this.fail(err));
    // The backend half-closed: this connection takes no further request. Marked now, not at
    // 'close' a moment later, so the pool cannot hand it out in between (a write after end would
    // fail with a code the proxy does not retry).
    s.on('end', () => this.onEnded());
    s.on('close', () => {
      pool.closedConn(this);
      this.onClose();
    });
    s.on('drain', () => this.req?.body?.resume());
  }

  start(req: H1Request, handler: H1Handler): void {
    this.active = true;
    this.req = req;
    this.handler = handler;
    this.headDone = false;
    this.bodyTimerArmed = false;
    this.reqSent = false;
    this.resDone = false;
    this.paused = false;
    this.parser.expect(req.method === 'HEAD');
    handler.onConnect(this.abortFn);
    if (this.active && this.connected) this.send(); // else: sent once connected (or aborted already)
  }

  park(): void {
    this.arm(this.keepAliveMs);
  }

  flushTurn(): void {
    const head = this.turnHead;
    if (head === undefined) return;
    this.turnHead = undefined;
    if (!this.dead) this.socket.write(head, 'latin1');
  }

  destroy(): void {
    if (this.dead) return;
    this.dead = true;
    this.limitMs = 0;
    this.socket.destroy();
  }

  /** Starts the time limit over: `ms` of silence from now (0: no limit). */
  private arm(ms: number): void {
    this.limitMs = ms;
    if (ms === 0) return;
    this.deadline = this.pool.deadlines.due(ms);
    this.pool.deadlines.watch();
  }

  /** The backend sent something: the limit counts from now (as a socket timeout would). */
  private touch(): void {
    if (this.limitMs !== 0) this.deadline = this.pool.deadlines.due(this.limitMs);
  }

  /** From the pool's sweep. */
  expireIfDue(sweep: number): void {
    if (this.limitMs === 0 || sweep < this.deadline || this.dead) return;
    this.limitMs = 0;
    this.onTimeout();
  }

  /** Ends the exchange once: the connection goes back to the pool when it is clean, else it closes. */
  private finish(reuse: boolean): void {
    if (!this.active) return;
    this.active = false;
    this.handler = undefined;
    this.req = undefined;
    if (this.stopBody !== undefined) {
      this.stopBody();
      this.stopBody = undefined;
    }
    this.held = undefined;
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
    const clean = reuse && this.keepAlive && this.reqSent && this.resDone && !this.dead;
    if (!clean) this.destroy();
    this.pool.release(this, clean);
  }

  private onConnected(): void {
    this.connected = true;
    if (this.active) this.send();
    else this.arm(this.keepAliveMs);
  }

  private send(): void {
    const req = this.req!;
    const s = this.socket;
    this.arm(this.pool.o.headersMs);
    // Concatenated: Array.prototype.join costs more per piece than a chain of pieces that the
    // socket write flattens once (see docs/benchmarks.md).
    const h = req.headers;
    let head = req.method + ' ' + req.path + ' HTTP/1.1\r\n';
    let sized = false;
    for (let i = 0; i < h.length; i += 2) {
      const n = h[i]!;
      const v = h[i + 1]!;
      // node validated what clients sent; this guards what gangplank itself adds.
      if (hasLineBreak(v) || hasLineBreak(n)) {
        this.fail(upstreamError('UND_ERR_INVALID_ARG', `invalid character in request header ${JSON.stringify(n)}`));
        return;
      }
      if (n.length === 14 && n.toLowerCase() === 'content-length') sized = true;
      head += n + ': ' + v + '\r\n';
    }
    if (req.lines !== undefined) head += req.lines;
    const body = req.body;
    const chunked = body !== null && !sized;
    head += chunked ? 'transfer-encoding: chunked\r\n\r\n' : '\r\n';
    if (body === null) {
      // The whole request: written with the rest of this turn's (src/proxy/turnwrites.ts).
      this.turnHead = head;
      atTurnEnd(this);
      this.reqSent = true;
      return;
    }
    s.write(head, 'latin1');
    const onData = (d: Buffer) => {
      if (d.length === 0) return;
      let ok: boolean;
      if (chunked) {
        // Size line, data, CRLF in one segment, without copying the data into a new buffer.
        s.cork();
        s.write(d.length.toString(16) + '\r\n', 'latin1');
        s.write(d);
        ok = s.write(CRLF);
        s.uncork();
      } else ok = s.write(d);
      if (!ok) body.pause();
    };
    const onEnd = () => {
      this.stopBody?.();
      this.stopBody = undefined;
      if (chunked) s.write(lastChunk((body as { rawTrailers?: string[] }).rawTrailers), 'latin1');
      this.reqSent = true;
      // The headers deadline counts from the request's last byte.
      if (!this.headDone) this.arm(this.pool.o.headersMs);
    };
    const onErr = (err: Error) => this.fail(upstreamError('ECONNRESET', `the client's request body failed: ${err.message}`));
    this.stopBody = () => {
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onErr);
    };
    body.on('data', onData);
    body.on('end', onEnd);
    body.on('error', onErr);
    // While the client uploads, the connection waits on the client, not the backend.
    this.arm(0);
    body.resume();
  }

  private onSocketData(d: Buffer): void {
    if (!this.active) {
      // Bytes nobody asked for on an idle connection: the backend is confused; never reuse it.
      this.pool.forget(this);
      this.destroy();
      return;
    }
    let used: number;
    try {
      used = this.parser.execute(d);
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    // The handler aborted from one of its callbacks: the connection is gone, nothing more to do.
    if (!this.active) return;
    if (this.resDone) {
      // More bytes than the response announced, or a response before the whole request was
      // sent (the backend did not read it all): the connection is not reusable.
      this.finish(used === d.length && this.reqSent);
      return;
    }
    if (this.paused) {
      // The handler asked for a pause: read nothing more until it resumes, and keep what this
      // buffer still holds. The body idle deadline waits too: the backend is not the slow one.
      this.socket.pause();
      this.arm(0);
      this.bodyTimerArmed = false;
      if (used < d.length) this.held = Buffer.from(d.subarray(used));
    } else if (this.headDone && !this.bodyTimerArmed) {
      this.bodyTimerArmed = true;
      this.arm(this.pool.o.bodyIdleMs);
    }
  }

  // --- ResponseSink (called from parser.execute) ---

  onHead(head: ResponseHead): void {
    this.headDone = true;
    this.keepAlive = head.keepAlive;
    const ms = head.keepAliveMs;
    if (ms > 0) this.keepAliveMs = Math.max(500, Math.min(this.pool.o.keepAliveMs, ms - 1000));
    // The body idle deadline is armed after this buffer, and only if the body goes on beyond it:
    // a small response (head and body in one read) then costs no timer change here.
    const h = this.handler;
    // false asks for a pause; body bytes already in this buffer are still delivered.
    if (h !== undefined && !h.onHead(head, this.resumeFn)) this.paused = true;
  }

  onBody(chunk: Buffer): boolean {
    const h = this.handler;
    if (h === undefined) return false;
    // A view of the shared read buffer: the handler copies what it keeps (onDataView).
    if (h.onDataView(chunk)) return true;
    this.paused = true;
    return false;
  }

  onEnd(trailers: string[] | null): void {
    this.resDone = true;
    this.handler?.onComplete(trailers);
  }

  // ---

  private resume(): void {
    if (!this.paused || this.dead || !this.active) return;
    this.paused = false;
    this.bodyTimerArmed = true;
    this.arm(this.pool.o.bodyIdleMs);
    const held = this.held;
    if (held !== undefined) {
      // What the last read held beyond the pause comes first. It may pause again (the socket
      // stays paused), or end the exchange: the connection then reads again, idle in the pool.
      this.held = undefined;
      this.onSocketData(held);
      if (this.paused) return;
    }
    if (!this.dead) this.socket.resume();
  }

  private onEnded(): void {
    this.dead = true;
    if (!this.active) this.pool.forget(this);
    // An active exchange ends at 'close' (which follows): a body read until close completes there.
  }

  private onTimeout(): void {
    const o = this.pool.o;
    if (!this.active) {
      this.pool.forget(this);
      this.destroy();
    } else if (!this.connected) this.fail(upstreamError('UND_ERR_CONNECT_TIMEOUT', `connecting to ${o.host}:${o.port} timed out after ${o.connectMs} ms`));
    else if (!this.headDone) this.fail(upstreamError('UND_ERR_HEADERS_TIMEOUT', `the backend sent no response head within ${o.headersMs} ms`));
    else this.fail(upstreamError('UND_ERR_BODY_TIMEOUT', `the backend sent nothing for ${o.bodyIdleMs} ms while streaming the response`));
  }

  private onClose(): void {
    this.dead = true;
    if (!this.active) {
      this.pool.forget(this);
      return;
    }
    // A body read until close ends here; anything else still open was cut short.
    if (this.headDone && this.parser.finish()) {
      this.finish(false);
      return;
    }
    this.fail(upstreamError('ECONNRESET', this.headDone ? 'the backend closed the connection before the response was complete' : 'the backend closed the connection without a response'));
  }

  /** Ends this exchange with an error: the handler hears of it once, the connection is closed. */
  private fail(err: Error): void {
    const h = this.handler;
    if (!this.active) {
      this.pool.forget(this);
      this.destroy();
      return;
    }
    this.finish(false);
    h?.onError(err);
  }
}
