import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { waitFor } from '../harness/wait.js';
import { backend, endpoint, rawExchange, route, startBackend, startProxy, TestTable, type Backendsrv, type ProxyUnderTest } from './helpers.js';

describe('malformed and hostile requests on a raw socket', () => {
  let be: Backendsrv;
  let p: ProxyUnderTest;
  before(async () => {
    be = await startBackend('a');
    p = await startProxy(new TestTable([route('', '/', backend('default/a:80', [endpoint(be.port)]))]), {
      timeouts: { headersMs: 400, requestMs: 2_000 },
    });
  });
  after(async () => {
    await p?.close();
    await be?.close();
  });

  const cases: [string, string, number][] = [
    ['Content-Length with Transfer-Encoding', 'POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
    ['two different Content-Lengths', 'POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!', 400],
    ['two equal Content-Lengths', 'POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello', 400],
    ['two Host headers', 'GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n', 400],
    ['no Host header in HTTP/1.1', 'GET / HTTP/1.1\r\n\r\n', 400],
    ['huge header', `GET / HTTP/1.1\r\nHost: a.test\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
    ['invalid chunk size', 'POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n', 400],
    ['space before colon', 'GET / HTTP/1.1\r\nHost : a.test\r\n\r\n', 400],
    ['bare LF line endings in headers', 'GET / HTTP/1.1\nHost: a.test\nX: \x01\n\n', 400],
    ['garbage request target', 'GET /%zz HTTP/1.1\r\nHost: a.test\r\n\r\n', 400],
    ['bad Host value', 'GET / HTTP/1.1\r\nHost: a b\r\n\r\n', 400],
    ['obsolete line folding', 'GET / HTTP/1.1\r\nHost: a.test\r\nX-A: 1\r\n  folded\r\n\r\n', 400],
  ];
  for (const [name, data, status] of cases) {
    test(`${name} -> ${status} and the connection closed`, async () => {
      const r = await rawExchange(p.port, data);
      assert.ok(r.text.startsWith(`HTTP/1.1 ${status} `), `got: ${JSON.stringify(r.text.slice(0, 200))}`);
      assert.match(r.text, /\r\nconnection: close\r\n/i);
      assert.ok(r.closed, 'connection closed by the proxy');
    });
  }

  test('the refusals are counted', async () => {
    const m = await p.registry.metrics();
    assert.match(m, /gangplank_client_errors_total\{entrypoint="web",code="400"\} \d+/);
    assert.match(m, /gangplank_client_errors_total\{entrypoint="web",code="431"\} 1/);
  });

  test('slow-loris: a client trickling headers is cut off after the headers timeout', async () => {
    const s = connect(p.port, '127.0.0.1');
    let text = '';
    let closed = false;
    s.on('data', (d: Buffer) => (text += d.toString()));
    s.on('error', () => undefined);
    s.on('close', () => (closed = true));
    s.write('GET / HTTP/1.1\r\nHost: a.test\r\n');
    const t0 = Date.now();
    // Keep trickling a header byte now and then: the timeout counts from the first byte, not the last.
    const trickle = setInterval(() => !closed && s.write('X-Slow: a\r\n'), 100);
    try {
      await waitFor('proxy closes the slow connection', () => closed, { timeoutMs: 5_000 });
    } finally {
      clearInterval(trickle);
    }
    assert.ok(Date.now() - t0 < 4_000);
    assert.match(text, /^HTTP\/1.1 408 /);
  });

  test('a well-formed request still works on the same entrypoint', async () => {
    const r = await rawExchange(p.port, 'GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n');
    assert.match(r.text, /^HTTP\/1.1 200 /);
  });
});
