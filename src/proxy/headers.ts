/**
 * Header handling between client and backend: hop-by-hop removal (RFC 9110 section 7.6.1),
 * forwarding headers, and the strict checks node's parser leaves to us.
 */
import { hasLineBreak } from './fields.js';

/*
 * Name sets are Sets, not objects: a header name used as a property key would be turned into a
 * ThinString, which V8 types as two-byte, and the head it is later joined into would be built two
 * bytes per character (a lower-case name is its own toLowerCase()).
 */

/** Headers that describe one connection, never forwarded. */
const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
]);

/** Headers gangplank sets itself; incoming values are kept only from trusted proxies. */
const FORWARDING: ReadonlySet<string> = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-real-ip']);

/**
 * By length, the lower-case names of the client's fields that do not go upstream as they are
 * (hop-by-hop, forwarding, Host and Expect). Told by comparing, not by a Set: a Set hashes the
 * name (and wants it lower-cased first, a new string) for every field of every request.
 */
const DROP_BY_LEN: string[][] = [];
for (const n of [...HOP_BY_HOP, ...FORWARDING, 'host', 'expect']) (DROP_BY_LEN[n.length] ??= []).push(n);

/** Whether `name` (any case) is one of the lower-case ASCII `names`, all of its length. */
function inNamesOfItsLength(name: string, names: string[]): boolean {
  for (let k = 0; k < names.length; k++) {
    const m = names[k]!;
    let i = 0;
    // Setting bit 0x20 lower-cases a letter and leaves '-' alone (as in bytesEqualLower).
    while (i < m.length && (name.charCodeAt(i) | 0x20) === m.charCodeAt(i)) i++;
    if (i === m.length) return true;
  }
  return false;
}

/** Whether a client's field of this name (any case) does not go upstream as it is. */
export function droppedUpstream(name: string): boolean {
  const names = DROP_BY_LEN[name.length];
  return names !== undefined && inNamesOfItsLength(name, names);
}
const HOP_LEN = new Uint8Array(32);
for (const n of HOP_BY_HOP) HOP_LEN[n.length] = 1;

/*
 * What a response field is to the proxy, told from its name's bytes (responseFieldKind): the
 * response parser (src/proxy/h1parse.ts) classifies each field once, and the fast path
 * (src/proxy/fast.ts) then copies the fields it passes on as bytes.
 */
/** Passed on as it is. */
export const FIELD_PLAIN = 0;
/** Hop-by-hop (but Trailer, which announces the trailers passed on): never passed on. */
export const FIELD_HOP = 1;
export const FIELD_CONTENT_LENGTH = 2;
export const FIELD_TRANSFER_ENCODING = 3;
export const FIELD_CONNECTION = 4;
export const FIELD_KEEP_ALIVE = 5;
export const FIELD_DATE = 6;
/** Set by the response parser: a field that is not passed on (a Content-Length that Transfer-Encoding overrides). */
export const FIELD_DROPPED = 7;

/** By name length: the lower-case names and kinds of the fields that are not FIELD_PLAIN. */
const KIND_BY_LEN: [Uint8Array, number][][] = [];
{
  const named: [string, number][] = [
    ['content-length', FIELD_CONTENT_LENGTH],
    ['transfer-encoding', FIELD_TRANSFER_ENCODING],
    ['connection', FIELD_CONNECTION],
    ['keep-alive', FIELD_KEEP_ALIVE],
    ['date', FIELD_DATE],
  ];
  for (const n of HOP_BY_HOP) if (n !== 'trailer' && !named.some(([m]) => m === n)) named.push([n, FIELD_HOP]);
  for (const [n, kind] of named) (KIND_BY_LEN[n.length] ??= []).push([Buffer.from(n, 'latin1'), kind]);
}

/** Whether the bytes from `start` to `end` are `lower` (lower-case ASCII letters and '-') in any case. */
export function bytesEqualLower(buf: Uint8Array, start: number, end: number, lower: Uint8Array): boolean {
  if (end - start !== lower.length) return false;
  // Setting bit 0x20 lower-cases a letter and leaves '-' alone; the other characters of a token
  // (digits, '!', '_', ...) never become a letter or '-' by it.
  for (let i = 0; i < lower.length; i++) if ((buf[start + i]! | 0x20) !== lower[i]) return false;
  return true;
}

/** The FIELD_* kind of the response field whose name (a token) is the bytes from `start` to `end`. */
export function responseFieldKind(buf: Uint8Array, start: number, end: number): number {
  const cands = KIND_BY_LEN[end - start];
  if (cands === undefined) return FIELD_PLAIN;
  for (let i = 0; i < cands.length; i++) {
    const c = cands[i]!;
    if (bytesEqualLower(buf, start, end, c[0])) return c[1];
  }
  return FIELD_PLAIN;
}

export function isHopByHop(lowerName: string): boolean {
  return HOP_BY_HOP.has(lowerName);
}

/** Fields that have no place in a request trailer section a proxy passes on (framing, routing, how to read the body). */
const NOT_A_TRAILER: ReadonlySet<string> = new Set(['content-length', 'host', 'expect', 'content-type', 'content-encoding', 'content-range']);

/** Whether a request trailer field (lower-case name) is passed on to the backend (RFC 9110 6.5.1). */
export function isPassableRequestTrailer(lowerName: string): boolean {
  return !HOP_BY_HOP.has(lowerName) && !NOT_A_TRAILER.has(lowerName);
}

/** Lower-cased tokens of a Connection header value (other than keep-alive/close/upgrade, which are hop-by-hop anyway). */
export function connectionTokens(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  // The usual values name no other header: skip the split.
  if (value.length === 10 || value.length === 5) {
    const v = value.toLowerCase();
    if (v === 'keep-alive' || v === 'close') return undefined;
  }
  let out: string[] | undefined;
  for (const raw of value.split(',')) {
    const t = raw.trim().toLowerCase();
    if (t === '' || t === 'close' || t === 'keep-alive' || t === 'upgrade') continue;
    (out ??= []).push(t);
  }
  return out;
}

/** What the request-header scan found; reused per request to avoid allocations. */
export interface RequestFacts {
  /** Reason to refuse the request with 400, or undefined. */
  error: string | undefined;
  host: string | undefined;
  hasBody: boolean;
  teTrailers: boolean;
  cookie: string | undefined;
  connection: string | undefined;
  upgrade: string | undefined;
  xff: string | undefined;
  proto: string | undefined;
  fwdHost: string | undefined;
  fwdPort: string | undefined;
  realIp: string | undefined;
}

export function newFacts(): RequestFacts {
  return {
    error: undefined,
    host: undefined,
    hasBody: false,
    teTrailers: false,
    cookie: undefined,
    connection: undefined,
    upgrade: undefined,
    xff: undefined,
    proto: undefined,
    fwdHost: undefined,
    fwdPort: undefined,
    realIp: undefined,
  };
}

/**
 * One pass over the raw request headers: rejects what node's parser lets through silently
 * (duplicate Host, duplicate Content-Length, Content-Length together with Transfer-Encoding)
 * and collects the values forwarding needs.
 */
export function scanRequestHeaders(raw: string[], f: RequestFacts): RequestFacts {
  f.error = undefined;
  f.host = undefined;
  f.hasBody = false;
  f.teTrailers = false;
  f.cookie = undefined;
  f.connection = undefined;
  f.upgrade = undefined;
  f.xff = undefined;
  f.proto = undefined;
  f.fwdHost = undefined;
  f.fwdPort = undefined;
  f.realIp = undefined;
  let cl: string | undefined;
  let te = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    // Only names of these lengths matter here; skip the rest without lower-casing.
    const n = name.length;
    if (n !== 4 && n !== 2 && n !== 6 && n !== 7 && n !== 9 && n !== 10 && n !== 14 && n !== 15 && n !== 16 && n !== 17) continue;
    const lower = name.toLowerCase();
    const v = raw[i + 1]!;
    switch (lower) {
      case 'host':
        if (f.host !== undefined) f.error = 'duplicate Host header';
        f.host = v;
        break;
      case 'content-length':
        if (cl !== undefined) f.error = 'duplicate Content-Length header';
        cl = v;
        break;
      case 'transfer-encoding':
        te = true;
        break;
      case 'te':
        if (v.toLowerCase().includes('trailers')) f.teTrailers = true;
        break;
      case 'cookie':
        f.cookie = f.cookie === undefined ? v : f.cookie + '; ' + v;
        break;
      case 'connection':
        f.connection = f.connection === undefined ? v : f.connection + ',' + v;
        break;
      case 'upgrade':
        f.upgrade = v;
        break;
      case 'x-forwarded-for':
        f.xff = f.xff === undefined ? v : f.xff + ', ' + v;
        break;
      case 'x-forwarded-proto':
        f.proto = v;
        break;
      case 'x-forwarded-host':
        f.fwdHost = v;
        break;
      case 'x-forwarded-port':
        f.fwdPort = v;
        break;
      case 'x-real-ip':
        f.realIp = v;
        break;
    }
  }
  if (te && cl !== undefined) f.error = 'both Content-Length and Transfer-Encoding';
  f.hasBody = te || (cl !== undefined && cl !== '0');
  return f;
}

/** The values gangplank puts into the forwarding headers of one request. */
export interface Forwarding {
  trusted: boolean;
  clientIp: string;
  proto: string;
  host: string;
  port: string;
}

/**
 * Builds the header list sent upstream (flat `[name, value, ...]`): hop-by-hop and
 * Connection-named headers removed, Expect removed (the proxy already answered 100-continue),
 * forwarding headers set, Host as given.
 */
export function upstreamRequestHeaders(raw: string[], f: RequestFacts, fw: Forwarding, host: string, extra?: string[]): string[] {
  const out = passedRequestHeaders(raw, f);
  pushAddedHeaders(out, f, fw, host);
  if (extra !== undefined) for (let i = 0; i < extra.length; i++) out.push(extra[i]!);
  return out;
}

/** The client's fields that go upstream as they are (flat): all but hop-by-hop, Connection-named, forwarding, Host and Expect. */
export function passedRequestHeaders(raw: string[], f: RequestFacts): string[] {
  const drop = f.connection === undefined ? undefined : connectionTokens(f.connection);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    // HTTP/2 pseudo-headers (:method, :path, :authority, :scheme) are not headers.
    if (name.charCodeAt(0) === 58) continue;
    if (droppedUpstream(name)) continue;
    if (drop !== undefined && drop.includes(name.toLowerCase())) continue;
    out.push(name, raw[i + 1]!);
  }
  return out;
}

/** Appends the fields gangplank sets upstream: Host, TE: trailers when the client asked for trailers, and the forwarding headers. */
function pushAddedHeaders(out: string[], f: RequestFacts, fw: Forwarding, host: string): void {
  out.push('host', host);
  if (f.teTrailers) out.push('te', 'trailers');
  if (fw.trusted) {
    out.push(
      'x-forwarded-for', f.xff === undefined ? fw.clientIp : f.xff + ', ' + fw.clientIp,
      'x-forwarded-proto', f.proto ?? fw.proto,
      'x-forwarded-host', f.fwdHost ?? fw.host,
      'x-forwarded-port', f.fwdPort ?? fw.port,
      'x-real-ip', f.realIp ?? fw.clientIp,
    );
  } else {
    out.push(
      'x-forwarded-for', fw.clientIp,
      'x-forwarded-proto', fw.proto,
      'x-forwarded-host', fw.host,
      'x-forwarded-port', fw.port,
      'x-real-ip', fw.clientIp,
    );
  }
}

/**
 * The fields pushAddedHeaders sets, as header lines (each ending in CRLF) for gangplank's
 * HTTP/1.1 client; undefined when a value would break its line.
 */
export function addedRequestLines(f: RequestFacts, fw: Forwarding, host: string): string | undefined {
  const pairs: string[] = [];
  pushAddedHeaders(pairs, f, fw, host);
  let lines = '';
  for (let i = 0; i < pairs.length; i += 2) {
    if (hasLineBreak(pairs[i + 1]!)) return undefined;
    lines += pairs[i] + ': ' + pairs[i + 1] + '\r\n';
  }
  return lines;
}

/**
 * Whether addedRequestLines depends on nothing of the request but its Host and TE: the peer is
 * not trusted (its forwarding headers are replaced), or sent none.
 */
export function addedLinesAreThePeers(f: RequestFacts, trusted: boolean): boolean {
  return !trusted || (f.xff === undefined && f.proto === undefined && f.fwdHost === undefined && f.fwdPort === undefined && f.realIp === undefined);
}

const TE_LINE = '\r\nte: trailers\r\n';

/**
 * addedRequestLines for the requests of one client connection when addedLinesAreThePeers: the
 * lines that depend on the connection alone are made once, around the request's host, and the
 * last result is kept (a keep-alive connection usually asks for the same host again and again;
 * one that asks for a different host each time pays a few concatenations).
 *
 * A concatenation is a tree of strings that V8 walks piece by piece each time it is copied into a
 * request head (String::WriteToFlat was 3.4% of the proxy's CPU with one host). Lines asked for a
 * second time are therefore joined into one flat string, copied at once from then on; lines used
 * once (a new host on every request) stay the cheap tree.
 *
 * And they are kept only for a host asked for twice in a row, told by a number (`key`): this object
 * lives as long as its connection, and storing a new string in an old object costs a write
 * barrier and an entry that the next young collection walks, for every request of a connection
 * that asks for a new host each time (at 10,000 hosts, nearly every one).
 */
export class PeerLines {
  private readonly before: string | undefined;
  private readonly after: string;
  /** What goes between the host in Host and in X-Forwarded-Host, without and with TE: trailers, and what follows the second: flat strings, so a new host's lines are five pieces. */
  private readonly mid: string;
  private readonly midTe: string;
  private readonly tail: string;
  private lastHost = '';
  private lastTe = false;
  private last: string | undefined;
  private lastFlat = false;
  /** The key of the request before (see lines); a number, which costs no write barrier to store. */
  private lastKey = -2;

  constructor(fw: Forwarding) {
    const ok = !hasLineBreak(fw.clientIp) && !hasLineBreak(fw.proto) && !hasLineBreak(fw.port);
    this.before = ok ? `x-forwarded-for: ${fw.clientIp}\r\nx-forwarded-proto: ${fw.proto}\r\n` : undefined;
    this.after = `x-forwarded-port: ${fw.port}\r\nx-real-ip: ${fw.clientIp}\r\n`;
    this.mid = ['\r\n', this.before, 'x-forwarded-host: '].join('');
    this.midTe = [TE_LINE, this.before, 'x-forwarded-host: '].join('');
    this.tail = ['\r\n', this.after].join('');
  }

  /**
   * The lines for a request to `host`, with TE: trailers when `te`; undefined when a value of the
   * connection would break its line. `host` is an authority normalizeHost accepted, which holds no
   * line break. `key` is the same number for the same host (the host's slot in the handler's copy
   * of the table), or -1 when there is none (the lines are then kept, as for a host asked again).
   */
  lines(host: string, te: boolean, key: number): string | undefined {
    if (this.last !== undefined && host === this.lastHost && te === this.lastTe) {
      if (!this.lastFlat) {
        this.lastFlat = true;
        this.last = ['host: ', host, te ? this.midTe : this.mid, host, this.tail].join('');
      }
      return this.last;
    }
    if (this.before === undefined) return undefined;
    const lines = 'host: ' + host + (te ? this.midTe : this.mid) + host + this.tail;
    if (key === this.lastKey || key < 0) {
      this.lastHost = host;
      this.lastTe = te;
      this.lastFlat = false;
      this.last = lines;
    }
    this.lastKey = key;
    return lines;
  }
}

/**
 * Converts undici's raw response headers (Buffers) to the flat string list node's writeHead
 * takes, dropping hop-by-hop headers and those the Connection header names. `Trailer` is kept:
 * it announces the trailers we pass through.
 */
export function downstreamResponseHeaders(raw: Buffer[] | string[], out: string[]): string[] {
  let drop: string[] | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toString('latin1');
    if (name.length < 32 && HOP_LEN[name.length] === 1) {
      const lower = name.toLowerCase();
      if (lower === 'connection') {
        const t = connectionTokens(raw[i + 1]!.toString('latin1'));
        if (t !== undefined) drop = drop === undefined ? t : drop.concat(t);
        continue;
      }
      if (HOP_BY_HOP.has(lower) && lower !== 'trailer') continue;
    }
    out.push(name, raw[i + 1]!.toString('latin1'));
  }
  if (drop !== undefined) {
    for (let i = out.length - 2; i >= 0; i -= 2) {
      if (drop.includes(out[i]!.toLowerCase())) out.splice(i, 2);
    }
  }
  return out;
}

/** Raw trailers from undici as `[name, value]` pairs for `res.addTrailers`, hop-by-hop removed. */
export function trailerPairs(raw: Buffer[] | string[] | null): [string, string][] | undefined {
  if (raw === null || raw.length === 0) return undefined;
  const out: [string, string][] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toString('latin1');
    if (HOP_BY_HOP.has(name.toLowerCase())) continue;
    out.push([name, raw[i + 1]!.toString('latin1')]);
  }
  return out.length === 0 ? undefined : out;
}
