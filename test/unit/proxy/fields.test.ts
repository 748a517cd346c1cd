/** src/proxy/fields.ts: the head-end scanner (table cases, then against Buffer.indexOf on generated buffers) and hasLineBreak. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hasLineBreak, headEnd } from '../../../src/proxy/fields.js';

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
  let seed = 7;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
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
