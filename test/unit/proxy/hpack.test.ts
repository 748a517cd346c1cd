/**
 * HPACK (src/proxy/h2/hpack.ts): the RFC 7541 Appendix C examples, the Huffman code, encoder to
 * decoder round trips, both directions against node:http2 (nghttp2) over a real socket, and the
 * decoder's limits and errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http2 from 'node:http2';
import { getHeapSpaceStatistics } from 'node:v8';
import { HpackDecoder, HpackEncoder, HpackError } from '../../../src/proxy/h2/hpack.js';
import { h2frame } from '../../harness/h2frames.js';
import { seededRandom } from '../../harness/random.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function pairs(flat: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
}

/** Decodes a whole block that must be within the limits. */
function decode(d: HpackDecoder, block: Buffer): [string, string][] {
  const out: string[] = [];
  const n = d.decode(block, 0, block.length, out);
  assert.equal(n, out.length / 2);
  return pairs(out);
}

function assertHpackError(fn: () => unknown, message: RegExp, what?: string): void {
  assert.throws(fn, (err: unknown) => err instanceof HpackError && message.test(err.message), what);
}

// --- RFC 7541 Appendix C -------------------------------------------------------------------------

test('C.2: one representation of each kind', () => {
  const d1 = new HpackDecoder();
  // C.2.1 literal with indexing: the entry is then at index 62.
  assert.deepEqual(decode(d1, hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572')), [['custom-key', 'custom-header']]);
  assert.deepEqual(decode(d1, hex('be')), [['custom-key', 'custom-header']]);

  // C.2.2 literal without indexing, C.2.3 never indexed: nothing is added to the table.
  const d2 = new HpackDecoder();
  assert.deepEqual(decode(d2, hex('040c 2f73 616d 706c 652f 7061 7468')), [[':path', '/sample/path']]);
  assert.equal(d2.neverIndexed, undefined, 'without indexing is not never indexed');
  assert.deepEqual(decode(d2, hex('1008 7061 7373 776f 7264 0673 6563 7265 74')), [['password', 'secret']]);
  assert.deepEqual(d2.neverIndexed, ['password'], 'the never-indexed field is noted (RFC 7541 7.1.3)');
  assertHpackError(() => decode(d2, hex('be')), /index 62 is beyond the table/);

  // C.2.4 indexed static field: the very string of the static table.
  const d3 = new HpackDecoder();
  const [[name, value]] = decode(d3, hex('82')) as [[string, string]];
  assert.equal(name, ':method');
  assert.equal(value, 'GET');
  assertHpackError(() => decode(d3, hex('be')), /beyond the table/);
});

const C3_C4_FIELDS: [string, string][][] = [
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']],
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'], ['cache-control', 'no-cache']],
  [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']],
];
/** The table after C.3.3 / C.4.3, newest first (index 62 on), 164 bytes. */
const C3_C4_TABLE: [string, string][] = [['custom-key', 'custom-value'], ['cache-control', 'no-cache'], [':authority', 'www.example.com']];

const C3 = [
  '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
  '8286 84be 5808 6e6f 2d63 6163 6865',
  '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
];
const C4 = [
  '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
  '8286 84be 5886 a8eb 1064 9cbf',
  '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
];

for (const [section, blocks] of [['C.3 (plain)', C3], ['C.4 (Huffman)', C4]] as const) {
  test(`${section}: three requests on one decoder, then the table they left`, () => {
    const d = new HpackDecoder();
    blocks.forEach((b, i) => assert.deepEqual(decode(d, hex(b)), C3_C4_FIELDS[i], `${section} request ${i + 1}`));
    assert.deepEqual(decode(d, hex('be bf c0')), C3_C4_TABLE);
    assertHpackError(() => decode(d, hex('c1')), /index 65 is beyond the table/);
    // 164 bytes: a 164-byte limit keeps all three, 163 evicts the oldest (:authority).
    assert.deepEqual(decode(d, hex('3f85 01 c0')), [C3_C4_TABLE[2]!]);
    assert.deepEqual(decode(d, hex('3f84 01 bf')), [C3_C4_TABLE[1]!]);
    assertHpackError(() => decode(d, hex('c0')), /index 64 is beyond the table/);
  });
}

test('C.4: the encoder writes the RFC\'s three blocks', () => {
  const e = new HpackEncoder();
  C3_C4_FIELDS.forEach((fields, i) => assert.equal(e.encode(fields.flat()).toString('hex'), hex(C4[i]!).toString('hex'), `C.4.${i + 1}`));
});

const C5_C6_FIELDS: [string, string][][] = [
  [[':status', '302'], ['cache-control', 'private'], ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'], ['location', 'https://www.example.com']],
  [[':status', '307'], ['cache-control', 'private'], ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'], ['location', 'https://www.example.com']],
  [
    [':status', '200'],
    ['cache-control', 'private'],
    ['date', 'Mon, 21 Oct 2013 20:13:22 GMT'],
    ['location', 'https://www.example.com'],
    ['content-encoding', 'gzip'],
    ['set-cookie', 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'],
  ],
];
/** The table after C.5.3 / C.6.3, newest first, 215 bytes. */
const C5_C6_TABLE: [string, string][] = [
  ['set-cookie', 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'],
  ['content-encoding', 'gzip'],
  ['date', 'Mon, 21 Oct 2013 20:13:22 GMT'],
];
const C5 = [
  `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
   2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
   6c65 2e63 6f6d`,
  '4803 3330 37c1 c0bf',
  `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
   54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
   5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
   3d31`,
];
const C6 = [
  `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
   2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`,
  '4883 640e ffc1 c0bf',
  `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
   77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
   9587 3160 65c0 03ed 4ee5 b106 3d50 07`,
];

for (const [section, blocks] of [['C.5 (plain)', C5], ['C.6 (Huffman)', C6]] as const) {
  test(`${section}: three responses with a 256-byte table, evicting`, () => {
    const d = new HpackDecoder({ maxTableSize: 256 });
    blocks.forEach((b, i) => assert.deepEqual(decode(d, hex(b)), C5_C6_FIELDS[i], `${section} response ${i + 1}`));
    assert.deepEqual(decode(d, hex('be bf c0')), C5_C6_TABLE);
    assertHpackError(() => decode(d, hex('c1')), /index 65 is beyond the table/);
    // 215 bytes: a 215-byte limit keeps all three, 214 evicts the oldest (the date).
    assert.deepEqual(decode(d, hex('3fb8 01 c0')), [C5_C6_TABLE[2]!]);
    assert.deepEqual(decode(d, hex('3fb7 01 bf')), [C5_C6_TABLE[1]!]);
    assertHpackError(() => decode(d, hex('c0')), /beyond the table/);
  });
}

// --- Huffman ---------------------------------------------------------------------------------------

/**
 * RFC 7541 Appendix B's code lengths, symbols 0-256. The code is canonical (codes of one length
 * are consecutive, in symbol order, after all shorter ones), so the codes follow from these:
 * this checks the module's transcribed codes against a derivation rather than against a copy.
 */
// prettier-ignore
const RFC_LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
];

function canonicalCodes(lengths: readonly number[]): number[] {
  const order = lengths.map((_, sym) => sym).sort((a, b) => lengths[a]! - lengths[b]! || a - b);
  const codes: number[] = [];
  let code = 0;
  let len = lengths[order[0]!]!;
  order.forEach((sym, i) => {
    if (i > 0) code = (code + 1) * 2 ** (lengths[sym]! - len);
    len = lengths[sym]!;
    codes[sym] = code;
  });
  return codes;
}

/** A field whose value the encoder writes as a literal without indexing, to see the string's bytes. */
function encodeValue(value: string): Buffer {
  const block = new HpackEncoder().encode(['etag', value]);
  assert.equal(block[0], 0x0f); // without indexing, name index 34 = 15 + 19
  assert.equal(block[1], 19);
  return Buffer.from(block);
}

test('Huffman: the code is RFC 7541 Appendix B, canonical and complete', () => {
  assert.equal(RFC_LENGTHS.length, 257);
  assert.equal(RFC_LENGTHS.reduce((sum, len) => sum + 2 ** -len, 0), 1); // Kraft: a complete prefix code
  const codes = canonicalCodes(RFC_LENGTHS);
  // Spot checks against the table as printed.
  assert.equal(codes[0], 0x1ff8);
  assert.equal(codes[48], 0x0); // '0'
  assert.equal(codes[32], 0x14); // ' '
  assert.equal(codes[255], 0x3ffffee);
  assert.equal(codes[256], 0x3fffffff);
  // Every byte's code as the encoder writes it: the symbol, then 40 '0's (00000), padded.
  for (let b = 0; b < 256; b++) {
    const len = RFC_LENGTHS[b]!;
    const block = encodeValue(String.fromCharCode(b) + '0'.repeat(40));
    assert.equal(block[2], 0x80 | Math.ceil((len + 200) / 8), `byte ${b}: Huffman-coded length`);
    let bits = 0n;
    for (const byte of block.subarray(3)) bits = (bits << 8n) | BigInt(byte);
    const total = BigInt((block.length - 3) * 8);
    assert.equal(Number(bits >> (total - BigInt(len))), codes[b], `byte ${b}: code`);
    assert.equal((bits >> (total - BigInt(len) - 200n)) & ((1n << 200n) - 1n), 0n, `byte ${b}: the zeros`);
  }
});

test('Huffman: every byte value, and random strings, round-trip', () => {
  const d = new HpackDecoder({ maxHeaderListSize: 1 << 20 });
  const check = (value: string, huffman: boolean | undefined) => {
    const block = encodeValue(value);
    if (huffman !== undefined) assert.equal((block[2]! & 0x80) !== 0, huffman, JSON.stringify(value));
    assert.deepEqual(decode(d, block), [['etag', value]]);
  };
  for (let b = 0; b < 256; b++) {
    const c = String.fromCharCode(b);
    check(c + 'a'.repeat(40), true); // short codes around it: Huffman pays
    check('e'.repeat(b % 9) + c, undefined);
    check(c.repeat(3), 3 * RFC_LENGTHS[b]! <= 16); // Huffman only when it saves a byte
  }
  const rnd = seededRandom(11);
  for (let k = 0; k < 3000; k++) {
    const len = rnd(k % 10 === 0 ? 400 : 40);
    let s = '';
    // Mostly text, as header values are, with any byte now and then.
    for (let i = 0; i < len; i++) s += String.fromCharCode(rnd(8) === 0 ? rnd(256) : 32 + rnd(95));
    check(s, undefined);
  }
});

test('Huffman: EOS, long padding and padding that is not ones are errors', () => {
  const d = new HpackDecoder();
  // A literal without indexing, name 'a', value Huffman-coded as given.
  const block = (huffman: string) => Buffer.concat([hex('00 01 61'), Buffer.from([0x80 | hex(huffman).length]), hex(huffman)]);
  assert.deepEqual(decode(d, block('1f')), [['a', 'a']]); // 'a' 00011, padding 111
  assert.deepEqual(decode(d, block('07')), [['a', '0']]); // '0' 00000, padding 111
  assert.deepEqual(decode(d, block('00 01')), [['a', '000']]); // 15 bits of symbols, padding 1
  assert.deepEqual(decode(d, block('00 3f')), [['a', '00']]); // 10 bits of symbols, padding 111111
  assertHpackError(() => decode(d, block('1f ff')), /padding/); // 11 bits of ones
  assertHpackError(() => decode(d, block('07 ff')), /padding/); // '0' then 11 ones
  assertHpackError(() => decode(d, block('ff')), /padding/); // 8 bits of ones alone
  assertHpackError(() => decode(d, block('00 00 00 00 00 ff')), /padding/); // eight '0's, then 8 ones
  assert.deepEqual(decode(d, block('00 00 00 00 00 07')), [['a', '000000000']]); // eight '0's, a ninth, 111
  assertHpackError(() => decode(d, block('18')), /padding/); // 'a' then 000
  assertHpackError(() => decode(d, block('1e')), /padding/); // 'a' then 110
  assertHpackError(() => decode(d, block('ff ff ff fc')), /EOS/); // 30 ones: EOS
  assertHpackError(() => decode(d, block('1f ff ff ff fc')), /EOS/); // 'a', then EOS
  assertHpackError(() => decode(d, block('ff ff ff ff')), /EOS/);
  // The decoder is still usable: the errors did not touch the table.
  assert.deepEqual(decode(d, hex('82')), [[':method', 'GET']]);
});

// --- Encoder to decoder -------------------------------------------------------------------------

test('encoder to decoder: random responses over many blocks, with evictions and size updates', () => {
  const rnd = seededRandom(5);
  const names = [
    'content-type', 'server', 'cache-control', 'vary', 'x-cache', 'x-powered-by', 'content-length', 'date', 'etag',
    'set-cookie', 'location', 'x-request-id', 'access-control-allow-origin', 'content-encoding', 'x-custom-', 'link',
  ];
  const valuePool = ['text/html', 'application/json', 'gangplank', 'no-cache', 'max-age=60', 'Accept-Encoding', 'HIT', 'MISS', '*', 'gzip', 'br'];
  for (const [encoderMax, decoderMax] of [[4096, 4096], [256, 256], [4096, 8192], [300, 4096]]) {
    const e = new HpackEncoder({ maxTableSize: encoderMax });
    const d = new HpackDecoder({ maxTableSize: decoderMax, maxHeaderListSize: 1 << 20 });
    for (let block = 0; block < 1500; block++) {
      if (block % 97 === 50) e.setPeerMaxTableSize([0, 64, 200, 256][rnd(4)]!);
      if (block % 97 === 51) e.setPeerMaxTableSize(decoderMax);
      if (block % 211 === 7) {
        // Shrink and grow again between two blocks: two size updates.
        e.setPeerMaxTableSize(rnd(100));
        e.setPeerMaxTableSize(decoderMax);
      }
      const fields: string[] = [':status', String([200, 404, 302, 503, 201][rnd(5)])];
      const n = rnd(12);
      for (let i = 0; i < n; i++) {
        let name = names[rnd(names.length)]!;
        if (name.endsWith('-')) name += rnd(30);
        let value: string;
        const kind = rnd(10);
        if (kind < 6) value = valuePool[rnd(valuePool.length)]!;
        else if (kind < 8) value = String(rnd(1_000_000));
        else if (kind < 9) value = 'v'.repeat(rnd(300)) + String.fromCharCode(128 + rnd(128));
        else value = '';
        fields.push(name, value);
      }
      const buf = e.encode(fields);
      assert.deepEqual(decode(d, buf), pairs(fields), `block ${block} (tables ${encoderMax}/${decoderMax})`);
    }
  }
});

test('encoder to decoder: a table of many small entries, and entries as large as the table', () => {
  const e = new HpackEncoder();
  const d = new HpackDecoder();
  const fields: string[] = [];
  for (let i = 0; i < 120; i++) fields.push(`x${i}`, 'v');
  assert.deepEqual(decode(d, Buffer.from(e.encode(fields))), pairs(fields));
  // Entries of 35 (x0-x9), 36 (x10-x99) and 37 bytes (x100-x119): 4096 bytes keep x7-x119, 113
  // entries. x119-x55 have indices 62-126 (one byte), x54-x20 127-161 (two).
  const newest = fields.slice(-200);
  const again = Buffer.from(e.encode(newest));
  assert.equal(again.length, 65 + 35 * 2);
  assert.deepEqual(decode(d, again), pairs(newest));
  const oldest = Buffer.from(e.encode(['x7', 'v']));
  assert.deepEqual([...oldest], [0xff, 174 - 127]);
  assert.deepEqual(decode(d, oldest), [['x7', 'v']]);
  const evicted = Buffer.from(e.encode(['x6', 'v']));
  assert.ok(evicted[0]! < 0x80, 'x6 was evicted: a literal');
  assert.deepEqual(decode(d, evicted), [['x6', 'v']]);

  // A literal with indexing of exactly the table's size fills it alone; one byte more empties it (4.4).
  const big = (valueLength: number) => {
    const len: number[] = [0x7f];
    let r = valueLength - 127;
    for (; r >= 128; r >>>= 7) len.push((r & 0x7f) | 0x80);
    len.push(r);
    return Buffer.concat([hex('40 03'), Buffer.from('x-x'), Buffer.from(len), Buffer.alloc(valueLength, 0x61)]);
  };
  const full = 'a'.repeat(4096 - 32 - 3);
  assert.deepEqual(decode(d, big(full.length)), [['x-x', full]]);
  assert.deepEqual(decode(d, hex('be')), [['x-x', full]]);
  assertHpackError(() => decode(d, hex('bf')), /index 63 is beyond/);
  assert.deepEqual(decode(d, big(full.length + 1)), [['x-x', full + 'a']]);
  assertHpackError(() => decode(d, hex('be')), /index 62 is beyond/);
});

test('encoder: repeated responses are indexed, per-response and secret fields are not', () => {
  const e = new HpackEncoder();
  const d = new HpackDecoder();
  const fields = ['content-type', 'text/html; charset=utf-8', 'server', 'gangplank', 'vary', 'accept-encoding', 'x-cache', 'HIT'];
  const first = e.encodeResponse(200, fields);
  assert.deepEqual(decode(d, first), pairs([':status', '200', ...fields]));
  const second = e.encodeResponse(200, fields);
  assert.equal(second.length, 5); // one byte a field
  assert.deepEqual(decode(d, second), pairs([':status', '200', ...fields]));

  // Not indexed: a second identical response still carries them as literals.
  const perResponse = ['date', 'Mon, 21 Oct 2013 20:13:21 GMT', 'content-length', '1234', 'etag', '"abc"', 'x-request-id', 'r-1'];
  const secrets = ['set-cookie', 'sid=1', 'authorization', 'Basic Zm9v'];
  const long = ['x-long', 'y'.repeat(129)];
  const all = [...perResponse, ...secrets, ...long];
  const a = e.encode(all);
  const aLen = a.length;
  assert.deepEqual(decode(d, a), pairs(all));
  const b = e.encode(all);
  assert.equal(b.length, aLen);
  assert.deepEqual(decode(d, b), pairs(all));
  // set-cookie goes never-indexed (0001 with name index 55 = 15 + 40).
  const sc = e.encode(['set-cookie', 'sid=1']);
  assert.deepEqual([...sc.subarray(0, 2)], [0x1f, 40]);
  // A status without a static entry: literal with the static name :status (8), then indexed.
  assert.deepEqual([...e.encodeResponse(302, []).subarray(0, 1)], [0x48]);
  assert.equal(e.encodeResponse(302, []).length, 1);
});

test('encoder: fields named in `never` go as never-indexed literals, even when the table holds them; the decoder notes them', () => {
  const e = new HpackEncoder();
  const d = new HpackDecoder();
  // x-token is first sent plainly, so the table holds it; then marked never indexed.
  assert.deepEqual(decode(d, e.encode(['x-token', 'abc', 'x-plain', '1'])), [['x-token', 'abc'], ['x-plain', '1']]);
  assert.equal(d.neverIndexed, undefined);
  const never = new Set(['x-token', 'content-type']);
  for (let i = 0; i < 2; i++) {
    const block = e.encode(['x-token', 'abc', 'content-type', 'text/plain', 'x-plain', '1'], never);
    assert.deepEqual(decode(d, block), [['x-token', 'abc'], ['content-type', 'text/plain'], ['x-plain', '1']]);
    assert.deepEqual(d.neverIndexed, ['x-token', 'content-type'], `round ${i}`);
    // x-token: 0001 with the name's dynamic index (63, beyond the 4-bit prefix), never the full-field index;
    // content-type: 0001 with its static name index 31; x-plain: its dynamic entry, one byte.
    assert.deepEqual([...block.subarray(0, 2)], [0x1f, 63 - 15]);
    const ct = block.indexOf(0x1f, 2);
    assert.equal(block[ct + 1], 31 - 15);
    assert.ok(block.at(-1)! >= 0x80, 'x-plain is still indexed');
  }
  // The next block without `never` is back to the usual policy.
  e.encode(['x-token', 'abc']);
  const plain = e.encode(['x-token', 'abc']);
  assert.equal(plain.length, 1, 'indexed again when not marked');
});

test('encoder: encodeInto(fields, out, pos) writes in place, or returns -1 and changes nothing', () => {
  const fields = ['content-type', 'text/plain', 'x-a', 'b'.repeat(50)];
  const e = new HpackEncoder();
  const d = new HpackDecoder();
  const need = e.maxEncodedLength(fields);
  const small = Buffer.alloc(10 + need - 1);
  assert.equal(e.encodeInto(fields, small, 10), -1);
  assert.ok(small.every((b) => b === 0));
  const out = Buffer.alloc(10 + need);
  const end = e.encodeInto(fields, out, 10);
  assert.ok(end > 10 && end <= out.length);
  assert.deepEqual(decode(d, out.subarray(10, end)), pairs(fields));
  // The failed call inserted nothing: the decoder, which saw only the second, agrees on indices.
  e.setPeerMaxTableSize(100);
  assert.equal(e.encodeInto(fields, small, 10), -1);
  const again = e.encodeInto(fields, out, 0);
  assert.deepEqual(decode(d, out.subarray(0, again)), pairs(fields));
  assert.deepEqual([...out.subarray(0, 3)], [0x3f, 0x45, 0x5f]); // the size update (100 = 31 + 69) came with the block that was written
});

// --- node:http2 (nghttp2) -------------------------------------------------------------------------

const PREFACE_LENGTH = 24;

interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

/** Calls `onFrame` for each frame a client sends on `socket`, after the connection preface. */
function readFrames(socket: net.Socket, onFrame: (f: Frame) => void): void {
  let buf = Buffer.alloc(0);
  let prefaceSeen = false;
  socket.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    if (!prefaceSeen) {
      if (buf.length < PREFACE_LENGTH) return;
      assert.equal(buf.subarray(0, PREFACE_LENGTH).toString('latin1'), 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
      buf = buf.subarray(PREFACE_LENGTH);
      prefaceSeen = true;
    }
    while (buf.length >= 9) {
      const len = buf.readUIntBE(0, 3);
      if (buf.length < 9 + len) break;
      onFrame({ type: buf[3]!, flags: buf[4]!, stream: buf.readUInt32BE(5) & 0x7fffffff, payload: buf.subarray(9, 9 + len) });
      buf = buf.subarray(9 + len);
    }
  });
}

const frame = h2frame;

const T_DATA = 0;
const T_HEADERS = 1;
const T_SETTINGS = 4;
const T_CONTINUATION = 9;
const F_END_STREAM = 0x1;
const F_ACK = 0x1;
const F_END_HEADERS = 0x4;
const F_PADDED = 0x8;
const F_PRIORITY = 0x20;

/** A net server on 127.0.0.1, closed (with its connections) by the returned function. */
async function listen(onSocket: (s: net.Socket) => void): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    onSocket(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Rejects after `ms`: a test that waits for a peer fails instead of hanging. */
function deadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

test('decoder against nghttp2: the requests node:http2 sends decode to the headers it was given', async () => {
  const latin1 = 'caf\u00e9 \u00ff\u0080\u00a0x';
  const allBytes: number[] = [9];
  for (let b = 0x20; b < 0x7f; b++) allBytes.push(b);
  for (let b = 0x80; b < 0x100; b++) allBytes.push(b);
  const requests: Record<string, string | string[]>[] = [
    { ':path': '/first', 'user-agent': 'gangplank-test/1.0', accept: '*/*', 'accept-encoding': 'gzip, deflate', 'x-long': 'long value.'.repeat(40) },
    { ':path': '/first', 'user-agent': 'gangplank-test/1.0', accept: '*/*', 'accept-encoding': 'gzip, deflate', 'x-long': 'long value.'.repeat(40) },
    { ':path': '/cookies?q=1', cookie: ['a=1', 'b=2', 'session=' + 'Zx9'.repeat(30)], 'user-agent': 'gangplank-test/1.0' },
    { ':path': '/latin1', 'x-latin1': latin1, 'x-tab': 'a\tb', authorization: 'Bearer abc.def' },
    { ':path': '/continuation', 'x-huge': 'q'.repeat(20_000) },
    { ':path': '/after', 'user-agent': 'gangplank-test/1.0', accept: '*/*' },
  ];
  // Every byte nghttp2 lets into a value, each coded among short codes so that it goes Huffman.
  for (let i = 0; i < allBytes.length; i += 60) {
    const h: Record<string, string> = { ':path': `/bytes/${i}` };
    for (const b of allBytes.slice(i, i + 60)) h[`x-b${b}`] = 'a'.repeat(30) + String.fromCharCode(b) + 'e';
    requests.push(h);
  }

  const decoder = new HpackDecoder({ maxHeaderListSize: 1 << 20, maxFields: 1000 });
  const decoded = new Map<number, [string, string][]>();
  let framesSeen = 0;
  let flagsSeen = 0;
  let resolveAll!: () => void;
  const all = new Promise<void>((resolve) => (resolveAll = resolve));
  const server = await listen((s) => {
    let block: Buffer[] = [];
    let blockStream = 0;
    readFrames(s, (f) => {
      framesSeen++;
      if (f.type === T_SETTINGS && !(f.flags & F_ACK)) s.write(Buffer.concat([frame(T_SETTINGS, 0, 0, Buffer.alloc(0)), frame(T_SETTINGS, F_ACK, 0, Buffer.alloc(0))]));
      if (f.type === T_HEADERS) {
        flagsSeen |= f.flags;
        let p = f.payload;
        if (f.flags & F_PADDED) p = p.subarray(1, p.length - p[0]!);
        if (f.flags & F_PRIORITY) p = p.subarray(5);
        block = [p];
        blockStream = f.stream;
      } else if (f.type === T_CONTINUATION) {
        assert.equal(f.stream, blockStream);
        block.push(f.payload);
      } else return;
      if (!(f.flags & F_END_HEADERS)) return;
      const b = Buffer.concat(block);
      const out: string[] = [];
      assert.equal(decoder.decode(b, 0, b.length, out), out.length / 2);
      decoded.set(blockStream, pairs(out));
      if (decoded.size === requests.length) resolveAll();
    });
  });
  const session = http2.connect(`http://127.0.0.1:${server.port}`, { paddingStrategy: http2.constants.PADDING_STRATEGY_MAX });
  session.on('error', () => {});
  try {
    for (const [i, h] of requests.entries()) {
      const req = session.request(h, i === 0 ? { weight: 32, exclusive: true } : {});
      req.on('error', () => {});
      req.end();
    }
    await deadline(all, 10_000, 'the request header blocks');
    assert.ok(flagsSeen & F_PADDED && flagsSeen & F_PRIORITY, 'some HEADERS frame was padded and had a priority');
    assert.ok(framesSeen > requests.length);
    const authority = `127.0.0.1:${server.port}`;
    requests.forEach((h, i) => {
      const got = decoded.get(2 * i + 1);
      assert.ok(got !== undefined, `request ${i}`);
      const pseudo = Object.fromEntries(got.filter(([n]) => n.startsWith(':')));
      assert.deepEqual(pseudo, { ':method': 'GET', ':scheme': 'http', ':authority': authority, ':path': h[':path'] }, `request ${i}`);
      const want: [string, string][] = [];
      for (const [n, v] of Object.entries(h)) if (!n.startsWith(':')) for (const one of [v].flat()) want.push([n, one]);
      assert.deepEqual(got.filter(([n]) => !n.startsWith(':')), want, `request ${i}`);
    });
  } finally {
    session.destroy();
    await server.close();
  }
});

interface Response {
  status: number;
  fields: string[];
}

/** Serves `responses` (by stream: the first request gets the first) with our encoder; returns what node:http2 received. */
async function responsesThroughNghttp2(responses: Response[], settings: http2.Settings): Promise<{ raw: string[][]; peerTableSizes: number[] }> {
  const encoder = new HpackEncoder();
  const peerTableSizes: number[] = [];
  const server = await listen((s) => {
    readFrames(s, (f) => {
      if (f.type === T_SETTINGS && !(f.flags & F_ACK)) {
        for (let p = 0; p + 6 <= f.payload.length; p += 6) {
          if (f.payload.readUInt16BE(p) === 1) {
            peerTableSizes.push(f.payload.readUInt32BE(p + 2));
            encoder.setPeerMaxTableSize(f.payload.readUInt32BE(p + 2));
          }
        }
        s.write(Buffer.concat([frame(T_SETTINGS, 0, 0, Buffer.alloc(0)), frame(T_SETTINGS, F_ACK, 0, Buffer.alloc(0))]));
      } else if (f.type === T_HEADERS) {
        const i = (f.stream - 1) / 2;
        const { status, fields } = responses[i]!;
        // Both ways in: encodeResponse, and :status as a field of encode().
        const block = i % 2 === 0 ? encoder.encodeResponse(status, fields) : Buffer.from(encoder.encode([':status', String(status), ...fields]));
        const body = status === 204 || status === 304 ? Buffer.alloc(0) : Buffer.from('ok');
        s.write(Buffer.concat([frame(T_HEADERS, F_END_HEADERS, f.stream, block), frame(T_DATA, F_END_STREAM, f.stream, body)]));
      }
    });
  });
  const session = http2.connect(`http://127.0.0.1:${server.port}`, { settings });
  session.on('error', () => {});
  try {
    const raw = await deadline(
      Promise.all(
        responses.map(
          (_, i) =>
            new Promise<string[]>((resolve, reject) => {
              const req = session.request({ ':path': `/${i}` });
              let headers: string[] = [];
              // rawHeaders, the third argument, is missing from @types/node 20's listener type.
              req.on('response', (_h: http2.IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => (headers = rawHeaders));
              req.on('error', reject);
              req.on('end', () => resolve(headers));
              req.resume();
              req.end();
            }),
        ),
      ),
      10_000,
      'the responses',
    );
    return { raw, peerTableSizes };
  } finally {
    session.destroy();
    await server.close();
  }
}

function sampleResponses(): Response[] {
  const statuses = [200, 404, 302, 200, 503, 204, 304, 500, 201, 200, 200, 400, 206, 301, 200, 200];
  return statuses.map((status, i) => {
    const fields = [
      'content-type', i % 3 === 0 ? 'application/json' : 'text/html; charset=utf-8',
      'server', 'gangplank',
      'cache-control', 'public, max-age=' + (i % 2 === 0 ? 60 : 3600),
      'vary', 'accept-encoding',
      'x-cache', i % 4 === 0 ? 'MISS' : 'HIT',
      'date', `Mon, 21 Oct 2013 20:13:${String(i).padStart(2, '0')} GMT`,
      'etag', `"${i.toString(16)}-abc"`,
      'x-request-id', `req-${i}-${'0123456789abcdef'.repeat(2)}`,
      'set-cookie', `sid=${i}; Path=/; HttpOnly`,
      'x-long', 'long value.'.repeat(20 + i),
      'x-latin1', 'caf\u00e9 \u00ff\u0080',
    ];
    if (status !== 204 && status !== 304) fields.push('content-length', '2');
    if (i % 5 === 0) fields.push('set-cookie', `second=${i}`, 'link', '</style.css>; rel=preload; as=style');
    return { status, fields };
  });
}

for (const [what, settings, tableSize] of [
  ['the default 4096-byte table', {}, undefined],
  ['a 256-byte table (SETTINGS_HEADER_TABLE_SIZE)', { headerTableSize: 256 }, 256],
  ['no table (SETTINGS_HEADER_TABLE_SIZE 0)', { headerTableSize: 0 }, 0],
] as const) {
  test(`encoder against nghttp2: node:http2 receives the responses we encoded, ${what}`, async () => {
    const responses = sampleResponses();
    const { raw, peerTableSizes } = await responsesThroughNghttp2(responses, settings);
    if (tableSize !== undefined) assert.deepEqual(peerTableSizes, [tableSize]);
    raw.forEach((headers, i) => assert.deepEqual(headers, [':status', String(responses[i]!.status), ...responses[i]!.fields], `response ${i}`));
  });
}

// --- Limits and malformed blocks --------------------------------------------------------------

test('limits: a list over maxHeaderListSize or maxFields returns -1, and the table stays in step', () => {
  const e = new HpackEncoder();
  const fields = ['x-a', 'one', 'x-b', 'two', 'x-c', 'three', 'x-d', 'four'];
  const block = Buffer.from(e.encode(fields));
  const indexed = Buffer.from(e.encode(fields));
  assert.equal(indexed.length, 4);

  // Each field counts name + value + 32: 38, 38, 40, 39 = 155.
  for (const opts of [{ maxFields: 3 }, { maxHeaderListSize: 154 }]) {
    const d = new HpackDecoder(opts);
    const out: string[] = [];
    assert.equal(d.decode(block, 0, block.length, out), -1, JSON.stringify(opts));
    assert.deepEqual(out, fields.slice(0, 6));
    // All four were inserted regardless: the next block, all indices, decodes (as far as the limit goes).
    const next: string[] = [];
    assert.equal(d.decode(indexed, 0, indexed.length, next), -1);
    assert.deepEqual(next, fields.slice(0, 6));
    assert.deepEqual(decode(d, Buffer.from([indexed[0]!])), [['x-a', 'one']]);
  }
  const exact = new HpackDecoder({ maxFields: 4, maxHeaderListSize: 155 });
  assert.deepEqual(decode(exact, block), pairs(fields));
  assert.deepEqual(decode(exact, indexed), pairs(fields));

  // Decoding from an offset to an end inside a larger buffer.
  const padded = Buffer.concat([Buffer.from('junk'), block, Buffer.from('junk')]);
  const out: string[] = [];
  assert.equal(new HpackDecoder().decode(padded, 4, 4 + block.length, out), 4);
  assert.deepEqual(out, fields);
});

test('malformed blocks throw HpackError', () => {
  const cases: [string, string, RegExp][] = [
    ['indexed 0', '80', /index 0/],
    ['indexed past the static table', 'be', /index 62 is beyond/],
    ['indexed far past', 'ff 80 01', /index 255 is beyond/],
    ['literal name index past the table', '7f 00 01 61', /index 63 is beyond/],
    ['never-indexed name index past the table', '1f 2f 01 61', /index 62 is beyond/],
    ['integer truncated', 'ff', /integer truncated/],
    ['integer truncated in its continuation', 'ff 80', /integer truncated/],
    ['integer over 2^31', 'ff ff ff ff ff 0f', /integer larger/],
    ['integer with too many continuation bytes', 'ff 80 80 80 80 80 00', /integer longer/],
    ['string past the end', '00 05 61 62', /runs past the end/],
    ['value past the end', '04 05 61 62', /runs past the end/],
    ['value missing', '04', /string literal missing/],
    ['name missing', '40', /string literal missing/],
    ['value length truncated', '04 7f', /integer truncated/],
    ['size update above the maximum', '3f e2 1f', /size update to 4097 exceeds/],
    ['size update after a field', '82 20', /size update after a field/],
    ['Huffman EOS', '00 01 61 84 ff ff ff fc', /EOS/],
  ];
  for (const [what, block, message] of cases) {
    assertHpackError(() => new HpackDecoder().decode(hex(block), 0, hex(block).length, []), message, what);
  }
  // At the start of the block, size updates are fine, even two.
  assert.deepEqual(decode(new HpackDecoder(), hex('20 3f e1 1f 82')), [[':method', 'GET']]);
  assert.deepEqual(decode(new HpackDecoder({ maxTableSize: 100 }), hex('3f 45 82')), [[':method', 'GET']]);
  assertHpackError(() => decode(new HpackDecoder({ maxTableSize: 100 }), hex('3f 46')), /size update to 101 exceeds/);
});

// --- Allocation -------------------------------------------------------------------------------------

function youngUsed(): number {
  return getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_used_size;
}

/**
 * Bytes `run(n)` allocates per iteration in the young generation: the difference of a short and
 * a long run cancels what the measuring allocates, runs a collection interrupted are dropped, and
 * the median of five is taken.
 */
function bytesPerIteration(run: (n: number) => void): number {
  run(20_000); // optimized
  const readings: number[] = [];
  for (let attempt = 0; readings.length < 5; attempt++) {
    assert.ok(attempt < 100, 'young-generation collections kept interfering');
    let before = youngUsed();
    run(100);
    const short = youngUsed() - before;
    before = youngUsed();
    run(1100);
    const long = youngUsed() - before;
    if (short >= 0 && long >= 0) readings.push((long - short) / 1000);
  }
  return readings.sort((a, b) => a - b)[2]!;
}

/** What a sequential one-byte string of `s.length` characters takes in V8 (at most: a 16-byte header, 8-byte aligned). */
const stringBytes = (s: string) => Math.ceil((16 + s.length) / 8) * 8;

test('decoding h2load\'s request blocks allocates nothing but the strings of new literals', () => {
  // What h2load sends for https://bench.test/small: the first block, then the same fields from
  // the dynamic table.
  const e = new HpackEncoder();
  const fields = [':method', 'GET', ':scheme', 'https', ':path', '/small', ':authority', 'bench.test', 'user-agent', 'h2load', 'accept', '*/*', 'accept-encoding', 'gzip, deflate'];
  const first = Buffer.from(e.encode(fields));
  const repeat = Buffer.from(e.encode(fields));
  assert.equal(repeat.length, 7);
  const literals = ['/small', 'bench.test', 'h2load', '*/*'];

  const d = new HpackDecoder();
  const held: string[] = [];
  d.decode(first, 0, first.length, held);
  // Indexed fields come back as the strings the tables hold: the static table's own, or those decoded first.
  const again: string[] = [];
  d.decode(repeat, 0, repeat.length, again);
  assert.deepEqual(again, held);
  for (let i = 0; i < again.length; i++) assert.ok(Object.is(again[i], held[i]));

  // The caller's `out` array allocates (its backing store); measured alone as the baseline.
  const out: string[] = [];
  const baseline = bytesPerIteration((n) => {
    for (let i = 0; i < n; i++) {
      out.length = 0;
      for (let j = 0; j < held.length; j += 2) out.push(held[j]!, held[j + 1]!);
    }
  });
  const repeated = bytesPerIteration((n) => {
    for (let i = 0; i < n; i++) {
      out.length = 0;
      d.decode(repeat, 0, repeat.length, out);
    }
  });
  assert.ok(Math.abs(repeated - baseline) < 1, `indexed block: ${repeated} bytes per block, ${baseline} for out alone`);
  // The first block again and again (each time inserting its four literals, evicting the old ones).
  const literal = bytesPerIteration((n) => {
    for (let i = 0; i < n; i++) {
      out.length = 0;
      d.decode(first, 0, first.length, out);
    }
  });
  const strings = literals.reduce((sum, s) => sum + stringBytes(s), 0);
  assert.ok(literal - baseline < strings + 1, `first block: ${literal} bytes per block, ${baseline} for out alone, ${strings} for its strings`);
});
