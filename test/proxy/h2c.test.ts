/** h2c backends (serversscheme: h2c): requests from HTTP/1.1 clients over one shared HTTP/2 session; failures map to 502. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Http2Server, type ServerHttp2Session } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { requestTrailers } from '../../src/proxy/h2exchange.js';
import { waitFor } from '../harness/wait.js';
import { backend, deadPort, endpoint, nodeGet, openRequest, route, startProxy, TestTable } from './helpers.js';

describe('h2c upstreams', () => {
  let server: Http2Server;
  let port = 0;
  let sessions = 0;
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  let dead = 0;
  /** What the backend saw of each /early request's stream: its trailers when it ended, 'close' when it closed. */
  const earlyEnded: string[] = [];

  before(async () => {
    server = createServer((req, res) => {
      if (req.url === '/early') {
        // Answers at once; tells the test when the request's own end arrives.
        req.resume();
        req.on('end', () => earlyEnded.push(JSON.stringify(req.trailers)));
        req.on('close', () => earlyEnded.push('close'));
        res.end('early');
        return;
      }
      if (req.url === '/upload') {
        // What arrived: the body's length and the request's trailers.
        let n = 0;
        req.on('data', (c: Buffer) => (n += c.length));
        req.on('end', () => res.end(JSON.stringify({ n, trailers: req.trailers })));
        return;
      }
      res.setHeader('x-proto', req.httpVersion);
      res.end(`h2c ${req.method} ${req.url} authority=${req.headers[':authority']} xfp=${req.headers['x-forwarded-proto']}`);
    });
    server.on('session', (_s: ServerHttp2Session) => sessions++);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
    dead = await deadPort();
    proxy = await startProxy(
      new TestTable([
        route('app.test', '/', backend('default/grpc:80', [endpoint(port)], { scheme: 'h2c' })),
        route('dead.test', '/', backend('default/dead:80', [endpoint(dead)], { scheme: 'h2c' })),
      ]),
    );
  });
  after(async () => {
    await proxy?.close();
    server?.close();
  });

  test('HTTP/1.1 requests reach an h2c backend over one session, Host as :authority', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await nodeGet(`${proxy.url}/p${i}?q=1`, { host: 'app.test' });
      assert.equal(r.status, 200);
      assert.equal(r.text, `h2c GET /p${i}?q=1 authority=app.test xfp=http`);
      assert.equal(r.headers['x-proto'], '2.0');
    }
    assert.equal(sessions, 1, 'one multiplexed session');
  });

  const upload = async (trailers: [string, string][] | undefined) => {
    const { req, response } = openRequest(`${proxy.url}/upload`, { method: 'POST', headers: { host: 'app.test', ...(trailers ? { trailer: 'x-checksum' } : {}) } });
    req.write('abc');
    if (trailers) req.addTrailers(trailers);
    req.end('de');
    const r = await response;
    return { status: r.status, body: JSON.parse(r.text) as { n: number; trailers: Record<string, string> } };
  };

  test('request trailers of a chunked upload reach an h2c backend, without those that would reframe or reroute it', async () => {
    const got = await upload([['X-Checksum', 'c1'], ['Host', 'evil.test'], ['Content-Type', 'text/x'], ['Proxy-Authorization', 'Basic eA=='], ['x-two', 'v2'], ['X-Two', 'v3']]);
    assert.equal(got.status, 200);
    assert.deepEqual(got.body, { n: 5, trailers: { 'x-checksum': 'c1', 'x-two': 'v2, v3' } });
    // A body without trailers ends its stream all the same (an empty DATA frame with END_STREAM).
    const none = await upload(undefined);
    assert.equal(none.status, 200);
    assert.deepEqual(none.body, { n: 5, trailers: {} });
  });

  test('a request body still going when the h2c backend has answered: the stream is cancelled at the backend, not left open', async () => {
    earlyEnded.length = 0;
    const { req: r, response } = openRequest(`${proxy.url}/early`, { method: 'POST', headers: { host: 'app.test' } });
    r.write('abc');
    assert.equal((await response).text, 'early');
    r.end('de');
    await waitFor('the backend stream closed', () => earlyEnded.includes('close'));
  });

  test('requestTrailers: lower-case names, hop-by-hop and framing fields dropped, repeats joined', () => {
    assert.deepEqual(requestTrailers(undefined), {});
    assert.deepEqual(requestTrailers(['TE', 'trailers', 'Connection', 'x', 'Trailer', 'a', 'content-type', 'text/plain', 'Grpc-Status', '0', 'a', '1', 'A', '2']), { 'grpc-status': '0', a: '1, 2' });
  });

  test('an h2c backend that refuses connections answers 502', async () => {
    const r = await nodeGet(`${proxy.url}/`, { host: 'dead.test' });
    assert.equal(r.status, 502);
    assert.match(r.text, /backend default\/dead:80 failed \(connect: ECONNREFUSED\)/);
  });
});
