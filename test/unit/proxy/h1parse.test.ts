import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_HEAD_BYTES, ResponseParseError, ResponseParser, type ResponseHead, type ResponseSink } from '../../../src/proxy/h1parse.js';
import { seededRandom } from '../../harness/random.js';

// Every case is fed whole, split in two at every byte boundary (small inputs), byte by byte, and
// byte by byte to a sink that pauses on every body chunk: the events, the bytes consumed and the
// error must be the same each time, since TCP may cut a response anywhere.

type Ev =
  | ['head', number, string, string[], boolean, number]
  | ['body', string]
  | ['end', string[] | null]
  | ['finish', boolean];

interface Outcome {
  events: Ev[];
  /** Bytes of the input the parser took (less than the input when a response ended early). */
  consumed: number;
  error?: string;
}

class Log implements ResponseSink {
  readonly events: Ev[] = [];
  paused = false;
  constructor(private readonly pause: boolean) {}
  onHead(h: ResponseHead): void {
    this.events.push(['head', h.status, h.reason, h.fields(), h.keepAlive, h.keepAliveMs]);
  }
  onBody(chunk: Buffer): boolean {
    const last = this.events.at(-1);
    // Body bytes are compared concatenated: how they were cut is not behaviour.
    if (last !== undefined && last[0] === 'body') last[1] += chunk.toString('latin1');
    else this.events.push(['body', chunk.toString('latin1')]);
    if (this.pause) this.paused = true;
    return !this.pause;
  }
  onEnd(trailers: string[] | null): void {
    this.events.push(['end', trailers]);
  }
}

interface Opts {
  head?: boolean;
  /** The connection closes after the input: finish() is called. */
  close?: boolean;
}

function drive(input: Buffer, cuts: number[], pause: boolean, o: Opts): Outcome {
  const sink = new Log(pause);
  const p = new ResponseParser(sink);
  p.expect(o.head === true);
  let consumed = 0;
  const bounds = [0, ...cuts, input.length];
  try {
    feed: for (let k = 0; k + 1 < bounds.length; k++) {
      let rest = input.subarray(bounds[k], bounds[k + 1]);
      while (rest.length > 0) {
        const n = p.execute(rest);
        assert.ok(n >= 0 && n <= rest.length, `execute returned ${n} for ${rest.length} bytes`);
        consumed += n;
        rest = rest.subarray(n);
        if (!p.busy) break feed; // the response ended; what follows is not ours
        if (rest.length === 0) break;
        // Fewer bytes taken while still busy: only allowed because the sink paused; resume.
        assert.ok(sink.paused, `execute stopped at ${consumed} without a pause or an end`);
        sink.paused = false;
      }
    }
    if (o.close === true) sink.events.push(['finish', p.finish()]);
  } catch (err) {
    assert.ok(err instanceof ResponseParseError, `not a ResponseParseError: ${String(err)}`);
    assert.equal(err.code, 'HPE_UPSTREAM_RESPONSE');
    // How much was taken before the error depends on how the input was cut: not compared.
    return { events: sink.events, consumed: -1, error: err.message };
  }
  return { events: sink.events, consumed };
}

function everyWay(input: Buffer, o: Opts, name: string): Outcome {
  const whole = drive(input, [], false, o);
  const bytes = Array.from({ length: Math.max(0, input.length - 1) }, (_, i) => i + 1);
  assert.deepEqual(drive(input, bytes, false, o), whole, `${name}: byte by byte differs from whole`);
  assert.deepEqual(drive(input, bytes, true, o), whole, `${name}: byte by byte with pauses differs from whole`);
  assert.deepEqual(drive(input, [], true, o), whole, `${name}: whole with pauses differs from whole`);
  if (input.length <= 2048) {
    for (let i = 1; i < input.length; i++) assert.deepEqual(drive(input, [i], false, o), whole, `${name}: split at ${i} differs from whole`);
  } else {
    for (const i of [1, 2, input.length >> 1, input.length - 2, input.length - 1]) {
      assert.deepEqual(drive(input, [i], false, o), whole, `${name}: split at ${i} differs from whole`);
    }
  }
  return whole;
}

const b = (s: string) => Buffer.from(s, 'latin1');
const head = (status: number, reason: string, headers: string[], keepAlive = true, keepAliveMs = 0): Ev => ['head', status, reason, headers, keepAlive, keepAliveMs];

interface OkCase {
  name: string;
  input: string;
  opts?: Opts;
  events: Ev[];
  /** Defaults to the whole input. */
  consumed?: number;
}

const okCases: OkCase[] = [
  {
    name: 'Content-Length',
    input: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello',
    events: [head(200, 'OK', ['Content-Length', '5', 'X-A', 'b']), ['body', 'hello'], ['end', null]],
  },
  {
    name: 'Content-Length 0',
    input: 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n',
    events: [head(200, 'OK', ['Content-Length', '0']), ['end', null]],
  },
  {
    name: 'header values keep inner spaces, lose surrounding ones, keep obs-text',
    input: 'HTTP/1.1 200 OK\r\nX-A:   a  b \t\r\nX-B:\r\nX-C: caf\xe9\xa0 \r\nContent-Length: 0\r\n\r\n',
    events: [head(200, 'OK', ['X-A', 'a  b', 'X-B', '', 'X-C', 'caf\xe9\xa0', 'Content-Length', '0']), ['end', null]],
  },
  {
    name: 'empty reason, with and without the space',
    input: 'HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n',
    events: [head(200, '', ['Content-Length', '0']), ['end', null]],
  },
  {
    name: 'no reason and no space',
    input: 'HTTP/1.1 404\r\nContent-Length: 1\r\n\r\nx',
    events: [head(404, '', ['Content-Length', '1']), ['body', 'x'], ['end', null]],
  },
  {
    name: 'chunked with extensions and trailers',
    input:
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n' +
      '5;name=value\r\nhello\r\n1 ;ext\r\n \r\n5\t;a=b;c="d e"\r\nworld\r\n0;last\r\nX-Sum: 42\r\nX-Other: y\r\n\r\n',
    events: [
      head(200, 'OK', ['Transfer-Encoding', 'chunked', 'Trailer', 'X-Sum']),
      ['body', 'hello world'],
      ['end', ['X-Sum', '42', 'X-Other', 'y']],
    ],
  },
  {
    name: 'chunk sizes in upper and lower hex, leading zeros',
    input: `HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\nA\r\n${'a'.repeat(10)}\r\nb\r\n${'b'.repeat(11)}\r\n00000000000000001F\r\n${'c'.repeat(31)}\r\n0\r\n\r\n`,
    events: [head(200, 'OK', ['transfer-encoding', 'Chunked']), ['body', 'a'.repeat(10) + 'b'.repeat(11) + 'c'.repeat(31)], ['end', null]],
  },
  {
    name: 'chunked without trailers',
    input: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
    events: [head(200, 'OK', ['Transfer-Encoding', 'chunked']), ['body', 'abc'], ['end', null]],
  },
  {
    name: '100 and 103 before the final response',
    input: 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok',
    events: [head(201, 'Created', ['Content-Length', '2']), ['body', 'ok'], ['end', null]],
  },
  {
    name: 'HEAD with a Content-Length has no body',
    input: 'HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n',
    opts: { head: true },
    events: [head(200, 'OK', ['Content-Length', '1234']), ['end', null]],
  },
  {
    name: 'HEAD with chunked has no body',
    input: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n',
    opts: { head: true },
    events: [head(200, 'OK', ['Transfer-Encoding', 'chunked']), ['end', null]],
  },
  {
    name: '204 has no body whatever it says',
    input: 'HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\nHTTP/1.1',
    events: [head(204, 'No Content', ['Content-Length', '10']), ['end', null]],
    consumed: 'HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n'.length,
  },
  {
    name: '304 has no body',
    input: 'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n',
    events: [head(304, 'Not Modified', ['ETag', '"x"']), ['end', null]],
  },
  {
    name: 'body until close, completed by finish()',
    input: 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of this until the end',
    opts: { close: true },
    events: [head(200, 'OK', ['Content-Type', 'text/plain'], false), ['body', 'all of this until the end'], ['end', null], ['finish', true]],
  },
  {
    name: 'a sized body cut short: finish() says so',
    input: 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc',
    opts: { close: true },
    events: [head(200, 'OK', ['Content-Length', '10']), ['body', 'abc'], ['finish', false]],
  },
  {
    name: 'a head cut short: finish() says so',
    input: 'HTTP/1.1 200 OK\r\nContent-Le',
    opts: { close: true },
    events: [['finish', false]],
  },
  {
    name: 'HTTP/1.0 is not kept alive by default',
    input: 'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi',
    events: [head(200, 'OK', ['Content-Length', '2'], false), ['body', 'hi'], ['end', null]],
  },
  {
    name: 'HTTP/1.0 with Connection: keep-alive',
    input: 'HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nhi',
    events: [head(200, 'OK', ['Connection', 'Keep-Alive', 'Content-Length', '2'], true), ['body', 'hi'], ['end', null]],
  },
  {
    name: 'Connection: close',
    input: 'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi',
    events: [head(200, 'OK', ['Connection', 'close', 'Content-Length', '2'], false), ['body', 'hi'], ['end', null]],
  },
  {
    name: 'Keep-Alive: timeout=5',
    input: 'HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5, max=100\r\nContent-Length: 0\r\n\r\n',
    events: [head(200, 'OK', ['Keep-Alive', 'timeout=5, max=100', 'Content-Length', '0'], true, 5000), ['end', null]],
  },
  {
    name: 'extra bytes after a complete response are not consumed',
    input: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1 200 OK\r\n\r\n',
    events: [head(200, 'OK', ['Content-Length', '2']), ['body', 'hi'], ['end', null]],
    consumed: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi'.length,
  },
  {
    name: 'extra bytes after a chunked response are not consumed',
    input: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\nXYZ',
    events: [head(200, 'OK', ['Transfer-Encoding', 'chunked']), ['body', 'a'], ['end', null]],
    consumed: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n'.length,
  },
  {
    name: 'a list of equal Content-Length values is one length',
    input: 'HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\nContent-Length: 3\r\n\r\nabc',
    events: [head(200, 'OK', ['Content-Length', '3, 3', 'Content-Length', '3']), ['body', 'abc'], ['end', null]],
  },
  {
    name: 'Transfer-Encoding and Content-Length: chunked wins, the Content-Length is dropped, the connection is not reused',
    input: 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n',
    // The overridden Content-Length is not passed on (a proxy must not forward it).
    events: [head(200, 'OK', ['Transfer-Encoding', 'chunked'], false), ['body', 'ab'], ['end', null]],
  },
  {
    name: 'a head of exactly MAX_HEAD_BYTES',
    input: (() => {
      const start = 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Pad: ';
      return start + 'p'.repeat(MAX_HEAD_BYTES - start.length - 4) + '\r\n\r\n';
    })(),
    events: [
      (() => {
        const start = 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Pad: ';
        return head(200, 'OK', ['Content-Length', '0', 'X-Pad', 'p'.repeat(MAX_HEAD_BYTES - start.length - 4)]);
      })(),
      ['end', null],
    ],
  },
];

for (const c of okCases) {
  test(`h1parse: ${c.name}`, () => {
    const input = b(c.input);
    const got = everyWay(input, c.opts ?? {}, c.name);
    assert.equal(got.error, undefined, `${c.name}: unexpected error`);
    assert.deepEqual(got.events, c.events);
    assert.equal(got.consumed, c.consumed ?? input.length);
  });
}

interface BadCase {
  name: string;
  input: string;
  error: RegExp;
  opts?: Opts;
}

const bigHead = 'HTTP/1.1 200 OK\r\nX-Pad: ' + 'p'.repeat(MAX_HEAD_BYTES) + '\r\n\r\n';
const badCases: BadCase[] = [
  { name: 'HTTP/2.0 status line', input: 'HTTP/2.0 200 OK\r\n\r\n', error: /invalid status line/ },
  { name: 'HTTP/1.2 status line', input: 'HTTP/1.2 200 OK\r\n\r\n', error: /invalid status line/ },
  { name: 'two-digit status', input: 'HTTP/1.1 20 OK\r\n\r\n', error: /invalid status line/ },
  { name: 'four-digit status', input: 'HTTP/1.1 2000 OK\r\n\r\n', error: /invalid status line/ },
  { name: 'status 099', input: 'HTTP/1.1 099 Nope\r\n\r\n', error: /invalid status line/ },
  { name: 'lowercase protocol', input: 'http/1.1 200 OK\r\n\r\n', error: /invalid status line/ },
  { name: 'reason with a bare LF', input: 'HTTP/1.1 200 O\nK\r\nContent-Length: 0\r\n\r\n', error: /invalid status line/ },
  { name: 'reason with NUL', input: 'HTTP/1.1 200 O\x00K\r\nContent-Length: 0\r\n\r\n', error: /invalid status line/ },
  { name: 'conflicting Content-Length', input: 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd', error: /conflicting Content-Length/ },
  { name: 'conflicting Content-Length list', input: 'HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\nabcd', error: /conflicting Content-Length/ },
  { name: 'Content-Length not a number', input: 'HTTP/1.1 200 OK\r\nContent-Length: 3x\r\n\r\nabc', error: /invalid Content-Length/ },
  { name: 'Content-Length negative', input: 'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n', error: /invalid Content-Length/ },
  { name: 'Content-Length empty', input: 'HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n', error: /invalid Content-Length/ },
  { name: 'Transfer-Encoding gzip', input: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc', error: /Transfer-Encoding/ },
  { name: 'Transfer-Encoding chunked, gzip', input: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n', error: /Transfer-Encoding/ },
  { name: 'Transfer-Encoding gzip, chunked', input: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n', error: /Transfer-Encoding/ },
  { name: 'Transfer-Encoding chunked twice', input: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n', error: /Transfer-Encoding/ },
  { name: 'obs-fold', input: 'HTTP/1.1 200 OK\r\nX-A: one\r\n two\r\nContent-Length: 0\r\n\r\n', error: /line folding/ },
  { name: 'header name with a space', input: 'HTTP/1.1 200 OK\r\nX A: b\r\n\r\n', error: /header/ },
  { name: 'space before the colon', input: 'HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n', error: /header/ },
  { name: 'header name with "("', input: 'HTTP/1.1 200 OK\r\nX(A): b\r\n\r\n', error: /invalid header name/ },
  { name: 'header line without a colon', input: 'HTTP/1.1 200 OK\r\nNoColon\r\n\r\n', error: /malformed header line/ },
  { name: 'header value with NUL', input: 'HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 0\r\n\r\n', error: /invalid value/ },
  { name: 'header value with a bare LF', input: 'HTTP/1.1 200 OK\r\nX-A: a\nb\r\nContent-Length: 0\r\n\r\n', error: /invalid value/ },
  { name: 'header value with a bare CR', input: 'HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 0\r\n\r\n', error: /invalid value/ },
  { name: 'head larger than MAX_HEAD_BYTES', input: bigHead, error: /larger than/ },
  { name: 'head larger than MAX_HEAD_BYTES, never ended', input: bigHead.slice(0, -4), error: /larger than/ },
  {
    name: 'head one byte over MAX_HEAD_BYTES',
    input: (() => {
      const start = 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Pad: ';
      return start + 'p'.repeat(MAX_HEAD_BYTES - start.length - 3) + '\r\n\r\n';
    })(),
    error: /larger than/,
  },
  { name: 'trailers larger than MAX_HEAD_BYTES', input: `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: ${'t'.repeat(MAX_HEAD_BYTES)}\r\n\r\n`, error: /larger than/ },
  { name: 'invalid chunk size', input: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n', error: /invalid chunk size/ },
  { name: 'empty chunk size', input: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\nabc\r\n0\r\n\r\n', error: /chunk size/ },
  { name: 'negative chunk size', input: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\na\r\n0\r\n\r\n', error: /invalid chunk size/ },
  { name: 'chunk size with a 0x prefix', input: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x1\r\na\r\n0\r\n\r\n', error: /invalid chunk size/ },
  { name: 'chunk size too large', input: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\na\r\n', error: /chunk size too large/ },
  { name: 'chunk-size line ended by a bare LF', input: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\na\r\n0\r\n\r\n', error: /not ended by CRLF/ },
  { name: 'chunk data not followed by CRLF', input: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n', error: /not followed by CRLF/ },
  { name: 'chunk data followed by CR and no LF', input: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\rX0\r\n\r\n', error: /not followed by CRLF/ },
  { name: 'over-long chunk-size line', input: `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;${'e'.repeat(5000)}\r\na\r\n0\r\n\r\n`, error: /over-long chunk-size line/ },
  { name: 'over-long chunk-size line, never ended', input: `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;${'e'.repeat(5000)}`, error: /over-long chunk-size line/ },
  { name: 'chunk extension with a control character', input: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;a\x01\r\na\r\n0\r\n\r\n', error: /invalid chunk size/ },
  { name: '101 without an upgrade request', input: 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n', error: /switched protocols/ },
  { name: 'bad header in a 1xx', input: 'HTTP/1.1 103 Early Hints\r\nBad Header: x\r\n\r\nHTTP/1.1 200 OK\r\n\r\n', error: /header/ },
];

for (const c of badCases) {
  test(`h1parse refuses: ${c.name}`, () => {
    const got = everyWay(b(c.input), c.opts ?? {}, c.name);
    assert.ok(got.error !== undefined, `${c.name}: accepted (events ${JSON.stringify(got.events).slice(0, 200)})`);
    assert.match(got.error, c.error);
  });
}

test('h1parse: a parser reads the next response after expect()', () => {
  const sink = new Log(false);
  const p = new ResponseParser(sink);
  p.expect(true);
  const first = b('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n');
  assert.equal(p.execute(first), first.length);
  assert.equal(p.busy, false);
  p.expect(false);
  const second = b('HTTP/1.1 404 Not Found\r\nContent-Length: 1\r\n\r\nx');
  assert.equal(p.execute(second), second.length);
  assert.deepEqual(sink.events, [
    head(200, 'OK', ['Content-Length', '5']),
    ['end', null],
    head(404, 'Not Found', ['Content-Length', '1']),
    ['body', 'x'],
    ['end', null],
  ]);
});

test('h1parse: the body length given with the head: the Content-Length when a sized body follows, else -1', () => {
  const cases: [string, string, boolean, number][] = [
    ['sized', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc', false, 3],
    ['empty', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', false, 0],
    ['a list of equal values', 'HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc', false, 3],
    ['chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', false, -1],
    ['chunked overriding a Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', false, -1],
    ['HEAD', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n', true, -1],
    ['304', 'HTTP/1.1 304 Not Modified\r\nContent-Length: 3\r\n\r\n', false, -1],
    ['until close', 'HTTP/1.1 200 OK\r\n\r\nabc', false, -1],
  ];
  for (const [name, input, isHead, want] of cases) {
    let got: number | undefined;
    const p = new ResponseParser({ onHead: (h) => (got = h.length), onBody: () => true, onEnd: () => undefined });
    p.expect(isHead);
    p.execute(b(input));
    assert.equal(got, want, name);
  }
});

test('h1parse: a paused sink gets the rest when execute is called again with it', () => {
  const events: string[] = [];
  let pauses = 0;
  const p = new ResponseParser({
    onHead: (h) => events.push(`head ${h.status}`),
    onBody: (c) => {
      events.push(`body ${c.toString()}`);
      return pauses++ > 0; // pause once, then flow
    },
    onEnd: () => events.push('end'),
  });
  p.expect(false);
  const input = b('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n');
  const n = p.execute(input);
  const afterFirst = input.indexOf('abc') + 3;
  assert.equal(n, afterFirst, 'stops right after the chunk the sink paused on');
  assert.deepEqual(events, ['head 200', 'body abc']);
  assert.equal(p.busy, true);
  assert.equal(p.execute(input.subarray(n)), input.length - n);
  assert.deepEqual(events, ['head 200', 'body abc', 'body de', 'end']);
  assert.equal(p.busy, false);
});

test('header lines: accepted and refused exactly as the field grammar says (differential, 5,000 generated lines)', () => {
  // The grammar as a regular expression (what the parser implemented before it scanned by hand):
  // token name, colon, optional spaces/tabs, a value without controls other than tab, CRLF.
  const GRAMMAR = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([^\x00-\x08\x0a-\x1f\x7f]*)\r\n$/;
  // An alphabet of the characters that matter to the grammar, plus ordinary ones.
  const alphabet = ['a', 'Z', '0', '-', '_', '~', '!', ':', ' ', '\t', '\r', '\n', '\x00', '\x7f', '\xa0', '\xff', '"', '(', '@', '/', ',', '=', 'é'];
  const rnd = seededRandom(42);
  let accepted = 0;
  for (let k = 0; k < 5000; k++) {
    let line = '';
    const n = 1 + rnd(12);
    for (let i = 0; i < n; i++) line += alphabet[rnd(alphabet.length)];
    // Most lines get a plausible shape so that both outcomes are common.
    if (rnd(3) !== 0) line = ['X-Test', 'a', 'Content-Type'][rnd(3)] + ':' + (rnd(2) ? ' ' : '') + line;
    line += '\r\n';
    if (line.slice(0, -2).includes('\r\n')) continue; // one line at a time
    const m = GRAMMAR.exec(line);
    const log = new Log(false);
    const p = new ResponseParser(log);
    const input = Buffer.from(`HTTP/1.1 200 OK\r\n${line}Content-Length: 0\r\n\r\n`, 'latin1');
    let got: string[] | undefined;
    try {
      p.execute(input);
      got = (log.events[0] as Ev)[3] as string[];
    } catch (err) {
      assert.ok(err instanceof ResponseParseError, `${JSON.stringify(line)}: ${(err as Error).message}`);
      got = undefined;
    }
    if (m === null) {
      assert.equal(got, undefined, `refused by the grammar, accepted by the parser: ${JSON.stringify(line)}`);
      continue;
    }
    accepted++;
    const value = m[2]!.replace(/[ \t]+$/, '');
    assert.deepEqual(got?.slice(0, 2), [m[1], value], JSON.stringify(line));
  }
  assert.ok(accepted > 1000 && accepted < 4000, `both outcomes are exercised (${accepted} accepted)`);
});
