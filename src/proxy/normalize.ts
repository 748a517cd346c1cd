/**
 * Request-target parsing and path normalization (RFC 3986 section 6.2.2 and 5.2.4).
 *
 * The normalized path is both what the route table matches and what the backend receives, so
 * a request can never match one route and reach its backend as another path.
 */

/** The parts of a request target the proxy uses. `host` is set only for absolute-form targets. */
export interface ParsedTarget {
  /** Normalized path, always starting with `/`. */
  path: string;
  /** The original query including its leading `?`, or `''`. */
  query: string;
  /** Authority of an absolute-form target (`http://host:port/...`), as sent; `undefined` otherwise. */
  host: string | undefined;
}

// Per byte: 0 = must be percent-encoded, 1 = allowed as is (pchar, '/', sub-delims), 2 = '%', 3 = '.'.
const PATH_CLASS = new Uint8Array(128);
{
  const allowed = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_~!$&'()*+,;=:@/";
  for (let i = 0; i < allowed.length; i++) PATH_CLASS[allowed.charCodeAt(i)] = 1;
  PATH_CLASS[0x25] = 2;
  PATH_CLASS[0x2e] = 3;
}

// Unreserved characters (RFC 3986 section 2.3): a percent-encoded one is decoded.
const UNRESERVED = new Uint8Array(128);
{
  const u = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~';
  for (let i = 0; i < u.length; i++) UNRESERVED[u.charCodeAt(i)] = 1;
}

const HEX = '0123456789ABCDEF';

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/**
 * Parses a request target (origin-form or absolute-form). Returns `undefined` for a target the
 * proxy refuses (answer 400): asterisk-form, authority-form, fragments, bad percent-encoding,
 * control characters, userinfo.
 */
export function parseTarget(target: string): ParsedTarget | undefined {
  let host: string | undefined;
  let start = 0;
  const c0 = target.charCodeAt(0);
  if (c0 !== 47 /* / */) {
    // absolute-form: http://authority[/path][?query]
    const sep = target.indexOf('://');
    if (sep < 0) return undefined;
    const scheme = target.slice(0, sep).toLowerCase();
    if (scheme !== 'http' && scheme !== 'https') return undefined;
    const aStart = sep + 3;
    let aEnd = aStart;
    while (aEnd < target.length) {
      const c = target.charCodeAt(aEnd);
      if (c === 47 || c === 63 /* ? */) break;
      if (c === 64 /* @ */ || c === 35 /* # */ || c <= 32 || c >= 127) return undefined;
      aEnd++;
    }
    if (aEnd === aStart) return undefined;
    host = target.slice(aStart, aEnd);
    if (aEnd === target.length || target.charCodeAt(aEnd) === 63) {
      return { path: '/', query: target.slice(aEnd), host };
    }
    start = aEnd;
  }
  let q = target.indexOf('?', start);
  if (q < 0) q = target.length;
  const path = normalizePath(target, start, q);
  if (path === undefined) return undefined;
  const query = q === target.length ? '' : target.slice(q);
  for (let i = 0; i < query.length; i++) {
    const c = query.charCodeAt(i);
    if (c <= 32 || c === 127 || c === 35 /* # */) return undefined;
  }
  return { path, query, host };
}

/**
 * Normalizes `s.slice(start, end)` (must start with `/`): decodes percent-encoded unreserved
 * characters, upper-cases the hex digits of the others (so `%2f` and `%2F` are one path and an
 * encoded slash stays encoded), percent-encodes characters that may not appear raw, and removes
 * dot segments. Empty segments (`//`) are kept. Returns `undefined` for invalid input.
 */
export function normalizePath(s: string, start = 0, end = s.length): string | undefined {
  if (s.charCodeAt(start) !== 47) return undefined;
  // Fast path: nothing to decode and no dot segment; the common case costs one scan.
  let clean = true;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    const k = c < 128 ? PATH_CLASS[c] : 0;
    if (k === 1) continue;
    if (k === 3) {
      // A '.' only matters when it starts a segment.
      if (s.charCodeAt(i - 1) === 47) {
        clean = false;
        break;
      }
      continue;
    }
    clean = false;
    break;
  }
  if (clean) return start === 0 && end === s.length ? s : s.slice(start, end);

  let out = '';
  let hasDot = false;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c <= 32 || c === 127 || c === 35 /* # */) return undefined;
    const k = c < 128 ? PATH_CLASS[c] : 0;
    if (k === 1) {
      out += s[i];
    } else if (k === 3) {
      out += '.';
      hasDot = true;
    } else if (k === 2) {
      if (i + 2 >= end) return undefined;
      const h = hexVal(s.charCodeAt(i + 1));
      const l = hexVal(s.charCodeAt(i + 2));
      if (h < 0 || l < 0) return undefined;
      const v = h * 16 + l;
      if (v < 128 && UNRESERVED[v] === 1) {
        out += String.fromCharCode(v);
        if (v === 46) hasDot = true;
      } else {
        out += '%' + HEX[h] + HEX[l];
      }
      i += 2;
    } else if (c < 128) {
      // Printable but not allowed raw (`"<>[\]^{|}` and backquote): encode it.
      out += '%' + HEX[c >> 4] + HEX[c & 15];
    } else {
      // Non-ASCII: node hands us the bytes as latin1 characters; encode each byte.
      if (c > 255) return undefined;
      out += '%' + HEX[c >> 4] + HEX[c & 15];
    }
  }
  return hasDot ? removeDotSegments(out) : out;
}

/** RFC 3986 section 5.2.4 for an absolute path; keeps empty segments. */
export function removeDotSegments(path: string): string {
  const segs = path.split('/');
  const out: string[] = [];
  const last = segs.length - 1;
  for (let i = 1; i <= last; i++) {
    const seg = segs[i]!;
    if (seg === '.') {
      if (i === last) out.push('');
    } else if (seg === '..') {
      out.pop();
      if (i === last) out.push('');
    } else {
      out.push(seg);
    }
  }
  return '/' + out.join('/');
}

/**
 * Lower-cases a Host header value and strips its port and a trailing dot. Returns `undefined`
 * for a value that is not a plausible host (answer 400). A value it accepts holds no control
 * character, space, '/', '@' or ',' anywhere (inside an IP literal's brackets too), so no line
 * break: the proxy writes it into a request head as it is (PeerLines.lines).
 */
export function normalizeHost(value: string): string | undefined {
  let end = value.length;
  if (end === 0) return '';
  if (value.charCodeAt(0) === 91 /* [ */) {
    const close = value.indexOf(']');
    if (close < 0) return undefined;
    for (let i = 1; i < close; i++) if (notInHost(value.charCodeAt(i)) || value.charCodeAt(i) === 91) return undefined;
    const rest = value.slice(close + 1);
    if (rest !== '' && !/^:\d{1,5}$/.test(rest)) return undefined;
    return value.slice(0, close + 1).toLowerCase();
  }
  const colon = value.indexOf(':');
  if (colon >= 0) {
    for (let i = colon + 1; i < end; i++) {
      const c = value.charCodeAt(i);
      if (c < 48 || c > 57) return undefined;
    }
    end = colon;
  }
  if (end > 0 && value.charCodeAt(end - 1) === 46) end--;
  let lower = false;
  for (let i = 0; i < end; i++) {
    const c = value.charCodeAt(i);
    if (c >= 65 && c <= 90) lower = true;
    else if (notInHost(c)) return undefined;
  }
  const h = end === value.length ? value : value.slice(0, end);
  return lower ? h.toLowerCase() : h;
}

/** A character no host name or IP literal holds: a control character, space, '/', '@', ',' or DEL. */
function notInHost(c: number): boolean {
  return c <= 32 || c === 47 || c === 64 || c === 127 || c === 44;
}
