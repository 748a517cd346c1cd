/**
 * An incremental parser for HTTP/1.1 responses from backends (RFC 9112), for gangplank's own
 * upstream client (src/proxy/h1client.ts). Strict where leniency would let a backend smuggle a
 * second response or confuse framing: conflicting Content-Length values, Transfer-Encoding other
 * than a final `chunked`, bytes a response did not announce, malformed chunk sizes and
 * over-long heads are errors; the connection is then closed, never reused.
 *
 * It calls its sink synchronously from `execute` and allocates only what the sink receives:
 * the head is decoded once as latin1, body bytes are sub-views of the input.
 */
import { FieldRanges, headEnd, isToken, scanFieldBytes, scanFields } from './fields.js';
import {
  FIELD_CONNECTION,
  FIELD_CONTENT_LENGTH,
  FIELD_DROPPED,
  FIELD_KEEP_ALIVE,
  FIELD_TRANSFER_ENCODING,
  bytesEqualLower,
  connectionTokens,
  responseFieldKind,
} from './headers.js';

/**
 * A final (>= 200) response head as the parser read it: numbers and offsets into the bytes it
 * came in, which are valid only during ResponseSink.onHead (one instance per parser, reused).
 * Whoever passes the head on either copies its bytes (src/proxy/fast.ts) or asks for strings
 * (fields, reason).
 */
export class ResponseHead {
  status = 0;
  /** HTTP/1.x of the status line. */
  minor = 1;
  /** The connection may carry another request after this response. */
  keepAlive = true;
  /** The backend's Keep-Alive timeout, 0 when it gave none. */
  keepAliveMs = 0;
  /** The body's length when the head gave one and a body follows, else -1 (chunked, until close, HEAD, 204, 304). */
  length = -1;
  /** The Connection field names other fields, which are then not to be passed on (see connectionTokens). */
  namesOthers = false;
  /** The head's bytes: the status line from `start`, the fields from `fieldsStart`; `end` is after the last field's CRLF. */
  buf: Buffer = EMPTY;
  start = 0;
  fieldsStart = 0;
  end = 0;
  /** Where each field is (FieldRanges), and its FIELD_* kind (src/proxy/headers.ts) by field number. */
  readonly ranges = new FieldRanges();
  kinds = new Uint8Array(32);
  private reasonStart = 0;
  private reasonEnd = 0;

  /** The reason phrase (may be empty). */
  get reason(): string {
    return this.reasonEnd === this.reasonStart ? '' : this.buf.toString('latin1', this.reasonStart, this.reasonEnd);
  }

  /** The fields as sent, flat [name, value, ...], but for a Content-Length that Transfer-Encoding overrides. */
  fields(): string[] {
    const out: string[] = [];
    const a = this.ranges.at;
    const buf = this.buf;
    for (let i = 0; i < this.ranges.count; i++) {
      if (this.kinds[i] === FIELD_DROPPED) continue;
      const k = 4 * i;
      out.push(buf.toString('latin1', a[k]!, a[k + 1]!), buf.toString('latin1', a[k + 2]!, a[k + 3]!));
    }
    return out;
  }

  /** The value of field `i` as a string. */
  value(i: number): string {
    const k = 4 * i;
    return this.buf.toString('latin1', this.ranges.at[k + 2]!, this.ranges.at[k + 3]!);
  }

  setReason(start: number, end: number): void {
    this.reasonStart = start;
    this.reasonEnd = end;
  }
}

const EMPTY = Buffer.alloc(0);

/** Where parsed pieces go. `onBody` returning false asks the caller to pause its input. */
export interface ResponseSink {
  /** A final (>= 200) response head; `head` and its bytes are valid only during this call. */
  onHead(head: ResponseHead): void;
  onBody(chunk: Buffer): boolean;
  /** The response is complete; `trailers` flat as above, or null. */
  onEnd(trailers: string[] | null): void;
}

export class ResponseParseError extends Error {
  /** Kind `protocol` in src/proxy/errors.ts. */
  readonly code = 'HPE_UPSTREAM_RESPONSE';
}

/**
 * The longest head (status line, headers and the empty line ending them) or trailer block
 * accepted, like node's default. The same limit holds however the bytes are cut.
 */
export const MAX_HEAD_BYTES = 16 * 1024;
const MAX_CHUNK_LINE = 4096;

const enum State {
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailers,
  UntilClose,
  Done,
}

/** The value of the bytes from `start` to `end` when they are 1 to 15 decimal digits, else -1. */
function digits(buf: Uint8Array, start: number, end: number): number {
  if (end === start || end - start > 15) return -1;
  let n = 0;
  for (let i = start; i < end; i++) {
    const d = buf[i]! - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/** Bytes a status line starts with (then the minor version digit). */
const HTTP_1 = Buffer.from('HTTP/1.', 'latin1');

function startsWithHttp1(buf: Uint8Array, at: number): boolean {
  for (let i = 0; i < HTTP_1.length; i++) if (buf[at + i] !== HTTP_1[i]) return false;
  return true;
}
const KEEP_ALIVE = Buffer.from('keep-alive', 'latin1');

/** A header value may hold visible characters, spaces and tabs, and obs-text; no CR, LF or NUL. */
function badValue(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if ((c < 32 && c !== 9) || c === 127) return true;
  }
  return false;
}

export class ResponseParser {
  private state = State.Head;
  /** Bytes of an unfinished head, size line or trailer block carried over to the next input. */
  private pending: Buffer | undefined;
  private remaining = 0;
  private noBody = false;
  private trailers: string[] | null = null;
  private readonly resHead = new ResponseHead();

  constructor(private readonly sink: ResponseSink) {}

  /** Sets up for the next response; `head` when the request was HEAD (no body, whatever the headers say). */
  expect(head: boolean): void {
    this.state = State.Head;
    this.pending = undefined;
    this.noBody = head;
    this.trailers = null;
  }

  /** True while a response is being read (bytes arriving now belong to it). */
  get busy(): boolean {
    return this.state !== State.Done;
  }

  /** True when the body runs until the connection closes (then `finish` completes it). */
  get readsUntilClose(): boolean {
    return this.state === State.UntilClose;
  }

  /**
   * Feeds bytes. Returns the index after the last byte consumed: less than `data.length` when the
   * sink paused (onBody returned false) or the response ended (the rest would be unsolicited).
   * Throws ResponseParseError on malformed input.
   */
  execute(data: Buffer): number {
    let at = 0;
    while (at < data.length) {
      switch (this.state) {
        case State.Head:
        case State.Trailers: {
          const end = this.block(data, at);
          if (end < 0) return data.length; // kept in pending
          at = end;
          break;
        }
        case State.Length: {
          const chunk = this.take(data, at);
          at += chunk.length;
          if (this.remaining === 0) this.state = State.Done;
          const more = this.sink.onBody(chunk);
          if (this.state === State.Done) {
            this.sink.onEnd(null);
            return at;
          }
          if (!more) return at;
          break;
        }
        case State.ChunkSize: {
          const end = this.chunkLine(data, at);
          if (end < 0) return data.length;
          at = end;
          break;
        }
        case State.ChunkData: {
          const chunk = this.take(data, at);
          at += chunk.length;
          if (this.remaining === 0) this.state = State.ChunkDataEnd;
          if (!this.sink.onBody(chunk)) return at;
          break;
        }
        case State.ChunkDataEnd: {
          // CRLF after the data (possibly split across inputs).
          const c = data[at]!;
          if (this.remaining === 0) {
            if (c !== 13) throw new ResponseParseError('backend response: chunk data not followed by CRLF');
            this.remaining = 1;
            at++;
          } else {
            if (c !== 10) throw new ResponseParseError('backend response: chunk data not followed by CRLF');
            this.remaining = 0;
            this.state = State.ChunkSize;
            at++;
          }
          break;
        }
        case State.UntilClose: {
          const chunk = at === 0 ? data : data.subarray(at);
          at = data.length;
          if (!this.sink.onBody(chunk)) return at;
          break;
        }
        case State.Done:
          return at;
      }
      if (this.done()) return at;
    }
    return at;
  }

  /** The connection closed: completes a body read until close; false when a response was cut short. */
  finish(): boolean {
    if (this.state === State.UntilClose) {
      this.state = State.Done;
      this.sink.onEnd(null);
      return true;
    }
    return this.state === State.Done;
  }

  private done(): boolean {
    return this.state === State.Done;
  }

  /** The body bytes of `data` from `at` that the current length or chunk still expects (a view). */
  private take(data: Buffer, at: number): Buffer {
    const n = Math.min(this.remaining, data.length - at);
    this.remaining -= n;
    return data.subarray(at, at + n);
  }

  /** Collects a head or trailer block ending in an empty line; returns the index after it, or -1. */
  private block(data: Buffer, at: number): number {
    let buf = data;
    let start = at;
    const carried = this.pending === undefined ? 0 : this.pending.length;
    if (carried !== 0) {
      buf = Buffer.concat([this.pending!, data.subarray(at)]);
      start = 0;
    }
    // A block may be just CRLF (no trailers) or start with the status line.
    let end: number;
    if (this.state === State.Trailers && buf[start] === 13 && buf[start + 1] === 10) end = start;
    else {
      const i = headEnd(buf, Math.max(start, carried - 3));
      end = i < 0 ? -1 : i + 2;
    }
    if (end < 0) {
      // Without its end in sight, a block this long already is will be longer than the limit.
      if (buf.length - start >= MAX_HEAD_BYTES) throw new ResponseParseError(`backend response head is larger than ${MAX_HEAD_BYTES} bytes`);
      this.pending = Buffer.from(buf.subarray(start));
      return -1;
    }
    if (end + 2 - start > MAX_HEAD_BYTES) throw new ResponseParseError(`backend response head is larger than ${MAX_HEAD_BYTES} bytes`);
    this.pending = undefined;
    const consumed = end + 2 - start - carried; // bytes of `data` after `at`
    if (this.state === State.Head) this.head(buf, start, end);
    else this.trailerBlock(buf.toString('latin1', start, end));
    return at + consumed;
  }

  /** The head in `buf` from `start` to `end` (after the last field's CRLF, before the empty line). */
  private head(buf: Buffer, start: number, end: number): void {
    let eol = start;
    while (eol < end && buf[eol] !== 13) eol++;
    const n = eol - start;
    // HTTP/1.x SP 3DIGIT SP reason (the reason may be empty, the space before it too).
    if (eol + 1 >= end || buf[eol + 1] !== 10 || n < 12 || !startsWithHttp1(buf, start) || buf[start + 8] !== 32 || (n > 12 && buf[start + 12] !== 32)) {
      throw this.badStatusLine(buf, start, end);
    }
    const minor = buf[start + 7]! - 48;
    const d0 = buf[start + 9]! - 48;
    const d1 = buf[start + 10]! - 48;
    const d2 = buf[start + 11]! - 48;
    const status = d0 * 100 + d1 * 10 + d2;
    if ((minor !== 0 && minor !== 1) || d0 < 1 || d0 > 9 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) throw this.badStatusLine(buf, start, end);
    // The reason reaches clients (and node refuses controls in it): no NUL, bare CR or LF.
    for (let i = start + 13; i < eol; i++) {
      const c = buf[i]!;
      if ((c < 32 && c !== 9) || c === 127) throw this.badStatusLine(buf, start, end);
    }
    const h = this.resHead;
    const ranges = h.ranges;
    ranges.reset();
    const stop = scanFieldBytes(buf, eol + 2, end, ranges);
    if (stop < end) throw new ResponseParseError(fieldError(buf.toString('latin1', stop, end), 0));
    if (status < 200) {
      // Interim responses (100 Continue, 103 Early Hints) are not forwarded; the final one follows.
      // 101 would switch protocols, which this client never asks for.
      if (status === 101) throw new ResponseParseError('backend switched protocols (101) on a request that did not ask for it');
      this.state = State.Head;
      return;
    }
    h.buf = buf;
    h.start = start;
    h.fieldsStart = eol + 2;
    h.end = end;
    h.status = status;
    h.minor = minor;
    h.setReason(n > 13 ? start + 13 : eol, eol);
    h.namesOthers = false;
    const count = ranges.count;
    if (h.kinds.length < count) h.kinds = new Uint8Array(2 * count);
    const kinds = h.kinds;
    const a = ranges.at;
    let length = -1;
    let chunked = false;
    let keepAlive = minor === 1;
    let keepAliveMs = 0;
    for (let i = 0; i < count; i++) {
      const k = 4 * i;
      const kind = responseFieldKind(buf, a[k]!, a[k + 1]!);
      kinds[i] = kind;
      if (kind === FIELD_CONTENT_LENGTH) {
        const plain = digits(buf, a[k + 2]!, a[k + 3]!);
        if (plain >= 0) {
          if (length !== -1 && plain !== length) throw new ResponseParseError('backend response has conflicting Content-Length values');
          length = plain;
          continue;
        }
        // A list of equal values (RFC 9110 8.6) is one length; anything else is refused.
        const v = h.value(i);
        for (const part of v.split(',')) {
          const p = part.trim();
          if (!/^\d{1,15}$/.test(p)) throw new ResponseParseError(`backend response has an invalid Content-Length: ${JSON.stringify(v.slice(0, 64))}`);
          const len = Number(p);
          if (length !== -1 && len !== length) throw new ResponseParseError('backend response has conflicting Content-Length values');
          length = len;
        }
      } else if (kind === FIELD_TRANSFER_ENCODING) {
        const v = h.value(i);
        const codings = v.toLowerCase().split(',').map((s) => s.trim()).filter((s) => s !== '');
        if (codings.at(-1) !== 'chunked' || codings.indexOf('chunked') !== codings.length - 1) {
          // Without a final chunked the body would run until close; we refuse to guess.
          throw new ResponseParseError(`backend response has an unsupported Transfer-Encoding: ${JSON.stringify(v.slice(0, 64))}`);
        }
        if (codings.length > 1) throw new ResponseParseError(`backend response has a Transfer-Encoding gangplank does not decode: ${JSON.stringify(v.slice(0, 64))}`);
        // A second field would make the coding list "chunked, chunked": chunked applied twice.
        if (chunked) throw new ResponseParseError('backend response has more than one Transfer-Encoding: chunked');
        chunked = true;
      } else if (kind === FIELD_CONNECTION) {
        // The usual value, without making it a string.
        if (bytesEqualLower(buf, a[k + 2]!, a[k + 3]!, KEEP_ALIVE)) {
          keepAlive = true;
          continue;
        }
        const t = h.value(i).toLowerCase();
        if (t.includes('close')) keepAlive = false;
        else if (t.includes('keep-alive')) keepAlive = true;
        if (connectionTokens(t) !== undefined) h.namesOthers = true;
      } else if (kind === FIELD_KEEP_ALIVE) {
        const m = /(?:^|[\s,])timeout=(\d+)/i.exec(h.value(i));
        if (m) keepAliveMs = Number(m[1]) * 1000;
      }
    }
    // Transfer-Encoding overrides Content-Length (RFC 9112 6.3), and a proxy must not forward the
    // Content-Length then: with the decoded body it would frame the client's response wrongly,
    // and the client would take the next response's bytes as this one's body. The pair smells of
    // smuggling, so the connection is not reused afterwards either.
    if (chunked && length !== -1) {
      length = -1;
      keepAlive = false;
      for (let i = 0; i < count; i++) if (kinds[i] === FIELD_CONTENT_LENGTH) kinds[i] = FIELD_DROPPED;
    }
    const bodiless = this.noBody || status === 204 || status === 304;
    if (bodiless) this.state = State.Done;
    else if (chunked) {
      this.state = State.ChunkSize;
      this.remaining = 0;
    } else if (length >= 0) {
      this.state = length === 0 ? State.Done : State.Length;
      this.remaining = length;
    } else {
      this.state = State.UntilClose;
      keepAlive = false;
    }
    h.keepAlive = keepAlive;
    h.keepAliveMs = keepAliveMs;
    h.length = bodiless ? -1 : length;
    try {
      this.sink.onHead(h);
    } finally {
      h.buf = EMPTY; // the bytes are the caller's to reuse
    }
    if (this.state === State.Done) this.sink.onEnd(null);
  }

  private badStatusLine(buf: Buffer, start: number, end: number): ResponseParseError {
    const text = buf.toString('latin1', start, end);
    const eol = text.indexOf('\r\n');
    return new ResponseParseError(`backend response has an invalid status line: ${JSON.stringify(text.slice(0, eol < 0 ? 64 : Math.min(eol, 64)))}`);
  }

  /** One chunk-size line (hex size, optional extensions, CRLF); returns the index after it, or -1. */
  private chunkLine(data: Buffer, at: number): number {
    let buf = data;
    let start = at;
    const carried = this.pending === undefined ? 0 : this.pending.length;
    if (carried !== 0) {
      buf = Buffer.concat([this.pending!, data.subarray(at)]);
      start = 0;
    }
    const lf = buf.indexOf(10, start);
    if (lf < 0) {
      if (buf.length - start >= MAX_CHUNK_LINE) throw new ResponseParseError('backend response has an over-long chunk-size line');
      this.pending = Buffer.from(buf.subarray(start));
      return -1;
    }
    // The same limit when the whole line arrived at once.
    if (lf + 1 - start > MAX_CHUNK_LINE) throw new ResponseParseError('backend response has an over-long chunk-size line');
    this.pending = undefined;
    if (lf === start || buf[lf - 1] !== 13) throw new ResponseParseError('backend response has a chunk-size line not ended by CRLF');
    let size = 0;
    let digits = 0;
    let i = start;
    for (; i < lf - 1; i++) {
      const c = buf[i]!;
      const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
      if (d < 0) break;
      // Leading zeros are allowed; a size of 2^40 bytes or more is not (and would lose precision).
      if (size >= 0x1000000000) throw new ResponseParseError('backend response has a chunk size too large');
      size = size * 16 + d;
      digits++;
    }
    if (digits === 0) throw new ResponseParseError('backend response has an invalid chunk size');
    // Only extensions (";...") or optional whitespace before them may follow the size.
    if (i < lf - 1) {
      const rest = buf.toString('latin1', i, lf - 1);
      if (!/^[ \t]*;/.test(rest) || badValue(rest)) throw new ResponseParseError('backend response has an invalid chunk size');
    }
    const consumed = lf + 1 - start - carried;
    if (size === 0) {
      this.state = State.Trailers;
    } else {
      this.state = State.ChunkData;
      this.remaining = size;
    }
    return at + consumed;
  }

  private trailerBlock(text: string): void {
    const fields = text.length === 0 ? [] : parseFields(text, 0);
    this.trailers = fields.length === 0 ? null : fields;
    this.state = State.Done;
    this.sink.onEnd(this.trailers);
  }
}

/** `name: value` lines from `from` to the end of `text` (which ends with CRLF); flat list. */
function parseFields(text: string, from: number): string[] {
  const out: string[] = [];
  const stop = scanFields(text, from, out);
  if (stop < text.length) throw new ResponseParseError(fieldError(text, stop));
  return out;
}

/** Says what is wrong with the header line at `at` (the slow path, for the error message only). */
function fieldError(text: string, at: number): string {
  const line = text.slice(at, text.indexOf('\r\n', at));
  const c0 = line.charCodeAt(0);
  if (c0 === 32 || c0 === 9) return 'backend response uses obsolete line folding in a header';
  const colon = line.indexOf(':');
  if (colon <= 0) return `backend response has a malformed header line: ${JSON.stringify(line.slice(0, 64))}`;
  if (!isToken(line.slice(0, colon))) return `backend response has an invalid header name: ${JSON.stringify(line.slice(0, Math.min(colon, 64)))}`;
  return `backend response header ${line.slice(0, colon)} has an invalid value`;
}
