/**
 * The websecure entrypoint built directly (HttpProxy with tls): HTTP/2 settings that bound floods,
 * graceful stop (GOAWAY for HTTP/2, idle HTTP/1.1 connections closed, in-flight requests finish),
 * and the web entrypoint's HTTP-01 responder.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as h2connect, createServer as createH2cServer, sensitiveHeaders, type ClientHttp2Session, type Http2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { Registry } from 'prom-client';
import type { Route } from '../../src/controllers/routes/types.js';
import { createProxyMetrics } from '../../src/proxy/metrics.js';
import { HttpProxy, type TlsCertificates } from '../../src/proxy/proxy.js';
import { silentLogger } from '../../src/runtime/logger.js';
import { buildContext } from '../../src/tls/options.js';
import { newTicketKeys } from '../../src/tls/ticket-keys.js';
import { h2frame } from '../harness/h2frames.js';
import { waitFor } from '../harness/wait.js';
import { backend, endpoint, nodeGet, route, startBackend, startProxy, TestTable, type Backendsrv } from './helpers.js';
import { makeCert, type TestCert } from './tls-helpers.js';

async function startSecure(table: TestTable, cert: TestCert, headersMs?: number): Promise<HttpProxy> {
  const keys = newTicketKeys();
  const ctx = buildContext(cert.cert, cert.key, keys);
  const certs: TlsCertificates = { defaultCert: { certPem: cert.cert, keyPem: cert.key }, sniCallback: (_n, cb) => cb(null, ctx), contextFor: () => ctx };
  const p = new HttpProxy({ entrypoint: 'websecure', bind: '127.0.0.1', port: 0, trustedProxies: [], logger: silentLogger(), metrics: createProxyMetrics(new Registry()), accessLog: null, tls: { certs, ticketKeys: keys }, ...(headersMs ? { timeouts: { headersMs } } : {}) });
  p.setTable(table);
  await p.start();
  return p;
}

function h2session(port: number, cert: TestCert): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = h2connect(`https://127.0.0.1:${port}`, { servername: 'app.test', ca: cert.cert });
    s.once('remoteSettings', () => resolve(s));
    s.once('error', reject);
  });
}

function h2request(s: ClientHttp2Session, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = s.request({ ':path': path, ':authority': 'app.test' });
    let status = 0;
    let body = '';
    req.setEncoding('utf8');
    req.on('response', (h) => (status = Number(h[':status'])));
    req.on('data', (c: string) => (body += c));
    req.on('end', () => resolve({ status, body }));
    req.on('error', reject);
    req.end();
  });
}

describe('websecure entrypoint', () => {
  let cert: TestCert;
  let slow: Backendsrv;
  let table: TestTable;
  let slowArrived = false;

  before(async () => {
    cert = await makeCert(['app.test']);
    slow = await startBackend('slow', (req, res) => {
      if (req.url === '/slow') slowArrived = true;
      const delay = req.url === '/slow' ? 400 : 0;
      setTimeout(() => res.end(`done ${req.url}`), delay);
    });
    table = new TestTable([route('app.test', '/', backend('default/slow:80', [endpoint(slow.port)]))]);
  });
  after(async () => {
    await slow?.close();
  });

  test('HTTP/2 settings bound concurrency and header size', async () => {
    const p = await startSecure(table, cert);
    try {
      const s = await h2session(p.address().port, cert);
      assert.equal(s.remoteSettings.maxConcurrentStreams, 250);
      assert.equal(s.remoteSettings.maxHeaderListSize, 16 * 1024);
      assert.equal(s.remoteSettings.enablePush, false);
      assert.equal((await h2request(s, '/x')).body, 'done /x');
      s.close();
    } finally {
      await p.stop(500);
    }
  });

  test('CONTINUATION flood: endless header continuation frames get the connection closed', async () => {
    const p = await startSecure(table, cert);
    try {
      const sock = tlsConnect({ host: '127.0.0.1', port: p.address().port, servername: 'app.test', ca: cert.cert, ALPNProtocols: ['h2'] });
      await new Promise<void>((resolve, reject) => sock.once('secureConnect', resolve).once('error', reject));
      let closed = false;
      sock.on('close', () => (closed = true));
      sock.on('error', () => undefined);
      sock.on('data', () => undefined);
      const frame = h2frame;
      sock.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
      sock.write(frame(0x4, 0, 0, Buffer.alloc(0))); // SETTINGS
      // HEADERS without END_HEADERS, then CONTINUATION frames that never end the block: each
      // carries a literal header (never indexed) of 1 KiB, far beyond the header list limit.
      // 0x10: literal never indexed, new name; name "x"; value length 1024 (7-bit prefix 127 + 0x81 0x07).
      const literal = Buffer.concat([Buffer.from([0x10, 0x01, 0x78, 0x7f, 0x81, 0x07]), Buffer.alloc(1024, 0x61)]);
      sock.write(frame(0x1, 0, 1, Buffer.concat([Buffer.from([0x82, 0x87, 0x84]), literal])));
      for (let i = 0; i < 5000 && !closed; i++) {
        if (!sock.write(frame(0x9, 0, 1, literal))) await new Promise((r) => sock.once('drain', r).once('close', r));
      }
      await waitFor('the server closes the connection', () => closed, { timeoutMs: 10_000 });
      const honest = await h2session(p.address().port, cert);
      assert.equal((await h2request(honest, '/x')).body, 'done /x');
      honest.close();
    } finally {
      await p.stop(500);
    }
  });

  test('HTTP/2 to an HTTP/1.1 backend: request body streams up, repeated response headers come back', async () => {
    const echo = await startBackend('echo', (req, res) => {
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => {
        res.setHeader('set-cookie', ['a=1', 'b=2']);
        res.end(`got ${n} ${req.headers['x-forwarded-proto']} ${req.headers.host}`);
      });
    });
    const p = await startSecure(new TestTable([route('app.test', '/', backend('default/echo:80', [endpoint(echo.port)]))]), cert);
    try {
      const s = await h2session(p.address().port, cert);
      const res = await new Promise<{ status: number; cookies: unknown; body: string }>((resolve, reject) => {
        const req = s.request({ ':method': 'POST', ':path': '/up', ':authority': 'app.test' });
        let status = 0;
        let cookies: unknown;
        let body = '';
        req.setEncoding('utf8');
        req.on('response', (h) => {
          status = Number(h[':status']);
          cookies = h['set-cookie'];
        });
        req.on('data', (c: string) => (body += c));
        req.on('end', () => resolve({ status, cookies, body }));
        req.on('error', reject);
        req.write(Buffer.alloc(100_000, 1));
        req.end(Buffer.alloc(5, 1));
      });
      assert.equal(res.status, 200);
      assert.equal(res.body, 'got 100005 https app.test');
      assert.deepEqual(res.cookies, ['a=1', 'b=2']);
      s.close();
    } finally {
      await p.stop(500);
      await echo.close();
    }
  });

  test('HTTP/1.1 over TLS keeps the strict parser and client limits', async () => {
    const p = await startSecure(table, cert, 1000);
    const send = (data: string) =>
      new Promise<string>((resolve) => {
        const sock = tlsConnect({ host: '127.0.0.1', port: p.address().port, servername: 'app.test', ca: cert.cert, ALPNProtocols: ['http/1.1'] }, () => sock.write(data));
        let text = '';
        sock.on('data', (c: Buffer) => (text += c.toString()));
        sock.on('error', () => undefined);
        sock.on('close', () => resolve(text.split('\r\n')[0]!));
      });
    try {
      assert.equal(await send('GET / HTTP/1.1\r\n\r\n'), 'HTTP/1.1 400 Bad Request', 'missing Host');
      assert.equal(await send('GET / HTTP/1.1\r\nHost: app.test\r\nHost: b\r\n\r\n'), 'HTTP/1.1 400 Bad Request', 'duplicate Host');
      assert.equal(await send(`GET / HTTP/1.1\r\nHost: app.test\r\nX: ${'a'.repeat(20_000)}\r\n\r\n`), 'HTTP/1.1 431 Request Header Fields Too Large');
      assert.equal(await send('GET / HTTP/1.1\r\nHost: app.test\r\nBad Header: x\r\n\r\n'), 'HTTP/1.1 400 Bad Request', 'invalid header name');
      const t0 = Date.now();
      assert.equal(await send('GET / HTTP/1.1\r\nHost: app.test\r\n'), 'HTTP/1.1 408 Request Timeout', 'slow headers');
      assert.ok(Date.now() - t0 < 4_000);
    } finally {
      await p.stop(500);
    }
  });

  test('stop: HTTP/2 gets GOAWAY and its in-flight request finishes; idle HTTP/1.1 closes at once', async () => {
    const p = await startSecure(table, cert);
    const port = p.address().port;
    const s = await h2session(port, cert);
    let goaway = false;
    s.on('goaway', () => (goaway = true));
    // An idle HTTP/1.1 keep-alive connection over TLS.
    const h1 = tlsConnect({ host: '127.0.0.1', port, servername: 'app.test', ca: cert.cert, ALPNProtocols: ['http/1.1'] });
    await new Promise<void>((r) => h1.once('secureConnect', () => r()));
    h1.write('GET /x HTTP/1.1\r\nHost: app.test\r\n\r\n');
    let h1Text = '';
    h1.on('data', (c: Buffer) => (h1Text += c.toString()));
    await waitFor('the HTTP/1.1 response', () => h1Text.includes('done /x'));
    let h1Closed = false;
    h1.on('close', () => (h1Closed = true));
    const inflight = h2request(s, '/slow');
    await waitFor('the slow request at the backend', () => slowArrived);
    const t0 = Date.now();
    const stopped = p.stop(10_000);
    await waitFor('GOAWAY and the idle HTTP/1.1 connection closed', () => goaway && h1Closed);
    assert.deepEqual(await inflight, { status: 200, body: 'done /slow' });
    await stopped;
    assert.ok(Date.now() - t0 < 5_000, 'stop did not wait for the grace period');
    s.destroy();
  });
});

describe('HTTP-01 responder on the web entrypoint', () => {
  let b: Backendsrv;
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  before(async () => {
    b = await startBackend('app');
    const r: Route = { ...route('app.test', '/', backend('default/app:80', [endpoint(b.port)])), tls: true, sslRedirect: true };
    proxy = await startProxy(new TestTable([r]), { redirectPort: 8443, acmeResponder: (t) => (t === 'tok123' ? 'tok123.thumbprint' : undefined) });
  });
  after(async () => {
    await proxy?.close();
    await b?.close();
  });

  test('a known token is answered with its key authorization, before routing and redirects', async () => {
    const r = await nodeGet(`${proxy.url}/.well-known/acme-challenge/tok123`, { host: 'app.test' });
    assert.equal(r.status, 200);
    assert.equal(r.text, 'tok123.thumbprint');
    assert.match(String(r.headers['content-type']), /^text\/plain/);
    const other = await nodeGet(`${proxy.url}/.well-known/acme-challenge/tok123`, { host: 'unknown.test' });
    assert.equal(other.status, 200, 'answered whatever the host');
  });

  test('an unknown token routes normally (never redirected)', async () => {
    const r = await nodeGet(`${proxy.url}/.well-known/acme-challenge/other`, { host: 'app.test' });
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.text).name, 'app');
    const none = await nodeGet(`${proxy.url}/.well-known/acme-challenge/other`, { host: 'unknown.test' });
    assert.equal(none.status, 404);
  });

  test('other paths of a TLS host redirect to the websecure port; the responder can be removed', async () => {
    const r = await nodeGet(`${proxy.url}/x?y=1`, { host: 'app.test' });
    assert.equal(r.status, 301);
    assert.equal(r.headers.location, 'https://app.test:8443/x?y=1');
    proxy.proxy.setAcmeResponder(undefined);
    const gone = await nodeGet(`${proxy.url}/.well-known/acme-challenge/tok123`, { host: 'app.test' });
    assert.equal(JSON.parse(gone.text).name, 'app');
  });
});

/** One HTTP/2 exchange with full control of the request headers: status, headers, body, trailers. */
function h2exchange(s: ClientHttp2Session, headers: Record<string, string>, body?: string): Promise<{ status: number; headers: Record<string, unknown>; body: string; trailers: Record<string, unknown> | undefined }> {
  return new Promise((resolve, reject) => {
    const req = s.request({ ':authority': 'app.test', ...headers });
    let status = 0;
    let got: Record<string, unknown> = {};
    let trailers: Record<string, unknown> | undefined;
    let text = '';
    req.setEncoding('utf8');
    req.on('response', (h) => {
      status = Number(h[':status']);
      got = h;
    });
    req.on('trailers', (t) => (trailers = t));
    req.on('data', (c: string) => (text += c));
    req.on('end', () => resolve({ status, headers: got, body: text, trailers }));
    req.on('error', reject);
    req.end(body);
  });
}

describe('HTTP/2 on the core stream API', () => {
  let cert: TestCert;
  let echo: Backendsrv;
  let p: HttpProxy;
  let s: ClientHttp2Session;

  before(async () => {
    cert = await makeCert(['app.test']);
    echo = await startBackend('echo', (req, res) => {
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => {
        res.setHeader('content-type', 'text/plain');
        if (req.rawTrailers.length > 0) res.setHeader('x-request-trailers', JSON.stringify(req.rawTrailers));
        if (req.method === 'HEAD') {
          res.end();
          return;
        }
        res.setHeader('trailer', 'x-sum');
        res.write(`${req.method} ${req.url} ${n}`);
        res.addTrailers({ 'x-sum': String(n) });
        res.end();
      });
    });
    p = await startSecure(new TestTable([route('app.test', '/', backend('default/echo:80', [endpoint(echo.port)]))]), cert);
    s = await h2session(p.address().port, cert);
  });
  after(async () => {
    s?.close();
    await p?.stop(500);
    await echo?.close();
  });

  test('trailers reach a client that asked for them (TE: trailers), and only such a client', async () => {
    const asked = await h2exchange(s, { ':method': 'POST', ':path': '/t', te: 'trailers' }, 'abc');
    assert.equal(asked.status, 200);
    assert.equal(asked.body, 'POST /t 3');
    assert.equal(asked.trailers?.['x-sum'], '3');
    const plain = await h2exchange(s, { ':method': 'POST', ':path': '/t' }, 'abcd');
    assert.equal(plain.status, 200);
    assert.equal(plain.body, 'POST /t 4');
    assert.equal(plain.trailers, undefined, 'no trailers for a client that did not ask');
  });

  test('request trailers reach an HTTP/1.1 backend in the last chunk', async () => {
    const got = await new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
      const req = s.request({ ':method': 'POST', ':path': '/rt', ':authority': 'app.test' }, { waitForTrailers: true });
      req.on('wantTrailers', () => req.sendTrailers({ 'x-checksum': 'c1', 'x-two': 'v2' }));
      let status = 0;
      let headers: Record<string, unknown> = {};
      let text = '';
      req.setEncoding('utf8');
      req.on('response', (h) => {
        status = Number(h[':status']);
        headers = h;
      });
      req.on('data', (c: string) => (text += c));
      req.on('end', () => resolve({ status, headers, body: text }));
      req.on('error', reject);
      req.end('abcd');
    });
    assert.equal(got.status, 200);
    assert.equal(got.body, 'POST /rt 4');
    assert.equal(got.headers['x-request-trailers'], JSON.stringify(['x-checksum', 'c1', 'x-two', 'v2']));
    // Without trailers the backend sees none.
    const plain = await h2exchange(s, { ':method': 'POST', ':path': '/rt' }, 'ab');
    assert.equal(plain.headers['x-request-trailers'], undefined);
  });

  test('HEAD gets the head only; an unknown host gets a 404 with a reason; no connection-specific headers leak', async () => {
    const head = await h2exchange(s, { ':method': 'HEAD', ':path': '/h' });
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.equal(head.headers.connection, undefined);
    assert.equal(head.headers['transfer-encoding'], undefined);
    const missing = await h2exchange(s, { ':method': 'GET', ':path': '/x', ':authority': 'other.test' });
    assert.equal(missing.status, 404);
    assert.match(missing.body, /no route for other.test\/x/);
  });

  test('Expect: 100-continue still goes through the compatibility layer and is answered', async () => {
    const r = await h2exchange(s, { ':method': 'POST', ':path': '/e', expect: '100-continue' }, 'xy');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'POST /e 2');
  });
});

describe('HTTP/2 "never indexed" fields (RFC 7541 7.1.3) through an h2c backend', () => {
  let cert: TestCert;
  let h2c: Http2Server;
  let p: HttpProxy;
  let s: ClientHttp2Session;
  /** What the backend received: its fields and the names it got never indexed. */
  const seen: { headers: Record<string, unknown>; never: unknown }[] = [];

  before(async () => {
    cert = await makeCert(['app.test']);
    h2c = createH2cServer();
    h2c.on('stream', (stream, headers) => {
      if (headers[':path'] === '/rt') {
        // The body's length and the request trailers, once the stream has ended.
        let n = 0;
        let trailers: Record<string, unknown> = {};
        stream.on('data', (c: Buffer) => (n += c.length));
        stream.on('trailers', (t) => (trailers = { ...t }));
        stream.on('end', () => {
          stream.respond({ ':status': 200 });
          stream.end(JSON.stringify({ n, trailers }));
        });
        return;
      }
      seen.push({ headers: { ...headers }, never: (headers as Record<symbol, unknown>)[sensitiveHeaders] });
      stream.respond({ ':status': 200, 'x-reply-secret': 'r-1', 'x-reply-plain': 'p-1', [sensitiveHeaders]: ['x-reply-secret'] });
      stream.end('ok');
    });
    await new Promise<void>((r) => h2c.listen(0, '127.0.0.1', r));
    const port = (h2c.address() as AddressInfo).port;
    p = await startSecure(new TestTable([route('app.test', '/', backend('default/grpc:80', [endpoint(port)], { scheme: 'h2c' }))]), cert);
    s = await h2session(p.address().port, cert);
  });
  after(async () => {
    s?.close();
    await p?.stop(500);
    h2c?.close();
  });

  function exchange(headers: Record<string | symbol, unknown>): Promise<{ status: number; headers: Record<string | symbol, unknown> }> {
    return new Promise((resolve, reject) => {
      const req = s.request({ ':path': '/n', ':authority': 'app.test', ...headers } as Record<string, string>);
      let got: Record<string | symbol, unknown> = {};
      req.on('response', (h) => (got = h as Record<string | symbol, unknown>));
      req.on('data', () => undefined);
      req.on('end', () => resolve({ status: Number(got[':status']), headers: got }));
      req.on('error', reject);
      req.end();
    });
  }

  test('a field the client sends never indexed reaches the backend never indexed; the others as they were', async () => {
    seen.length = 0;
    const r = await exchange({ 'x-token': 'secret-1', 'x-plain': 'plain-1', [sensitiveHeaders]: ['x-token'] });
    assert.equal(r.status, 200);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.headers['x-token'], 'secret-1');
    assert.equal(seen[0]!.headers['x-plain'], 'plain-1');
    const never = seen[0]!.never as string[];
    assert.ok(never.includes('x-token'), `the backend got x-token never indexed (${JSON.stringify(never)})`);
    assert.ok(!never.includes('x-plain'), 'x-plain was not marked');
    // Without the mark, nothing of ours is: a control against a check that could not fail.
    seen.length = 0;
    await exchange({ 'x-token': 'secret-2' });
    assert.ok(!((seen[0]!.never as string[] | undefined) ?? []).includes('x-token'));
  });

  test('request trailers of an HTTP/2 client reach an h2c backend in a trailing HEADERS frame', async () => {
    const upload = (trailers: Record<string, string> | undefined) =>
      new Promise<{ n: number; trailers: Record<string, unknown> }>((resolve, reject) => {
        const req = s.request({ ':method': 'POST', ':path': '/rt', ':authority': 'app.test' }, { waitForTrailers: trailers !== undefined });
        if (trailers !== undefined) req.on('wantTrailers', () => req.sendTrailers(trailers));
        let text = '';
        req.setEncoding('utf8');
        req.on('data', (c: string) => (text += c));
        req.on('end', () => resolve(JSON.parse(text) as { n: number; trailers: Record<string, unknown> }));
        req.on('error', reject);
        req.end('abcd');
      });
    const got = await upload({ 'x-checksum': 'c1', 'x-two': 'v2' });
    assert.equal(got.n, 4);
    assert.equal(got.trailers['x-checksum'], 'c1');
    assert.equal(got.trailers['x-two'], 'v2');
    const none = await upload(undefined);
    assert.equal(none.n, 4);
    assert.equal(none.trailers['x-checksum'], undefined);
  });

  test('a field the backend sends never indexed reaches the client never indexed, twice in a row (never from the table)', async () => {
    for (let i = 0; i < 2; i++) {
      const r = await exchange({});
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-reply-secret'], 'r-1');
      assert.equal(r.headers['x-reply-plain'], 'p-1');
      const never = (r.headers[sensitiveHeaders] as string[] | undefined) ?? [];
      assert.ok(never.includes('x-reply-secret'), `round ${i}: the client got x-reply-secret never indexed (${JSON.stringify(never)})`);
      assert.ok(!never.includes('x-reply-plain'), `round ${i}: x-reply-plain was not marked`);
    }
  });
});
