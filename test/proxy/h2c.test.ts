/** h2c backends (serversscheme: h2c): requests from HTTP/1.1 clients over one shared HTTP/2 session; failures map to 502. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Http2Server, type ServerHttp2Session } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { backend, deadPort, endpoint, nodeGet, route, startProxy, TestTable } from './helpers.js';

describe('h2c upstreams', () => {
  let server: Http2Server;
  let port = 0;
  let sessions = 0;
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  let dead = 0;

  before(async () => {
    server = createServer((req, res) => {
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

  test('an h2c backend that refuses connections answers 502', async () => {
    const r = await nodeGet(`${proxy.url}/`, { host: 'dead.test' });
    assert.equal(r.status, 502);
    assert.match(r.text, /backend default\/dead:80 failed \(connect: ECONNREFUSED\)/);
  });
});
