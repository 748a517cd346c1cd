/**
 * src/proxy/fields.ts: the head-end scanner (table cases, then against Buffer.indexOf on generated
 * buffers), hasLineBreak, the byte field scanner against the string one; and the response field
 * kinds of src/proxy/headers.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FieldRanges, hasLineBreak, headEnd, scanFieldBytes, scanFields } from '../../../src/proxy/fields.js';
import { FIELD_CONNECTION, FIELD_CONTENT_LENGTH, FIELD_DATE, FIELD_HOP, FIELD_KEEP_ALIVE, FIELD_PLAIN, FIELD_TRANSFER_ENCODING, responseFieldKind } from '../../../src/proxy/headers.js';
import { seededRandom } from '../../harness/random.js';

const b = (s: string) => Buffer.from(s, 'latin1');

test('headEnd: where the first CRLF CRLF starts, or -1', () => {
  const cases: [string, number, number][] = [
    ['', 0, -1],
    ['\r\n\r', 0, -1],
    ['\r\n\r\n', 0, 0],
    ['GET / HTTP/1.1\r\nHost: a\r\n\r\n', 0, 23],
    ['GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\n\r\n', 0, 23],
    ['GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\n\r\n', 24, 42],
    ['\n\r\n\r\n', 0, 1],
    ['\r\r\n\r\n', 0, 1],
    ['\r\n\n\r\n\r\n', 0, 3],
    ['a\n\n\r\n\r\n', 0, 3],
    ['\r\n\r\r\n\r\n', 0, 3],
    ['abc\r\n\r\n', 0, 3],
    ['abcd\r\n\r\n', 0, 4],
    ['x\r\n\r\n', 1, 1],
    ['x\r\n\r\n', 2, -1],
    ['\n\n\n\n\r\n\r\n', 0, 4],
  ];
  for (const [s, from, want] of cases) assert.equal(headEnd(b(s), from), want, JSON.stringify([s, from]));
});

test('headEnd agrees with buf.indexOf(\'\\r\\n\\r\\n\') on 20,000 generated buffers', () => {
  const rnd = seededRandom(7);
  const alphabet = [13, 10, 13, 10, 97, 32, 58];
  for (let k = 0; k < 20_000; k++) {
    const buf = Buffer.alloc(rnd(40));
    for (let i = 0; i < buf.length; i++) buf[i] = alphabet[rnd(alphabet.length)]!;
    const from = rnd(buf.length + 1);
    assert.equal(headEnd(buf, from), buf.indexOf('\r\n\r\n', from, 'latin1'), `${JSON.stringify(buf.toString('latin1'))} from ${from}`);
  }
});

test('hasLineBreak: a CR or an LF anywhere, nothing else', () => {
  const cases: [string, boolean][] = [
    ['', false],
    ['text/plain', false],
    ['a\tb \x00\x7f\xa0', false],
    ['\r', true],
    ['\n', true],
    ['x-evil\r\nset-cookie: a=b', true],
    ['ends with \n', true],
    ['\rstarts', true],
    ['mid\u000ddle', true],
  ];
  for (const [s, want] of cases) assert.equal(hasLineBreak(s), want, JSON.stringify(s));
});

test('scanFieldBytes agrees with scanFields (same stop, same names and values) on 20,000 generated heads', () => {
  const rnd = seededRandom(11);
  const pieces = ['Host', 'x-a', ':', ': ', ' ', '\t', 'v', 'value with spaces', '\r\n', '\r', '\n', '\x00', '\x7f', '\xa0', '\xff', 'é', '(', '~'];
  const ranges = new FieldRanges();
  let complete = 0;
  for (let k = 0; k < 20_000; k++) {
    let text = '';
    const lines = 1 + rnd(4);
    for (let l = 0; l < lines; l++) {
      // Mostly plausible lines, some built from any pieces.
      if (rnd(3) !== 0) text += ['Host', 'Content-Length', 'x-a'][rnd(3)] + ':' + [' ', '', '\t '][rnd(3)] + pieces[rnd(pieces.length)] + pieces[rnd(pieces.length)] + '\r\n';
      else for (let i = 0, n = 1 + rnd(6); i < n; i++) text += pieces[rnd(pieces.length)];
    }
    if (!text.endsWith('\r\n')) text += '\r\n';
    const strings: string[] = [];
    const stop = scanFields(text, 0, strings);
    // A leading offset: the byte scanner works inside a larger buffer.
    const buf = Buffer.from('HTTP/1.1 200 OK\r\n' + text + 'body', 'latin1');
    const from = 17;
    const end = from + text.length;
    ranges.reset();
    const byteStop = scanFieldBytes(buf, from, end, ranges);
    assert.equal(byteStop - from, stop, JSON.stringify(text));
    const got: string[] = [];
    for (let i = 0; i < ranges.count; i++) {
      const a = ranges.at;
      got.push(buf.toString('latin1', a[4 * i]!, a[4 * i + 1]!), buf.toString('latin1', a[4 * i + 2]!, a[4 * i + 3]!));
    }
    assert.deepEqual(got, strings, JSON.stringify(text));
    if (stop === text.length) complete++;
  }
  assert.ok(complete > 2000 && complete < 18_000, `both outcomes are exercised (${complete} heads read whole)`);
});

test('responseFieldKind: names in any case, the hop-by-hop set but Trailer, nothing else', () => {
  const cases: [string, number][] = [
    ['Content-Length', FIELD_CONTENT_LENGTH],
    ['content-length', FIELD_CONTENT_LENGTH],
    ['CONTENT-LENGTH', FIELD_CONTENT_LENGTH],
    ['Transfer-Encoding', FIELD_TRANSFER_ENCODING],
    ['Connection', FIELD_CONNECTION],
    ['Keep-Alive', FIELD_KEEP_ALIVE],
    ['Date', FIELD_DATE],
    ['dATE', FIELD_DATE],
    ['TE', FIELD_HOP],
    ['Upgrade', FIELD_HOP],
    ['Proxy-Connection', FIELD_HOP],
    ['Proxy-Authenticate', FIELD_HOP],
    ['Proxy-Authorization', FIELD_HOP],
    ['Trailer', FIELD_PLAIN],
    ['Set-Cookie', FIELD_PLAIN],
    ['Content-Type', FIELD_PLAIN],
    ['Content-Lengtx', FIELD_PLAIN],
    ['Content_Length', FIELD_PLAIN],
    ['Dat', FIELD_PLAIN],
    ['Dates', FIELD_PLAIN],
    ['x'.repeat(40), FIELD_PLAIN],
  ];
  for (const [name, want] of cases) {
    const buf = Buffer.from(`>${name}<`, 'latin1');
    assert.equal(responseFieldKind(buf, 1, 1 + name.length), want, name);
  }
});
