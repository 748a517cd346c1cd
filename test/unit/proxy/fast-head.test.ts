import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePlainHead } from '../../../src/proxy/fast.js';
import { seededRandom } from '../../harness/random.js';

// parsePlainHead gets a request head without its final empty line (what the fast path slices off
// the socket buffer, in latin1). What it accepts is served by gangplank itself; for anything else
// it returns undefined and the connection goes to Node's HTTP server, so a refusal here is never an
// error answer, only "not the plain case".

const H = (lines: string[]): string => lines.map((l) => l + '\r\n').join('');

describe('parsePlainHead: accepted heads', () => {
  const cases: {
    name: string;
    head: string;
    method: string;
    url: string;
    minor: number;
    rawHeaders: string[];
    keepAlive: boolean;
  }[] = [
    {
      name: 'HTTP/1.1 GET: keep-alive by default',
      head: H(['GET /a/b?x=1&y=%20 HTTP/1.1', 'Host: a.test', 'Accept: */*']),
      method: 'GET',
      url: '/a/b?x=1&y=%20',
      minor: 1,
      rawHeaders: ['Host', 'a.test', 'Accept', '*/*'],
      keepAlive: true,
    },
    {
      name: 'HTTP/1.1 with Connection: close',
      head: H(['GET / HTTP/1.1', 'Host: a.test', 'Connection: close']),
      method: 'GET',
      url: '/',
      minor: 1,
      rawHeaders: ['Host', 'a.test', 'Connection', 'close'],
      keepAlive: false,
    },
    {
      name: 'HTTP/1.1 with close among other Connection tokens, any case',
      head: H(['GET / HTTP/1.1', 'Host: a.test', 'Connection: TE, Close']),
      method: 'GET',
      url: '/',
      minor: 1,
      rawHeaders: ['Host', 'a.test', 'Connection', 'TE, Close'],
      keepAlive: false,
    },
    {
      name: 'HTTP/1.1 with close in a second Connection line',
      head: H(['GET / HTTP/1.1', 'Host: a.test', 'Connection: keep-alive', 'connection: close']),
      method: 'GET',
      url: '/',
      minor: 1,
      rawHeaders: ['Host', 'a.test', 'Connection', 'keep-alive', 'connection', 'close'],
      keepAlive: false,
    },
    {
      name: 'HTTP/1.0: close by default',
      head: H(['GET / HTTP/1.0', 'Host: a.test']),
      method: 'GET',
      url: '/',
      minor: 0,
      rawHeaders: ['Host', 'a.test'],
      keepAlive: false,
    },
    {
      name: 'HTTP/1.0 with Connection: keep-alive',
      head: H(['GET / HTTP/1.0', 'Connection: Keep-Alive']),
      method: 'GET',
      url: '/',
      minor: 0,
      rawHeaders: ['Connection', 'Keep-Alive'],
      keepAlive: true,
    },
    {
      name: 'HTTP/1.0 with keep-alive and close: close wins',
      head: H(['GET / HTTP/1.0', 'Connection: keep-alive, close']),
      method: 'GET',
      url: '/',
      minor: 0,
      rawHeaders: ['Connection', 'keep-alive, close'],
      keepAlive: false,
    },
    {
      name: 'no header fields at all',
      head: H(['HEAD /x HTTP/1.0']),
      method: 'HEAD',
      url: '/x',
      minor: 0,
      rawHeaders: [],
      keepAlive: false,
    },
    {
      name: 'whitespace around values trimmed (spaces and tabs), inner whitespace kept',
      head: H(['GET / HTTP/1.1', 'Host:a.test', 'X-A: \t a  b \t ', 'X-Empty:', 'X-Blank:   ']),
      method: 'GET',
      url: '/',
      minor: 1,
      rawHeaders: ['Host', 'a.test', 'X-A', 'a  b', 'X-Empty', '', 'X-Blank', ''],
      keepAlive: true,
    },
    {
      name: 'Content-Length: 0 is no body',
      head: H(['DELETE /r HTTP/1.1', 'Host: a.test', 'Content-Length: 0']),
      method: 'DELETE',
      url: '/r',
      minor: 1,
      rawHeaders: ['Host', 'a.test', 'Content-Length', '0'],
      keepAlive: true,
    },
    {
      name: 'obs-text (bytes 0x80-0xff, latin1) and HTAB inside a value',
      head: H(['GET / HTTP/1.1', 'Host: a.test', 'X-Latin: caf\xe9\tok']),
      method: 'GET',
      url: '/',
      minor: 1,
      rawHeaders: ['Host', 'a.test', 'X-Latin', 'caf\xe9\tok'],
      keepAlive: true,
    },
    {
      name: "header names are tokens: !#$%&'*+-.^_`|~ digits letters",
      head: H(['GET / HTTP/1.1', "X!#$%&'*+-.^_`|~09az: v"]),
      method: 'GET',
      url: '/',
      minor: 1,
      rawHeaders: ["X!#$%&'*+-.^_`|~09az", 'v'],
      keepAlive: true,
    },
    {
      name: 'target of every visible ASCII character',
      head: H(['GET /!"#$%&\'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~ HTTP/1.1']),
      method: 'GET',
      url: '/!"#$%&\'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~',
      minor: 1,
      rawHeaders: [],
      keepAlive: true,
    },
    {
      name: 'values: surrounding spaces and tabs dropped, obs-text kept (also at the end), empty values kept',
      head: H(['GET / HTTP/1.1', 'Host:a.test', 'X-A: \t spaced \t ', 'X-Latin: caf\xe9\xa0', 'X-Empty:', 'X-Blank:  \t']),
      method: 'GET',
      url: '/',
      minor: 1,
      rawHeaders: ['Host', 'a.test', 'X-A', 'spaced', 'X-Latin', 'caf\xe9\xa0', 'X-Empty', '', 'X-Blank', ''],
      keepAlive: true,
    },
    {
      name: 'exactly 100 fields',
      head: H(['GET / HTTP/1.1', ...Array.from({ length: 100 }, (_, i) => `X-${i}: ${i}`)]),
      method: 'GET',
      url: '/',
      minor: 1,
      rawHeaders: Array.from({ length: 100 }, (_, i) => [`X-${i}`, String(i)]).flat(),
      keepAlive: true,
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const h = parsePlainHead(c.head);
      assert.ok(h !== undefined, 'head accepted');
      assert.deepEqual(
        { method: h.method, url: h.url, minor: h.minor, rawHeaders: h.rawHeaders, keepAlive: h.keepAlive },
        { method: c.method, url: c.url, minor: c.minor, rawHeaders: c.rawHeaders, keepAlive: c.keepAlive },
      );
    });
  }
});

describe('parsePlainHead: refusals (handed to Node\'s server)', () => {
  const cases: [string, string][] = [
    ['Transfer-Encoding', H(['POST / HTTP/1.1', 'Host: a.test', 'Transfer-Encoding: chunked'])],
    ['Transfer-Encoding in another case', H(['POST / HTTP/1.1', 'Host: a.test', 'transfer-ENCODING: chunked'])],
    ['Upgrade', H(['GET / HTTP/1.1', 'Host: a.test', 'Connection: Upgrade', 'Upgrade: websocket'])],
    ['Expect', H(['PUT / HTTP/1.1', 'Host: a.test', 'Expect: 100-continue'])],
    ['Content-Length: 5', H(['POST / HTTP/1.1', 'Host: a.test', 'Content-Length: 5'])],
    ['Content-Length: 00 (only a literal 0 is no body)', H(['POST / HTTP/1.1', 'Host: a.test', 'Content-Length: 00'])],
    ['Content-Length: 0 then 5', H(['POST / HTTP/1.1', 'Content-Length: 0', 'Content-Length: 5'])],
    ['absolute-form target', H(['GET http://a.test/ HTTP/1.1', 'Host: a.test'])],
    ['asterisk-form target', H(['OPTIONS * HTTP/1.1', 'Host: a.test'])],
    ['authority-form target (CONNECT)', H(['CONNECT a.test:443 HTTP/1.1', 'Host: a.test:443'])],
    ['empty target', H(['GET  HTTP/1.1', 'Host: a.test'])],
    ['HTTP/2.0', H(['GET / HTTP/2.0', 'Host: a.test'])],
    ['HTTP/1.2', H(['GET / HTTP/1.2', 'Host: a.test'])],
    ['HTTP/0.9 style (no version)', H(['GET /'])],
    ['lower-case protocol name', H(['GET / http/1.1', 'Host: a.test'])],
    // Methods Node's parser does not know go to Node's server, which refuses them as it always did.
    ['lower-case method', H(['get / HTTP/1.1', 'Host: a.test'])],
    ['extension method', H(['PURGE /cache HTTP/1.1', 'Host: a.test'])],
    ['space in target', H(['GET /a b HTTP/1.1', 'Host: a.test'])],
    ['two spaces after method', H(['GET  / HTTP/1.1', 'Host: a.test'])],
    ['tab in target', H(['GET /a\tb HTTP/1.1', 'Host: a.test'])],
    ['control char in target', H(['GET /a\x01b HTTP/1.1', 'Host: a.test'])],
    ['NUL in target', H(['GET /a\x00 HTTP/1.1', 'Host: a.test'])],
    ['DEL in target', H(['GET /a\x7f HTTP/1.1', 'Host: a.test'])],
    ['byte > 0x7e in target', H(['GET /caf\xe9 HTTP/1.1', 'Host: a.test'])],
    ['method not a token', H(['GE(T / HTTP/1.1', 'Host: a.test'])],
    ['empty method', H([' / HTTP/1.1', 'Host: a.test'])],
    ['bare LF after the request line', 'GET / HTTP/1.1\nHost: a.test\r\n'],
    ['obs-fold (continuation line)', H(['GET / HTTP/1.1', 'Host: a.test', 'X-A: 1', ' folded'])],
    ['obs-fold with a tab', H(['GET / HTTP/1.1', 'X-A: 1', '\tfolded'])],
    ['header without colon', H(['GET / HTTP/1.1', 'Host a.test'])],
    ['space between name and colon', H(['GET / HTTP/1.1', 'Host : a.test'])],
    ['space inside the name', H(['GET / HTTP/1.1', 'X A: 1'])],
    ['empty name', H(['GET / HTTP/1.1', ': v'])],
    ['NUL in value', H(['GET / HTTP/1.1', 'X-A: a\x00b'])],
    ['bare LF in value', H(['GET / HTTP/1.1', 'X-A: a\nb'])],
    ['bare CR in value', H(['GET / HTTP/1.1', 'X-A: a\rb'])],
    ['control char in value', H(['GET / HTTP/1.1', 'X-A: a\x1bb'])],
    ['DEL in value', H(['GET / HTTP/1.1', 'X-A: a\x7fb'])],
    ['101 fields', H(['GET / HTTP/1.1', ...Array.from({ length: 101 }, (_, i) => `X-${i}: ${i}`)])],
    ['last line without CRLF', 'GET / HTTP/1.1\r\nHost: a.test'],
  ];
  for (const [name, head] of cases) {
    test(name, () => {
      assert.equal(parsePlainHead(head), undefined);
    });
  }
});

test('parsePlainHead: request lines accepted exactly as the request-line grammar says (differential, 20,000 generated lines)', () => {
  // The grammar as a regular expression (what the fast path matched with before it scanned by
  // hand), with the methods it serves.
  const GRAMMAR = /^(GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH|TRACE) (\/[!-~]*) HTTP\/1\.([01])\r\n$/;
  const pieces = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'GETS', 'get', 'PRI', 'G', ' ', '/', '/a', '?', '%', '~', '\x7f', '\x80', '\t', '\r', '\n', 'HTTP/1.', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2', '1', '0', 'x', '*', 'http://a'];
  const rnd = seededRandom(7);
  let accepted = 0;
  for (let k = 0; k < 20_000; k++) {
    let line: string;
    if (rnd(4) !== 0) {
      // Mostly well-formed, half of them with one piece swapped in somewhere.
      const parts = [['GET', 'PUT', 'DELETE', 'OPTIONS', 'HEAD'][rnd(5)]!, ' ', '/p' + pieces[rnd(pieces.length)], ' ', ['HTTP/1.1', 'HTTP/1.0', 'HTTP/1.2'][rnd(3)]!];
      if (rnd(2) === 0) parts[rnd(parts.length)] = pieces[rnd(pieces.length)]!;
      line = parts.join('');
    } else {
      line = '';
      const n = 1 + rnd(8);
      for (let i = 0; i < n; i++) line += pieces[rnd(pieces.length)];
    }
    line += '\r\n';
    const m = GRAMMAR.exec(line);
    const got = parsePlainHead(line + 'Host: a.test\r\n');
    if (m === null) {
      assert.equal(got, undefined, `refused by the grammar, accepted by the fast path: ${JSON.stringify(line)}`);
      continue;
    }
    accepted++;
    assert.deepEqual(got && [got.method, got.url, got.minor], [m[1], m[2], Number(m[3])], JSON.stringify(line));
  }
  assert.ok(accepted > 2000 && accepted < 18_000, `both outcomes are exercised (${accepted} accepted)`);
});
