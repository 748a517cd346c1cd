/**
 * HPACK (RFC 7541): the header compression of our HTTP/2 server, one decoder (request blocks)
 * and one encoder (response blocks) per connection. Written for h2load-style traffic, many small
 * requests per connection: indexed fields come out as the strings already held by the static or
 * dynamic table (no allocation), Huffman strings are decoded four bits at a time through a state
 * table built at load from the RFC's code table, and the encoder writes into the caller's frame
 * buffer or a reused one of its own.
 *
 * Field names and values are bytes, carried as latin1 strings both ways (one character per
 * byte), as Node's http2 presents them.
 */

/**
 * A COMPRESSION_ERROR (RFC 9113 4.3): the header block is malformed and the dynamic table can no
 * longer be trusted to match the peer's, so the connection must be closed.
 */
export class HpackError extends Error {
  readonly code = 'ERR_HPACK_COMPRESSION';
}

/** Buffer's latin1 primitives, which Node has but does not declare (Buffer#toString checks its arguments first). */
interface Latin1Buffer {
  latin1Slice(start: number, end: number): string;
  latin1Write(s: string, offset: number, length: number): number;
}

// --- Static table (RFC 7541 Appendix A) --------------------------------------------------------

/** Index 1-61, as the appendix lists them. */
const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''], ['etag', ''],
  ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''], ['if-modified-since', ''],
  ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''], ['last-modified', ''], ['link', ''],
  ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''], ['proxy-authorization', ''], ['range', ''],
  ['referer', ''], ['refresh', ''], ['retry-after', ''], ['server', ''], ['set-cookie', ''],
  ['strict-transport-security', ''], ['transfer-encoding', ''], ['user-agent', ''], ['vary', ''], ['via', ''],
  ['www-authenticate', ''],
];
const STATIC_COUNT = STATIC_TABLE.length;
/** The first dynamic table index. */
const DYNAMIC_BASE = STATIC_COUNT + 1;
/**
 * By index (0 is not a field). The module's own string constants: a decoded indexed static field
 * is these very strings, nothing is allocated for it.
 */
const STATIC_NAMES: readonly string[] = ['', ...STATIC_TABLE.map(([name]) => name)];
const STATIC_VALUES: readonly string[] = ['', ...STATIC_TABLE.map(([, value]) => value)];

// --- Huffman code (RFC 7541 Appendix B) --------------------------------------------------------

/**
 * (code, length in bits) for symbols 0-255 and EOS (256), in the appendix's order, codes aligned
 * to the least significant bit as its "code as hex" column. Checked at load to be a complete
 * prefix code (buildDecodeTable); the tests round-trip every byte and decode the RFC's examples.
 */
const HUFFMAN: readonly number[] = [
  0x1ff8, 13, 0x7fffd8, 23, 0xfffffe2, 28, 0xfffffe3, 28, // 0-3
  0xfffffe4, 28, 0xfffffe5, 28, 0xfffffe6, 28, 0xfffffe7, 28, // 4-7
  0xfffffe8, 28, 0xffffea, 24, 0x3ffffffc, 30, 0xfffffe9, 28, // 8-11
  0xfffffea, 28, 0x3ffffffd, 30, 0xfffffeb, 28, 0xfffffec, 28, // 12-15
  0xfffffed, 28, 0xfffffee, 28, 0xfffffef, 28, 0xffffff0, 28, // 16-19
  0xffffff1, 28, 0xffffff2, 28, 0x3ffffffe, 30, 0xffffff3, 28, // 20-23
  0xffffff4, 28, 0xffffff5, 28, 0xffffff6, 28, 0xffffff7, 28, // 24-27
  0xffffff8, 28, 0xffffff9, 28, 0xffffffa, 28, 0xffffffb, 28, // 28-31
  0x14, 6, 0x3f8, 10, 0x3f9, 10, 0xffa, 12, // 32-35: ' ' ! " #
  0x1ff9, 13, 0x15, 6, 0xf8, 8, 0x7fa, 11, // $ % & '
  0x3fa, 10, 0x3fb, 10, 0xf9, 8, 0x7fb, 11, // ( ) * +
  0xfa, 8, 0x16, 6, 0x17, 6, 0x18, 6, // , - . /
  0x0, 5, 0x1, 5, 0x2, 5, 0x19, 6, // 0 1 2 3
  0x1a, 6, 0x1b, 6, 0x1c, 6, 0x1d, 6, // 4 5 6 7
  0x1e, 6, 0x1f, 6, 0x5c, 7, 0xfb, 8, // 8 9 : ;
  0x7ffc, 15, 0x20, 6, 0xffb, 12, 0x3fc, 10, // < = > ?
  0x1ffa, 13, 0x21, 6, 0x5d, 7, 0x5e, 7, // @ A B C
  0x5f, 7, 0x60, 7, 0x61, 7, 0x62, 7, // D E F G
  0x63, 7, 0x64, 7, 0x65, 7, 0x66, 7, // H I J K
  0x67, 7, 0x68, 7, 0x69, 7, 0x6a, 7, // L M N O
  0x6b, 7, 0x6c, 7, 0x6d, 7, 0x6e, 7, // P Q R S
  0x6f, 7, 0x70, 7, 0x71, 7, 0x72, 7, // T U V W
  0xfc, 8, 0x73, 7, 0xfd, 8, 0x1ffb, 13, // X Y Z [
  0x7fff0, 19, 0x1ffc, 13, 0x3ffc, 14, 0x22, 6, // \ ] ^ _
  0x7ffd, 15, 0x3, 5, 0x23, 6, 0x4, 5, // ` a b c
  0x24, 6, 0x5, 5, 0x25, 6, 0x26, 6, // d e f g
  0x27, 6, 0x6, 5, 0x74, 7, 0x75, 7, // h i j k
  0x28, 6, 0x29, 6, 0x2a, 6, 0x7, 5, // l m n o
  0x2b, 6, 0x76, 7, 0x2c, 6, 0x8, 5, // p q r s
  0x9, 5, 0x2d, 6, 0x77, 7, 0x78, 7, // t u v w
  0x79, 7, 0x7a, 7, 0x7b, 7, 0x7ffe, 15, // x y z {
  0x7fc, 11, 0x3ffd, 14, 0x1ffd, 13, 0xffffffc, 28, // 124-127
  0xfffe6, 20, 0x3fffd2, 22, 0xfffe7, 20, 0xfffe8, 20, // 128-131
  0x3fffd3, 22, 0x3fffd4, 22, 0x3fffd5, 22, 0x7fffd9, 23, // 132-135
  0x3fffd6, 22, 0x7fffda, 23, 0x7fffdb, 23, 0x7fffdc, 23, // 136-139
  0x7fffdd, 23, 0x7fffde, 23, 0xffffeb, 24, 0x7fffdf, 23, // 140-143
  0xffffec, 24, 0xffffed, 24, 0x3fffd7, 22, 0x7fffe0, 23, // 144-147
  0xffffee, 24, 0x7fffe1, 23, 0x7fffe2, 23, 0x7fffe3, 23, // 148-151
  0x7fffe4, 23, 0x1fffdc, 21, 0x3fffd8, 22, 0x7fffe5, 23, // 152-155
  0x3fffd9, 22, 0x7fffe6, 23, 0x7fffe7, 23, 0xffffef, 24, // 156-159
  0x3fffda, 22, 0x1fffdd, 21, 0xfffe9, 20, 0x3fffdb, 22, // 160-163
  0x3fffdc, 22, 0x7fffe8, 23, 0x7fffe9, 23, 0x1fffde, 21, // 164-167
  0x7fffea, 23, 0x3fffdd, 22, 0x3fffde, 22, 0xfffff0, 24, // 168-171
  0x1fffdf, 21, 0x3fffdf, 22, 0x7fffeb, 23, 0x7fffec, 23, // 172-175
  0x1fffe0, 21, 0x1fffe1, 21, 0x3fffe0, 22, 0x1fffe2, 21, // 176-179
  0x7fffed, 23, 0x3fffe1, 22, 0x7fffee, 23, 0x7fffef, 23, // 180-183
  0xfffea, 20, 0x3fffe2, 22, 0x3fffe3, 22, 0x3fffe4, 22, // 184-187
  0x7ffff0, 23, 0x3fffe5, 22, 0x3fffe6, 22, 0x7ffff1, 23, // 188-191
  0x3ffffe0, 26, 0x3ffffe1, 26, 0xfffeb, 20, 0x7fff1, 19, // 192-195
  0x3fffe7, 22, 0x7ffff2, 23, 0x3fffe8, 22, 0x1ffffec, 25, // 196-199
  0x3ffffe2, 26, 0x3ffffe3, 26, 0x3ffffe4, 26, 0x7ffffde, 27, // 200-203
  0x7ffffdf, 27, 0x3ffffe5, 26, 0xfffff1, 24, 0x1ffffed, 25, // 204-207
  0x7fff2, 19, 0x1fffe3, 21, 0x3ffffe6, 26, 0x7ffffe0, 27, // 208-211
  0x7ffffe1, 27, 0x3ffffe7, 26, 0x7ffffe2, 27, 0xfffff2, 24, // 212-215
  0x1fffe4, 21, 0x1fffe5, 21, 0x3ffffe8, 26, 0x3ffffe9, 26, // 216-219
  0xffffffd, 28, 0x7ffffe3, 27, 0x7ffffe4, 27, 0x7ffffe5, 27, // 220-223
  0xfffec, 20, 0xfffff3, 24, 0xfffed, 20, 0x1fffe6, 21, // 224-227
  0x3fffe9, 22, 0x1fffe7, 21, 0x1fffe8, 21, 0x7ffff3, 23, // 228-231
  0x3fffea, 22, 0x3fffeb, 22, 0x1ffffee, 25, 0x1ffffef, 25, // 232-235
  0xfffff4, 24, 0xfffff5, 24, 0x3ffffea, 26, 0x7ffff4, 23, // 236-239
  0x3ffffeb, 26, 0x7ffffe6, 27, 0x3ffffec, 26, 0x3ffffed, 26, // 240-243
  0x7ffffe7, 27, 0x7ffffe8, 27, 0x7ffffe9, 27, 0x7ffffea, 27, // 244-247
  0x7ffffeb, 27, 0xffffffe, 28, 0x7ffffec, 27, 0x7ffffed, 27, // 248-251
  0x7ffffee, 27, 0x7ffffef, 27, 0x7fffff0, 27, 0x3ffffee, 26, // 252-255
  0x3fffffff, 30, // EOS
];

const HUFF_CODE = new Uint32Array(257);
const HUFF_LEN = new Uint8Array(257);
for (let sym = 0; sym <= 256; sym++) {
  HUFF_CODE[sym] = HUFFMAN[sym * 2]!;
  HUFF_LEN[sym] = HUFFMAN[sym * 2 + 1]!;
}

// The decoder's state table: a state is an internal node of the code tree (256 of them for 257
// leaves; the root, state 0, is "between symbols"), and each (state, next four bits) entry holds
// the state after those bits, the symbol completed on the way if any (at most one: the shortest
// code has 5 bits), and whether stopping there is valid padding.
const STATE_MASK = 0xff;
const EMIT = 0x10000; // bits 8-15 hold the symbol
/** The bits since the last symbol are all ones and at most 7 of them: a valid end (RFC 7541 5.2). */
const ACCEPT = 0x20000;
/** The bits decode to EOS, which an encoder must never send. */
const FAIL = 0x40000;
const HUFF_DECODE = buildDecodeTable();

function buildDecodeTable(): Uint32Array {
  const LEAF = 0x1000;
  // kids[node * 2 + bit]: an internal node, or LEAF | symbol; -1 while unset.
  const kids = new Int32Array(512).fill(-1);
  let nodes = 1;
  const broken = (why: string) => new Error(`HPACK Huffman table: ${why}`);
  for (let sym = 0; sym <= 256; sym++) {
    const code = HUFF_CODE[sym]!;
    let node = 0;
    for (let bit = HUFF_LEN[sym]! - 1; bit > 0; bit--) {
      const k = node * 2 + ((code >>> bit) & 1);
      if (kids[k] === -1) {
        if (nodes === 256) throw broken('more than 256 internal nodes');
        kids[k] = nodes++;
      } else if (kids[k]! & LEAF) throw broken(`code of symbol ${sym} extends another code`);
      node = kids[k]!;
    }
    const k = node * 2 + (code & 1);
    if (kids[k] !== -1) throw broken(`code of symbol ${sym} is a prefix of another code`);
    kids[k] = LEAF | sym;
  }
  if (nodes !== 256 || kids.includes(-1)) throw broken('not a complete prefix code');

  // Padding is a prefix of EOS (all ones): the nodes reached from the root by up to seven ones.
  const accept = new Uint8Array(256);
  for (let node = 0, depth = 0; depth <= 7; depth++) {
    accept[node] = 1;
    node = kids[node * 2 + 1]!;
  }

  const table = new Uint32Array(256 * 16);
  for (let state = 0; state < 256; state++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state;
      let emit = 0;
      let fail = false;
      for (let i = 3; i >= 0; i--) {
        const k = kids[node * 2 + ((nibble >> i) & 1)]!;
        if (k & LEAF) {
          const sym = k & 0x1ff;
          if (sym === 256) {
            fail = true;
            break;
          }
          if (emit !== 0) throw broken('two symbols in four bits');
          emit = EMIT | (sym << 8);
          node = 0;
        } else node = k;
      }
      table[state * 16 + nibble] = fail ? FAIL : emit | node | (accept[node] ? ACCEPT : 0);
    }
  }
  return table;
}

/** The Huffman-coded length in bytes of `s` (one byte per character, latin1). */
function huffmanLength(s: string): number {
  let bits = 0;
  for (let i = 0; i < s.length; i++) bits += HUFF_LEN[s.charCodeAt(i) & 0xff]!;
  return (bits + 7) >>> 3;
}

/** Writes `s` Huffman-coded at out[p], padded with the most significant bits of EOS. */
function huffmanEncode(s: string, out: Uint8Array, p: number): number {
  // `acc` holds the `n` (< 8 between symbols) bits not yet written, so a code of up to 24 bits
  // fits in 31; the longer (rare) codes go in two halves.
  let acc = 0;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) & 0xff;
    const code = HUFF_CODE[c]!;
    const len = HUFF_LEN[c]!;
    if (len > 24) {
      acc = (acc << (len - 16)) | (code >>> 16);
      n += len - 16;
      while (n >= 8) out[p++] = acc >>> (n -= 8);
      acc &= (1 << n) - 1;
      acc = (acc << 16) | (code & 0xffff);
      n += 16;
    } else {
      acc = (acc << len) | code;
      n += len;
    }
    while (n >= 8) out[p++] = acc >>> (n -= 8);
    acc &= (1 << n) - 1;
  }
  if (n > 0) out[p++] = (acc << (8 - n)) | (0xff >>> n);
  return p;
}

// --- Integers and strings (RFC 7541 5.1, 5.2) ---------------------------------------------------

/** Writes `v` with an N-bit prefix (`mask` = 2^N - 1) under the representation's `flags`. */
function writeInt(out: Uint8Array, p: number, flags: number, mask: number, v: number): number {
  if (v < mask) {
    out[p++] = flags | v;
    return p;
  }
  out[p++] = flags | mask;
  v -= mask;
  while (v >= 0x80) {
    out[p++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[p++] = v;
  return p;
}

/** Writes a string literal, Huffman-coded when that is shorter. */
function writeString(out: Buffer, p: number, s: string): number {
  const len = s.length;
  const hlen = huffmanLength(s);
  if (hlen < len) return huffmanEncode(s, out, writeInt(out, p, 0x80, 0x7f, hlen));
  p = writeInt(out, p, 0, 0x7f, len);
  // Below a few dozen bytes the loop beats the native call.
  if (len < 32) for (let i = 0; i < len; i++) out[p + i] = s.charCodeAt(i);
  else (out as unknown as Latin1Buffer).latin1Write(s, p, len);
  return p + len;
}

/** 32 bytes of overhead per entry (RFC 7541 4.1); names and values are latin1, one byte a character. */
function entrySize(name: string, value: string): number {
  return name.length + value.length + 32;
}

/**
 * The first capacity of a table's ring (indexed by insertion number & (capacity - 1)): enough for
 * the few fields a connection repeats; it doubles when a table holds more entries.
 */
const RING_CAPACITY = 32;

// --- Decoder -------------------------------------------------------------------------------------

export interface HpackDecoderOptions {
  /** Our SETTINGS_HEADER_TABLE_SIZE: the largest dynamic table the peer may use. Default 4096. */
  maxTableSize?: number;
  /** Our SETTINGS_MAX_HEADER_LIST_SIZE, counted as RFC 9113 6.5.2: name + value + 32 per field. Default 16384. */
  maxHeaderListSize?: number;
  /** The most fields in one block. Default 128. */
  maxFields?: number;
}

/** Decodes the header blocks of one connection, in the order they arrive. */
export class HpackDecoder {
  private readonly maxTableSize: number;
  private readonly maxHeaderListSize: number;
  private readonly maxFields: number;
  /**
   * The table's limit: our setting, from the start (as the RFC's examples have it), until the
   * peer's encoder signals a smaller one.
   */
  private limit: number;
  private size = 0;
  private count = 0;
  /** Entries ever inserted; the newest is number inserted - 1, kept at slot number & mask. */
  private inserted = 0;
  private names: string[];
  private values: string[];
  private mask: number;
  /** Where the block is being read: a field rather than a returned pair, so nothing is allocated per integer. */
  private pos = 0;
  /** Huffman output, reused: one string is made of it per literal. */
  private scratch = Buffer.allocUnsafe(256);
  /**
   * The names of the fields the last decode() read as "never indexed" (RFC 7541 6.2.3), or
   * undefined when it read none: an intermediary must send them on the same way (7.1.3).
   */
  neverIndexed: string[] | undefined;

  constructor(opts: HpackDecoderOptions = {}) {
    this.maxTableSize = opts.maxTableSize ?? 4096;
    this.maxHeaderListSize = opts.maxHeaderListSize ?? 16384;
    this.maxFields = opts.maxFields ?? 128;
    this.limit = this.maxTableSize;
    this.names = new Array<string>(RING_CAPACITY).fill('');
    this.values = new Array<string>(RING_CAPACITY).fill('');
    this.mask = RING_CAPACITY - 1;
  }

  /**
   * Decodes one complete header block buf[start, end) and appends its fields to `out` as
   * name, value pairs. Names are returned as sent (the caller checks they are lower case).
   * Returns the number of fields, or -1 when the block has more than maxFields fields or a larger
   * list than maxHeaderListSize: the block is still decoded to its end so the dynamic table stays
   * in step with the peer's, but the fields beyond the limit are not appended.
   * Throws HpackError on a malformed block.
   */
  decode(buf: Buffer, start: number, end: number, out: string[]): number {
    this.pos = start;
    this.neverIndexed = undefined;
    let fields = 0;
    let listSize = 0;
    let over = false;
    while (this.pos < end) {
      const b = buf[this.pos]!;
      let name: string;
      let value: string;
      if (b >= 0x80) {
        // Indexed field (6.1).
        const index = this.int(buf, end, 0x7f);
        if (index <= STATIC_COUNT) {
          if (index === 0) throw new HpackError('HPACK: indexed field with index 0');
          name = STATIC_NAMES[index]!;
          value = STATIC_VALUES[index]!;
        } else {
          const slot = this.slot(index);
          name = this.names[slot]!;
          value = this.values[slot]!;
        }
      } else if (b >= 0x40) {
        // Literal with incremental indexing (6.2.1).
        name = b === 0x40 ? this.literalName(buf, end) : this.indexedName(this.int(buf, end, 0x3f));
        value = this.string(buf, end);
        this.insert(name, value);
      } else if (b >= 0x20) {
        // Dynamic table size update (6.3): only before the block's first field (4.2).
        if (fields > 0) throw new HpackError('HPACK: dynamic table size update after a field');
        const n = this.int(buf, end, 0x1f);
        if (n > this.maxTableSize) {
          throw new HpackError(`HPACK: dynamic table size update to ${n} exceeds our SETTINGS_HEADER_TABLE_SIZE of ${this.maxTableSize}`);
        }
        this.limit = n;
        this.evictTo(n);
        continue;
      } else {
        // Literal without indexing (6.2.2, 0000) or never indexed (6.2.3, 0001). The names of the
        // latter are noted: an h2c backend gets them never indexed too (HTTP/1.1 has no way to say it).
        name = (b & 0x0f) === 0 ? this.literalName(buf, end) : this.indexedName(this.int(buf, end, 0x0f));
        value = this.string(buf, end);
        if (b >= 0x10) (this.neverIndexed ??= []).push(name);
      }
      fields++;
      listSize += name.length + value.length + 32;
      if (over) continue;
      if (fields > this.maxFields || listSize > this.maxHeaderListSize) over = true;
      else out.push(name, value);
    }
    return over ? -1 : fields;
  }

  /** The slot of a dynamic table index. */
  private slot(index: number): number {
    const k = index - DYNAMIC_BASE;
    if (k >= this.count) {
      throw new HpackError(`HPACK: index ${index} is beyond the table (${STATIC_COUNT} static and ${this.count} dynamic entries)`);
    }
    return (this.inserted - 1 - k) & this.mask;
  }

  private indexedName(index: number): string {
    return index <= STATIC_COUNT ? STATIC_NAMES[index]! : this.names[this.slot(index)]!;
  }

  private literalName(buf: Buffer, end: number): string {
    this.pos++;
    return this.string(buf, end);
  }

  /** An integer with an N-bit prefix (`mask` = 2^N - 1) at this.pos, which is before `end`. */
  private int(buf: Buffer, end: number, mask: number): number {
    let p = this.pos;
    let v = buf[p++]! & mask;
    if (v === mask) {
      let mul = 1;
      let b: number;
      do {
        if (p >= end) throw new HpackError('HPACK: integer truncated by the end of the block');
        // Five continuation bytes carry 35 bits: more than any integer we accept needs.
        if (mul > 2 ** 28) throw new HpackError('HPACK: integer longer than 2^31');
        b = buf[p++]!;
        v += (b & 0x7f) * mul;
        mul *= 128;
      } while (b & 0x80);
      if (v > 0x7fffffff) throw new HpackError('HPACK: integer larger than 2^31 - 1');
    }
    this.pos = p;
    return v;
  }

  /** A string literal at this.pos. */
  private string(buf: Buffer, end: number): string {
    if (this.pos >= end) throw new HpackError('HPACK: string literal missing at the end of the block');
    const huffman = buf[this.pos]! & 0x80;
    const len = this.int(buf, end, 0x7f);
    const start = this.pos;
    if (len > end - start) throw new HpackError(`HPACK: string literal of ${len} bytes runs past the end of the block`);
    this.pos = start + len;
    if (len === 0) return '';
    if (huffman === 0) return (buf as unknown as Latin1Buffer).latin1Slice(start, start + len);
    return this.huffman(buf, start, start + len);
  }

  private huffman(buf: Buffer, start: number, end: number): string {
    // Every symbol takes at least 5 bits.
    const most = Math.ceil(((end - start) * 8) / 5);
    if (this.scratch.length < most) this.scratch = Buffer.allocUnsafe(Math.max(most, this.scratch.length * 2));
    const dst = this.scratch;
    let n = 0;
    let e = ACCEPT;
    let state = 0;
    for (let i = start; i < end; i++) {
      const b = buf[i]!;
      e = HUFF_DECODE[(state << 4) | (b >> 4)]!;
      if (e & (EMIT | FAIL)) {
        if (e & FAIL) throw new HpackError('HPACK: Huffman string contains EOS');
        dst[n++] = e >>> 8;
      }
      e = HUFF_DECODE[((e & STATE_MASK) << 4) | (b & 0x0f)]!;
      if (e & (EMIT | FAIL)) {
        if (e & FAIL) throw new HpackError('HPACK: Huffman string contains EOS');
        dst[n++] = e >>> 8;
      }
      state = e & STATE_MASK;
    }
    if (!(e & ACCEPT)) throw new HpackError('HPACK: Huffman string padding is longer than 7 bits or not all ones');
    return (dst as unknown as Latin1Buffer).latin1Slice(0, n);
  }

  private insert(name: string, value: string): void {
    const size = entrySize(name, value);
    // An entry larger than the table empties it and is not added (4.4).
    if (size > this.limit) {
      this.evictTo(0);
      return;
    }
    this.evictTo(this.limit - size);
    if (this.count === this.names.length) this.grow();
    const slot = this.inserted++ & this.mask;
    this.names[slot] = name;
    this.values[slot] = value;
    this.count++;
    this.size += size;
  }

  private evictTo(max: number): void {
    while (this.size > max) {
      const slot = (this.inserted - this.count) & this.mask;
      this.size -= entrySize(this.names[slot]!, this.values[slot]!);
      // Let the strings go now rather than when the slot is reused.
      this.names[slot] = this.values[slot] = '';
      this.count--;
    }
  }

  private grow(): void {
    const cap = this.names.length * 2;
    const names = new Array<string>(cap).fill('');
    const values = new Array<string>(cap).fill('');
    for (let n = this.inserted - this.count; n < this.inserted; n++) {
      names[n & (cap - 1)] = this.names[n & this.mask]!;
      values[n & (cap - 1)] = this.values[n & this.mask]!;
    }
    this.names = names;
    this.values = values;
    this.mask = cap - 1;
  }
}

// --- Encoder -------------------------------------------------------------------------------------

/** Insert the field into the dynamic table: its value is likely to repeat on the connection. */
const INDEX = 0;
/** Values that differ from response to response: indexing them would only evict useful entries. */
const NO_INDEX = 1;
/** Secrets: sent as "never indexed" so that no intermediary compresses them either (RFC 7541 7.1). */
const NEVER_INDEX = 2;

/** Longer values are sent as literals without indexing: they would crowd the table for little reuse. */
const MAX_INDEXED_VALUE = 128;

/** What the encoder knows about a name before looking at its connection's table. */
interface NameInfo {
  /** The first static entry with this name, or 0. */
  index: number;
  /** Static entries with this name and a value, by value. */
  values: Map<string, number> | null;
  policy: number;
}

const NAME_INFO = new Map<string, NameInfo>();
for (let i = 1; i <= STATIC_COUNT; i++) {
  const name = STATIC_NAMES[i]!;
  let info = NAME_INFO.get(name);
  if (info === undefined) NAME_INFO.set(name, (info = { index: i, values: null, policy: INDEX }));
  const value = STATIC_VALUES[i]!;
  if (value !== '') (info.values ??= new Map()).set(value, i);
}
for (const [names, policy] of [
  [['set-cookie', 'cookie', 'authorization', 'proxy-authorization'], NEVER_INDEX],
  [['content-length', 'content-range', 'date', 'etag', 'last-modified', 'expires', 'age', 'x-request-id', 'traceparent'], NO_INDEX],
] as const) {
  for (const name of names) {
    const info = NAME_INFO.get(name);
    if (info !== undefined) info.policy = policy;
    else NAME_INFO.set(name, { index: 0, values: null, policy });
  }
}

/** The live dynamic table entries with one name (the encoder's side of the table). */
interface DynamicName {
  /** Insertion number of the newest entry with this name. */
  newest: number;
  /** How many live entries have this name; at 0 the record is dropped. */
  live: number;
  /** Insertion number by value. */
  values: Map<string, number>;
}

/** The table size updates and the bytes of any one field need at most this much beyond the name and value. */
const BLOCK_SLACK = 12;
const FIELD_SLACK = 16;

export interface HpackEncoderOptions {
  /** The largest dynamic table we keep, whatever the peer allows. Default 4096. */
  maxTableSize?: number;
}

/** Encodes the header blocks of one connection, in the order they are sent. */
export class HpackEncoder {
  private readonly maxTableSize: number;
  /** Names to send "never indexed" in the block being encoded (encode's `never`). */
  private never: ReadonlySet<string> | undefined;
  /** The table size we use and have signalled: min(our maximum, the peer's setting). */
  private limit: number;
  /** Size updates owed at the start of the next block (4.2): the smallest limit since the last block, and the final one; -1 when none. */
  private pendingMin = -1;
  private pendingFinal = -1;
  private size = 0;
  private count = 0;
  /** Entries ever inserted; entry number n has index DYNAMIC_BASE + inserted - 1 - n and slot n & mask. */
  private inserted = 0;
  private names: string[];
  private values: string[];
  private mask: number;
  /** Lookup by name, then value: no per-field key string to build and hash. */
  private readonly byName = new Map<string, DynamicName>();
  /** The working buffer of encode and encodeResponse. */
  private scratch = Buffer.allocUnsafe(1024);

  constructor(opts: HpackEncoderOptions = {}) {
    this.maxTableSize = opts.maxTableSize ?? 4096;
    // The peer's decoder starts with the default 4096 (RFC 9113 6.5.2).
    this.limit = Math.min(4096, this.maxTableSize);
    if (this.limit !== 4096) this.pendingMin = this.pendingFinal = this.limit;
    this.names = new Array<string>(RING_CAPACITY).fill('');
    this.values = new Array<string>(RING_CAPACITY).fill('');
    this.mask = RING_CAPACITY - 1;
  }

  /**
   * The peer's SETTINGS_HEADER_TABLE_SIZE changed: the next block starts with the size updates
   * this calls for (the smallest limit since the last block, then the final one), and the table
   * shrinks then.
   */
  setPeerMaxTableSize(n: number): void {
    const next = Math.min(n, this.maxTableSize);
    const low = this.pendingFinal >= 0 ? Math.min(this.pendingMin, this.limit) : this.limit;
    if (next === this.limit && low >= this.limit) {
      this.pendingMin = this.pendingFinal = -1;
      return;
    }
    this.pendingMin = Math.min(low, next);
    this.pendingFinal = next;
  }

  /** The most bytes encode() can write for `fields`: encodeInto returns -1 when `out` has less room than this. */
  maxEncodedLength(fields: readonly string[]): number {
    let n = BLOCK_SLACK;
    for (let i = 0; i < fields.length; i++) n += fields[i]!.length;
    return n + (fields.length >>> 1) * FIELD_SLACK;
  }

  /**
   * Encodes `fields` (name, value pairs; names in lower case) as one header block and returns it
   * as a view of the encoder's working buffer, valid until the next call on this encoder: for a
   * caller that copies it into frames at once (and splits it into CONTINUATION frames if it
   * must), with no buffer sizing of its own. Fields named in `never` are sent as never-indexed
   * literals (what a backend sent so, RFC 7541 7.1.3).
   */
  encode(fields: readonly string[], never?: ReadonlySet<string>): Buffer {
    const buf = this.workspace(this.maxEncodedLength(fields));
    this.never = never;
    return buf.subarray(0, this.fields(fields, buf, this.sizeUpdates(buf, 0)));
  }

  /**
   * Like encode, but writes the block straight into `out` from `pos` (a frame buffer, say) and
   * returns where it ends. The check for room is made first, against maxEncodedLength(fields):
   * when `out` has less room than that, returns -1 and changes nothing (retry with a larger buffer).
   */
  encodeInto(fields: readonly string[], out: Buffer, pos: number): number {
    if (out.length - pos < this.maxEncodedLength(fields)) return -1;
    this.never = undefined;
    return this.fields(fields, out, this.sizeUpdates(out, pos));
  }

  /** Encodes `:status` and then `fields` into a new Buffer. */
  encodeResponse(status: number, fields: readonly string[]): Buffer {
    this.never = undefined;
    const buf = this.workspace(this.maxEncodedLength(fields) + FIELD_SLACK + 10);
    let p = this.sizeUpdates(buf, 0);
    const index = STATUS_INDEX.get(status);
    if (index !== undefined) buf[p++] = 0x80 | index;
    else {
      if (!Number.isInteger(status) || status < 100 || status > 999) throw new RangeError(`HPACK: invalid :status ${status}`);
      p = this.field(':status', String(status), buf, p);
    }
    p = this.fields(fields, buf, p);
    const block = Buffer.allocUnsafe(p);
    buf.copy(block, 0, 0, p);
    return block;
  }

  private workspace(need: number): Buffer {
    if (this.scratch.length < need) this.scratch = Buffer.allocUnsafe(Math.max(need, this.scratch.length * 2));
    return this.scratch;
  }

  private fields(fields: readonly string[], out: Buffer, p: number): number {
    for (let i = 0; i + 1 < fields.length; i += 2) p = this.field(fields[i]!, fields[i + 1]!, out, p);
    return p;
  }

  private sizeUpdates(out: Buffer, p: number): number {
    if (this.pendingFinal < 0) return p;
    if (this.pendingMin < this.pendingFinal) {
      p = writeInt(out, p, 0x20, 0x1f, this.pendingMin);
      this.evictTo(this.pendingMin);
    }
    p = writeInt(out, p, 0x20, 0x1f, this.pendingFinal);
    this.limit = this.pendingFinal;
    this.evictTo(this.limit);
    this.pendingMin = this.pendingFinal = -1;
    return p;
  }

  private field(name: string, value: string, out: Buffer, p: number): number {
    if (this.never !== undefined && this.never.has(name)) return this.neverIndexedField(name, value, out, p);
    const info = NAME_INFO.get(name);
    let nameIndex = 0;
    let policy = INDEX;
    if (info !== undefined) {
      if (info.values !== null) {
        const index = info.values.get(value);
        if (index !== undefined) return writeInt(out, p, 0x80, 0x7f, index);
      }
      nameIndex = info.index;
      policy = info.policy;
    }
    const dyn = this.byName.get(name);
    if (dyn !== undefined) {
      const n = dyn.values.get(value);
      if (n !== undefined) return writeInt(out, p, 0x80, 0x7f, DYNAMIC_BASE + this.inserted - 1 - n);
      if (nameIndex === 0) nameIndex = DYNAMIC_BASE + this.inserted - 1 - dyn.newest;
    }
    const size = entrySize(name, value);
    if (policy === INDEX && (value.length > MAX_INDEXED_VALUE || size > this.limit)) policy = NO_INDEX;
    if (policy === INDEX) {
      // The name index is written before the insertion shifts the table, as the decoder reads it.
      p = nameIndex !== 0 ? writeInt(out, p, 0x40, 0x3f, nameIndex) : writeString(out, writeInt(out, p, 0x40, 0x3f, 0), name);
      p = writeString(out, p, value);
      this.insert(name, value, size);
      return p;
    }
    const flags = policy === NEVER_INDEX ? 0x10 : 0;
    p = nameIndex !== 0 ? writeInt(out, p, flags, 0x0f, nameIndex) : writeString(out, writeInt(out, p, flags, 0x0f, 0), name);
    return writeString(out, p, value);
  }

  /**
   * A field its sender marked "never indexed": a never-indexed literal whatever the table holds
   * (RFC 7541 7.1.3: an intermediary must not send it in a form that is or could be indexed).
   * Only the name may come from a table.
   */
  private neverIndexedField(name: string, value: string, out: Buffer, p: number): number {
    let nameIndex = NAME_INFO.get(name)?.index ?? 0;
    const dyn = nameIndex === 0 ? this.byName.get(name) : undefined;
    if (dyn !== undefined) nameIndex = DYNAMIC_BASE + this.inserted - 1 - dyn.newest;
    p = nameIndex !== 0 ? writeInt(out, p, 0x10, 0x0f, nameIndex) : writeString(out, writeInt(out, p, 0x10, 0x0f, 0), name);
    return writeString(out, p, value);
  }

  private insert(name: string, value: string, size: number): void {
    this.evictTo(this.limit - size);
    if (this.count === this.names.length) this.grow();
    const n = this.inserted++;
    this.names[n & this.mask] = name;
    this.values[n & this.mask] = value;
    this.count++;
    this.size += size;
    let dyn = this.byName.get(name);
    if (dyn === undefined) this.byName.set(name, (dyn = { newest: n, live: 0, values: new Map() }));
    dyn.newest = n;
    dyn.live++;
    dyn.values.set(value, n);
  }

  private evictTo(max: number): void {
    while (this.size > max) {
      const n = this.inserted - this.count;
      const slot = n & this.mask;
      const name = this.names[slot]!;
      const value = this.values[slot]!;
      this.size -= entrySize(name, value);
      this.names[slot] = this.values[slot] = '';
      this.count--;
      const dyn = this.byName.get(name)!;
      if (dyn.values.get(value) === n) dyn.values.delete(value);
      // The oldest entry was the newest with its name only if it was the last one with it.
      if (--dyn.live === 0) this.byName.delete(name);
    }
  }

  private grow(): void {
    const cap = this.names.length * 2;
    const names = new Array<string>(cap).fill('');
    const values = new Array<string>(cap).fill('');
    for (let n = this.inserted - this.count; n < this.inserted; n++) {
      names[n & (cap - 1)] = this.names[n & this.mask]!;
      values[n & (cap - 1)] = this.values[n & this.mask]!;
    }
    this.names = names;
    this.values = values;
    this.mask = cap - 1;
  }
}

/** The statuses with a static table entry. */
const STATUS_INDEX = new Map<number, number>([
  [200, 8],
  [204, 9],
  [206, 10],
  [304, 11],
  [400, 12],
  [404, 13],
  [500, 14],
]);
