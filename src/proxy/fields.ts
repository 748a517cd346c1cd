/**
 * HTTP/1.1 header lines, as both the request fast path (src/proxy/fast.ts) and the response
 * parser (src/proxy/h1parse.ts) read them: a token name, a colon, the value between optional
 * spaces and tabs, CRLF. The value holds no control characters but tab (RFC 9110 5.5: no NUL,
 * bare CR or LF, no DEL); obs-text (0x80-0xff) is part of it. Scanned by character code: the
 * regular expression this replaced allocated a match array per line, the largest allocation per
 * proxied request.
 */

/** Token characters (RFC 9110 5.6.2), by character code below 128: 2 for upper-case letters, 1 for the others, 0 for none. */
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz") TCHAR[c.charCodeAt(0)] = 1;
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZ') TCHAR[c.charCodeAt(0)] = 2;

/** Where the run of token characters of `text` from `from` ends (`from` itself when there is none). */
export function tokenEnd(text: string, from: number): number {
  let i = from;
  let c = text.charCodeAt(i);
  while (c < 128 && TCHAR[c] !== 0) c = text.charCodeAt(++i);
  return i;
}

/** A non-empty token (a method, a field name in HTTP/1.1). */
export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 127 || TCHAR[c] === 0) return false;
  }
  return true;
}

/** A non-empty token without upper-case letters: a field name as HTTP/2 allows it (RFC 9113 8.2.1). */
export function isLowerToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 127 || TCHAR[c] !== 1) return false;
  }
  return true;
}

/**
 * Whether `s` holds a CR or an LF: a header name or value that would end its line early (a line
 * of its own, a second message). A loop, not two indexOf calls: the strings are short, and this
 * runs for every header of every message written.
 */
export function hasLineBreak(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 13 || c === 10) return true;
  }
  return false;
}

/**
 * Appends `name, value` pairs of the lines from `from` to the end of `text` (which ends with
 * CRLF) to `out`, at most `maxPairs` pairs in all. Returns `text.length` when every line was
 * read, else where the first line that is not a valid field (or the first one over the limit)
 * starts. Trailing spaces and tabs are not part of a value (not trimEnd(): that would also strip
 * obs-text such as \xa0).
 */
export function scanFields(text: string, from: number, out: string[], maxPairs = Infinity): number {
  const len = text.length;
  let at = from;
  while (at < len) {
    if (out.length >= maxPairs * 2) return at;
    let i = at;
    let c = text.charCodeAt(i);
    while (c < 128 && TCHAR[c] !== 0) c = text.charCodeAt(++i);
    if (i === at || c !== 58) return at; // ':'
    const name = text.slice(at, i);
    c = text.charCodeAt(++i);
    while (c === 32 || c === 9) c = text.charCodeAt(++i);
    const vs = i;
    while ((c >= 32 && c !== 127) || c === 9) c = text.charCodeAt(++i);
    if (c !== 13 || text.charCodeAt(i + 1) !== 10) return at;
    let e = i;
    c = text.charCodeAt(e - 1);
    while (e > vs && (c === 32 || c === 9)) c = text.charCodeAt(--e - 1);
    out.push(name, text.slice(vs, e));
    at = i + 2;
  }
  return at;
}

/**
 * Where the first CRLF CRLF (the end of a head) starts in `buf` at or after `from`, or -1.
 * Scanned here rather than with buf.indexOf('\r\n\r\n', from, 'latin1'), a native call that
 * converts its needle on every call (twice per proxied request): a byte that is neither CR nor LF
 * cannot be part of the end, so the scan looks at most one byte in four of a head.
 */
export function headEnd(buf: Uint8Array, from: number): number {
  const len = buf.length;
  let i = from + 3;
  while (i < len) {
    const c = buf[i]!;
    if (c === 10) {
      if (buf[i - 1] === 13 && buf[i - 2] === 10 && buf[i - 3] === 13) return i - 3;
      i += 2; // the next possible end has this LF as its first LF
    } else if (c === 13) i += 1;
    else i += 4;
  }
  return -1;
}

/**
 * Where the fields of a head are, as offsets into the bytes they were scanned from: four numbers
 * per field (name start, name end, value start, value end; the value without the spaces and tabs
 * around it). One instance is reused from head to head, so it holds numbers, not strings: a
 * field a proxy passes on unchanged is copied as bytes and never becomes a string.
 */
export class FieldRanges {
  at = new Int32Array(64);
  count = 0;

  reset(): void {
    this.count = 0;
  }

  add(nameStart: number, nameEnd: number, valueStart: number, valueEnd: number): void {
    let k = this.count * 4;
    if (k + 4 > this.at.length) {
      const grown = new Int32Array(this.at.length * 2);
      grown.set(this.at);
      this.at = grown;
    }
    const a = this.at;
    a[k++] = nameStart;
    a[k++] = nameEnd;
    a[k++] = valueStart;
    a[k] = valueEnd;
    this.count++;
  }
}

/**
 * scanFields over bytes: records the lines from `from` to `end` (the bytes before `end` are a
 * CRLF) in `out`. Returns `end` when every line was read, else where the first line that is not a
 * valid field starts. The same grammar as scanFields, byte for character (latin1).
 */
export function scanFieldBytes(buf: Uint8Array, from: number, end: number, out: FieldRanges): number {
  let at = from;
  while (at < end) {
    let i = at;
    let c = buf[i]!;
    while (c < 128 && TCHAR[c] !== 0 && i < end) c = buf[++i]!;
    if (i === at || i >= end || c !== 58) return at; // ':'
    const nameEnd = i;
    c = buf[++i]!;
    while ((c === 32 || c === 9) && i < end) c = buf[++i]!;
    const vs = i;
    while (((c >= 32 && c !== 127) || c === 9) && i < end) c = buf[++i]!;
    if (i + 1 >= end || c !== 13 || buf[i + 1] !== 10) return at;
    let e = i;
    c = buf[e - 1]!;
    while (e > vs && (c === 32 || c === 9)) c = buf[--e - 1]!;
    out.add(at, nameEnd, vs, e);
    at = i + 2;
  }
  return at;
}
