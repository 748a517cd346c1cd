import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Agent, Pool, request } from 'undici';
import { requireBinary } from '../harness/proc.js';
import { waitFor } from '../harness/wait.js';
import { backend, deadPort, endpoint, nodeGet, parseRawResponse, rawExchange, route, startBackend, startProxy, TestTable, type Backendsrv } from './helpers.js';

const run = promisify(execFile);

interface Echo {
  name: string;
  url: string;
  headers: Record<string, string>;
  rawHeaders: string[];
  body: string;
  remotePort: number;
}

describe('proxy routing and upstream behaviour', () => {
  const backends: Backendsrv[] = [];
  const closers: (() => Promise<void>)[] = [];
  const agent = new Agent({ keepAliveTimeout: 10_000 });
  let a: Backendsrv;
  let b: Backendsrv;
  let slow: Backendsrv;

  before(async () => {
    a = await startBackend('a');
    b = await startBackend('b');
    slow = await startBackend('slow', (req, res) => {
      const t = setTimeout(() => res.end('late'), 3_000);
      res.on('close', () => clearTimeout(t));
    });
    backends.push(a, b, slow);
  });
  after(async () => {
    for (const c of closers) await c();
    await agent.close();
    for (const s of backends) await s.close();
  });

  async function get(url: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' | 'POST' = 'GET') {
    const r = await request(url, { method, headers, dispatcher: agent });
    const text = await r.body.text();
    return { status: r.statusCode, headers: r.headers, text };
  }

  test('routes by host and path prefix; unknown host is 404; missing service and no endpoints are 503', async () => {
    const table = new TestTable([
      route('a.test', '/', backend('default/a:80', [endpoint(a.port)])),
      route('a.test', '/api', backend('default/b:80', [endpoint(b.port)])),
      route('gone.test', '/', backend('default/gone:80', [], { error: 'service default/gone not found' })),
      route('empty.test', '/', backend('default/empty:80', [])),
    ]);
    const p = await startProxy(table);
    closers.push(p.close);
    const r1 = await get(`${p.url}/x`, { host: 'A.test.:8080' });
    assert.equal(r1.status, 200);
    assert.equal((JSON.parse(r1.text) as Echo).name, 'a');
    const r2 = await get(`${p.url}/api/v1?q=1&r=%2F`, { host: 'a.test' });
    const e2 = JSON.parse(r2.text) as Echo;
    assert.equal(e2.name, 'b');
    assert.equal(e2.url, '/api/v1?q=1&r=%2F');
    assert.equal((JSON.parse((await get(`${p.url}/apix`, { host: 'a.test' })).text) as Echo).name, 'a');
    const r404 = await get(`${p.url}/`, { host: 'other.test' });
    assert.equal(r404.status, 404);
    const r503 = await get(`${p.url}/`, { host: 'gone.test' });
    assert.equal(r503.status, 503);
    assert.match(r503.text, /service default\/gone not found/);
    const r503b = await get(`${p.url}/`, { host: 'empty.test' });
    assert.equal(r503b.status, 503);
    assert.match(r503b.text, /no ready endpoints for default\/empty:80/);
    const metrics = await p.registry.metrics();
    assert.match(metrics, /gangplank_requests_total\{entrypoint="web",route="a.test\|Prefix\|\/api",code="200",method="GET"\} 1/);
    assert.match(metrics, /gangplank_requests_total\{entrypoint="web",route="",code="404",method="GET"\} 1/);
  });

  test('a host with one route to one endpoint: what the proxy remembers of it follows table swaps, metric resets and entrypoint limits', async () => {
    const p = await startProxy(new TestTable([
      route('root.test', '/', backend('default/a:80', [endpoint(a.port)])),
      { ...route('secure-only.test', '/', backend('default/a:80', [endpoint(a.port)])), entrypoints: ['websecure'] },
    ]));
    closers.push(p.close);
    const name = async (host: string) => {
      const r = await get(`${p.url}/x`, { host });
      return r.status === 200 ? (JSON.parse(r.text) as Echo).name : r.status;
    };
    const count = async () => Number(/gangplank_requests_total\{entrypoint="web",route="root.test\|Prefix\|\/",code="200",method="GET"\} (\d+)/.exec(await p.registry.metrics())?.[1] ?? 0);
    for (let i = 0; i < 3; i++) assert.equal(await name('root.test'), 'a');
    // Every request of a route another entrypoint owns is refused, the first and the ones after it.
    for (let i = 0; i < 3; i++) assert.equal(await name('secure-only.test'), 404);
    assert.equal(await count(), 3);
    p.registry.resetMetrics();
    for (let i = 0; i < 2; i++) assert.equal(await name('root.test'), 'a');
    assert.equal(await count(), 2, 'counted in the rows made after the reset');
    // A new table with another backend for the host: the next request goes there.
    p.proxy.setTable(new TestTable([route('root.test', '/', backend('default/b:80', [endpoint(b.port)]))]));
    assert.equal(await name('root.test'), 'b');
    assert.equal(await name('secure-only.test'), 404);
    // A table without the host: 404, then back again.
    p.proxy.setTable(new TestTable([route('other.test', '/', backend('default/a:80', [endpoint(a.port)]))]));
    assert.equal(await name('root.test'), 404);
    p.proxy.setTable(new TestTable([route('root.test', '/', backend('default/a:80', [endpoint(a.port)]))]));
    assert.equal(await name('root.test'), 'a');
    assert.equal(await count(), 4, 'every request counted once through the table swaps');
    await p.proxy.stop();
    assert.equal(await count(), 4, 'and nothing more when the entrypoint stops');
  });

  test('the backend receives the normalized path, so dot segments cannot escape a route', async () => {
    const table = new TestTable([
      route('n.test', '/public', backend('default/a:80', [endpoint(a.port)])),
      route('n.test', '/admin', backend('default/b:80', [endpoint(b.port)])),
    ]);
    const p = await startProxy(table);
    closers.push(p.close);
    for (const [target, name, url] of [
      ['/public/../admin/x', 'b', '/admin/x'],
      ['/public/%2e%2e/admin/x', 'b', '/admin/x'],
      ['/public/%2E./admin', 'b', '/admin'],
      ['/admin/..%2Fpublic', 'b', '/admin/..%2Fpublic'],
      ['/public/%41?x=/../', 'a', '/public/A?x=/../'],
    ] as const) {
      const r = parseRawResponse(await rawGet(p.port, target, 'n.test'));
      assert.equal(r.status, 200, target);
      const e = JSON.parse(r.body) as Echo;
      assert.equal(e.name, name, target);
      assert.equal(e.url, url, target);
    }
    const bad = await rawGet(p.port, '/public/%zz', 'n.test');
    assert.match(bad, /^HTTP\/1.1 400/);
    const abs = parseRawResponse(await rawGet(p.port, 'http://N.test/admin/../public/y', 'ignored.test'));
    assert.equal(abs.status, 200);
    const absEcho = JSON.parse(abs.body) as Echo;
    assert.equal(absEcho.url, '/public/y');
    assert.equal(absEcho.headers.host, 'N.test', 'absolute-form authority replaces the Host header');
  });

  test('forwarding headers: untrusted peers get theirs replaced, trusted peers appended', async () => {
    const table = new TestTable([route('', '/', backend('default/a:80', [endpoint(a.port)]))]);
    const untrusted = await startProxy(table, { trustedProxies: ['10.0.0.0/8'] });
    const trusted = await startProxy(table, { trustedProxies: ['127.0.0.0/8', '::1/128'] });
    closers.push(untrusted.close, trusted.close);
    const spoof = { host: 'app.test', 'x-forwarded-for': '1.2.3.4', 'x-forwarded-proto': 'https', 'x-real-ip': '1.2.3.4', 'x-forwarded-host': 'evil.test', connection: 'x-secret', 'x-secret': 'hop', 'keep-alive': 'timeout=5', 'proxy-authorization': 'Basic xx' };
    const u = JSON.parse((await nodeGet(`${untrusted.url}/`, spoof)).text) as Echo;
    assert.equal(u.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(u.headers['x-real-ip'], '127.0.0.1');
    assert.equal(u.headers['x-forwarded-proto'], 'http');
    assert.equal(u.headers['x-forwarded-host'], 'app.test');
    assert.equal(u.headers['x-forwarded-port'], String(untrusted.port));
    assert.equal(u.headers.host, 'app.test');
    assert.equal(u.headers['x-secret'], undefined, 'headers named in Connection are removed');
    assert.equal(u.headers['proxy-authorization'], undefined);
    const t = JSON.parse((await nodeGet(`${trusted.url}/`, spoof)).text) as Echo;
    assert.equal(t.headers['x-forwarded-for'], '1.2.3.4, 127.0.0.1');
    assert.equal(t.headers['x-forwarded-proto'], 'https');
    assert.equal(t.headers['x-real-ip'], '1.2.3.4');
    assert.equal(t.headers['x-forwarded-host'], 'evil.test');
  });

  test('forwarding headers on one keep-alive connection follow each request (host, TE, a trusted peer\'s own values)', async () => {
    const table = new TestTable([route('', '/', backend('default/a:80', [endpoint(a.port)]))]);
    const trusted = await startProxy(table, { trustedProxies: ['127.0.0.0/8', '::1/128'] });
    closers.push(trusted.close);
    const one = new Pool(trusted.url, { connections: 1, pipelining: 1 });
    closers.push(() => one.close());
    const cases: [Record<string, string>, Record<string, string | undefined>][] = [
      [{ host: 'a.test' }, { host: 'a.test', 'x-forwarded-host': 'a.test', 'x-forwarded-for': '127.0.0.1', te: undefined }],
      [{ host: 'b.test', te: 'trailers' }, { host: 'b.test', 'x-forwarded-host': 'b.test', 'x-forwarded-for': '127.0.0.1', te: 'trailers' }],
      [{ host: 'b.test', 'x-forwarded-for': '9.9.9.9', 'x-forwarded-host': 'c.test' }, { host: 'b.test', 'x-forwarded-host': 'c.test', 'x-forwarded-for': '9.9.9.9, 127.0.0.1', te: undefined }],
      [{ host: 'b.test' }, { host: 'b.test', 'x-forwarded-host': 'b.test', 'x-forwarded-for': '127.0.0.1', te: undefined }],
      [{ host: 'a.test', te: 'trailers' }, { host: 'a.test', 'x-forwarded-host': 'a.test', 'x-forwarded-for': '127.0.0.1', te: 'trailers' }],
      [{ host: 'b.test', te: 'trailers' }, { host: 'b.test', 'x-forwarded-host': 'b.test', 'x-forwarded-for': '127.0.0.1', te: 'trailers' }],
    ];
    const ports = new Set<number>();
    for (const [i, [sent, want]] of cases.entries()) {
      const r = await request(`${trusted.url}/`, { headers: sent, dispatcher: one });
      const e = JSON.parse(await r.body.text()) as Echo;
      ports.add(e.remotePort);
      for (const [k, v] of Object.entries(want)) assert.equal(e.headers[k], v, `request ${i + 1}: ${k}`);
    }
    assert.equal(ports.size, 1, 'one connection to the backend as well');
  });

  test('passHostHeader false sends the endpoint address as Host', async () => {
    const table = new TestTable([route('', '/', backend('default/a:80', [endpoint(a.port)], { passHostHeader: false }))]);
    const p = await startProxy(table);
    closers.push(p.close);
    const e = JSON.parse((await get(`${p.url}/`, { host: 'app.test' })).text) as Echo;
    assert.equal(e.headers.host, `127.0.0.1:${a.port}`);
  });

  test('keep-alive: many requests reach the backend over one connection', async () => {
    const solo = await startBackend('solo');
    backends.push(solo);
    const p = await startProxy(new TestTable([route('', '/', backend('default/solo:80', [endpoint(solo.port)]))]));
    closers.push(p.close);
    for (let i = 0; i < 50; i++) assert.equal((await get(`${p.url}/${i}`, { host: 'x.test' })).status, 200);
    assert.equal(solo.connections.length, 1);
  });

  test('502 when the backend is down, 504 when it is slower than the response-header timeout', async () => {
    const dp = await deadPort();
    const table = new TestTable([
      route('down.test', '/', backend('default/down:80', [endpoint(dp)])),
      route('slow.test', '/', backend('default/slow:80', [endpoint(slow.port)])),
    ]);
    const p = await startProxy(table, { timeouts: { responseHeaderMs: 300 } });
    closers.push(p.close);
    const r502 = await get(`${p.url}/`, { host: 'down.test' });
    assert.equal(r502.status, 502);
    assert.match(r502.text, /default\/down:80/);
    const t0 = Date.now();
    const r504 = await get(`${p.url}/`, { host: 'slow.test' });
    assert.equal(r504.status, 504);
    assert.ok(Date.now() - t0 < 2_500, 'answered at the timeout, not when the backend finally replied');
    const m = await p.registry.metrics();
    assert.match(m, /gangplank_upstream_errors_total\{entrypoint="web",kind="connect"\} 1/);
    assert.match(m, /gangplank_upstream_errors_total\{entrypoint="web",kind="timeout"\} 1/);
  });

  test('an idempotent request retries on another endpoint when one refuses; the refusing one is then skipped', async () => {
    const dp = await deadPort();
    const table = new TestTable([route('', '/', backend('default/mix:80', [endpoint(dp), endpoint(a.port), endpoint(b.port)]))]);
    const p = await startProxy(table);
    closers.push(p.close);
    const seen: string[] = [];
    for (let i = 0; i < 9; i++) {
      const r = await get(`${p.url}/`, { host: 'x.test' });
      assert.equal(r.status, 200, `request ${i}`);
      seen.push((JSON.parse(r.text) as Echo).name);
    }
    assert.ok(seen.includes('a') && seen.includes('b'), seen.join(','));
    const m = await p.registry.metrics();
    // One refused connection: afterwards the dead endpoint is skipped (passive health).
    assert.match(m, /gangplank_upstream_errors_total\{entrypoint="web",kind="connect"\} 1\n/);
    // POST with a body is not retried.
    const tablePost = new TestTable([route('', '/', backend('default/deadonly:80', [endpoint(dp)]))]);
    p.proxy.setTable(tablePost);
    const rp = await request(`${p.url}/`, { method: 'POST', body: 'x', headers: { host: 'x.test' }, dispatcher: agent });
    await rp.body.text();
    assert.equal(rp.statusCode, 502);
  });

  test('passive health: a refusing endpoint is skipped for unhealthyMs, then tried again', async () => {
    const dp = await deadPort();
    const p = await startProxy(new TestTable([route('', '/', backend('default/ph:80', [endpoint(dp), endpoint(a.port)]))]), { unhealthyMs: 400 });
    closers.push(p.close);
    const refusals = async () => Number(/gangplank_upstream_errors_total\{entrypoint="web",kind="connect"\} (\d+)/.exec(await p.registry.metrics())?.[1] ?? 0);
    for (let i = 0; i < 10; i++) assert.equal((await get(`${p.url}/`, { host: 'x.test' })).status, 200);
    assert.equal(await refusals(), 1, 'the dead endpoint was tried once, then skipped');
    // Once the mark expires the endpoint is tried again (and refused again, and retried elsewhere).
    await waitFor('dead endpoint tried again after unhealthyMs', async () => {
      assert.equal((await get(`${p.url}/`, { host: 'x.test' })).status, 200);
      return (await refusals()) === 2;
    });
  });

  test('a request whose reused connection is reset before any response byte is retried; a POST is not', async () => {
    // Resets its first connection when a second request arrives on it (a stale keep-alive connection).
    let first: object | undefined;
    let resets = 0;
    const flaky = await startBackend('flaky', (req, res) => {
      if (first === undefined) first = req.socket;
      else if (first === req.socket) {
        resets++;
        req.socket.destroy();
        return;
      }
      req.resume();
      req.on('end', () => res.end('fine'));
    });
    backends.push(flaky);
    const p = await startProxy(new TestTable([route('', '/', backend('default/flaky:80', [endpoint(flaky.port)]))]));
    closers.push(p.close);
    for (let i = 0; i < 4; i++) {
      const r = await get(`${p.url}/`, { host: 'x.test' });
      assert.equal(r.status, 200, `GET ${i}`);
      assert.equal(r.text, 'fine');
    }
    assert.equal(resets, 1);
    assert.match(await p.registry.metrics(), /kind="reset"\} 1/);
    // The same stale connection under a POST with a body: not retried, the client sees 502.
    first = undefined;
    await get(`${p.url}/`, { host: 'x.test' });
    const post = await request(`${p.url}/`, { method: 'POST', body: 'data', headers: { host: 'x.test' }, dispatcher: agent });
    const postText = await post.body.text();
    const post2 = await request(`${p.url}/`, { method: 'POST', body: 'data', headers: { host: 'x.test' }, dispatcher: agent });
    await post2.body.text();
    assert.ok([post.statusCode, post2.statusCode].includes(502), `POSTs: ${post.statusCode} ${postText}, ${post2.statusCode}`);
  });

  test('sticky cookie pins a client to its endpoint and falls back when that endpoint goes away', async () => {
    const sticky = { name: 'gp_sticky', secure: false, httpOnly: true };
    const both = new TestTable([route('', '/', backend('default/st:80', [endpoint(a.port), endpoint(b.port)]), sticky)]);
    const p = await startProxy(both);
    closers.push(p.close);
    const first = await get(`${p.url}/`, { host: 's.test' });
    const cookie = String(first.headers['set-cookie']).split(';')[0]!;
    assert.match(cookie, /^gp_sticky=[0-9a-f]{16}$/);
    assert.ok(!cookie.includes(String(a.port)) && !cookie.includes('127.0.0.1'), 'cookie does not reveal the address');
    const pinned = (JSON.parse(first.text) as Echo).name;
    for (let i = 0; i < 6; i++) {
      const r = await get(`${p.url}/`, { host: 's.test', cookie });
      assert.equal((JSON.parse(r.text) as Echo).name, pinned);
      assert.equal(r.headers['set-cookie'], undefined);
    }
    const other = pinned === 'a' ? b : a;
    p.proxy.setTable(new TestTable([route('', '/', backend('default/st:80', [endpoint(other.port)]), sticky)]));
    const moved = await get(`${p.url}/`, { host: 's.test', cookie });
    assert.equal((JSON.parse(moved.text) as Echo).name, pinned === 'a' ? 'b' : 'a');
    assert.match(String(moved.headers['set-cookie']), /^gp_sticky=[0-9a-f]{16}; Path=\/; HttpOnly$/);
  });

  test('curl as a client: GET, HEAD and a 404', async () => {
    const curl = requireBinary('/usr/bin/curl', 'apt-get install curl');
    const p = await startProxy(new TestTable([route('c.test', '/', backend('default/a:80', [endpoint(a.port)]))]));
    closers.push(p.close);
    const { stdout } = await run(curl, ['-sS', '-H', 'Host: c.test', '-w', '\n%{http_code}', `${p.url}/hello`]);
    assert.match(stdout, /"url":"\/hello"/);
    assert.match(stdout, /\n200$/);
    const head = await run(curl, ['-sS', '-I', '-H', 'Host: c.test', `${p.url}/hello`]);
    assert.match(head.stdout, /^HTTP\/1.1 200/);
    assert.match(head.stdout, /x-backend: a/i);
    const nf = await run(curl, ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'Host: nope.test', `${p.url}/`]);
    assert.equal(nf.stdout, '404');
  });
});

async function rawGet(port: number, target: string, host: string): Promise<string> {
  const r = await rawExchange(port, `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  return r.text;
}
