/** Black-box: `gangplank run` on a manifests directory, real backends, real clients (undici and curl). */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Readable } from 'node:stream';
import { connect } from 'node:net';
import { request, Agent } from 'undici';
import { startBackend, type Backend } from '../harness/backends.js';
import { startGangplank, tempDir, type Gangplank } from '../harness/gangplank.js';
import { ingress, serviceWithEndpoints, writeManifest } from '../harness/manifests.js';
import { freePort } from '../harness/net.js';

const exec = promisify(execFile);

async function get(g: Gangplank, host: string, path: string, headers: Record<string, string> = {}) {
  const res = await request(g.url(path), { headers: { host, ...headers } });
  const text = await res.body.text();
  let json: { backend?: string; path?: string; headers?: Record<string, string>; bodyBytes?: number } = {};
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.statusCode, text, json, headers: res.headers };
}

describe('routing, errors and forwarding', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let g: Gangplank;
  const backends: Backend[] = [];
  let deadPort = 0;

  before(async () => {
    dir = await tempDir();
    for (const name of ['web', 'api', 'wild', 'fallback']) backends.push(await startBackend(name));
    const slow = await startBackend('slow', (_req, res) => {
      setTimeout(() => res.end('late'), 3000).unref();
    });
    backends.push(slow);
    deadPort = await freePort();
    const [web, api, wild, fallback] = backends;
    await writeManifest(dir.path, 'services.yaml', [
      ...serviceWithEndpoints('web', [web!.port]),
      ...serviceWithEndpoints('api', [api!.port]),
      ...serviceWithEndpoints('wild', [wild!.port]),
      ...serviceWithEndpoints('fallback', [fallback!.port]),
      ...serviceWithEndpoints('slow', [slow.port]),
      ...serviceWithEndpoints('dead', [deadPort]),
      ...serviceWithEndpoints('notready', [web!.port], { ready: [false] }),
    ]);
    await writeManifest(dir.path, 'ingresses.yaml', [
      ingress('main', [
        { host: 'shop.example.com', paths: [['/', 'Prefix', 'web'], ['/api', 'Prefix', 'api'], ['/exact', 'Exact', 'api']] },
        { host: '*.example.com', paths: [['/', 'Prefix', 'wild']] },
        { host: 'err.example.com', paths: [['/missing', 'Prefix', 'nosuchservice'], ['/notready', 'Prefix', 'notready'], ['/dead', 'Prefix', 'dead'], ['/slow', 'Prefix', 'slow']] },
      ]),
      ingress('fallback', [], { defaultBackend: 'fallback' }),
    ]);
    g = await startGangplank(dir.path, ['--upstream-response-timeout', '500ms']);
  });

  after(async () => {
    await g?.stop();
    for (const b of backends) await b.close();
    await dir?.remove();
  });

  test('routes by host and path to the right backend, which receives the normalized path', async () => {
    assert.equal((await get(g, 'shop.example.com', '/')).json.backend, 'web');
    assert.equal((await get(g, 'SHOP.example.com:8080', '/api/orders')).json.backend, 'api');
    assert.equal((await get(g, 'shop.example.com', '/apix')).json.backend, 'web', 'Prefix matches by element');
    assert.equal((await get(g, 'shop.example.com', '/exact')).json.backend, 'api');
    assert.equal((await get(g, 'shop.example.com', '/exact/')).json.backend, 'web', 'Exact does not match a trailing slash');
    assert.equal((await get(g, 'x.example.com', '/')).json.backend, 'wild');
    assert.equal((await get(g, 'a.b.example.com', '/')).json.backend, 'fallback', 'wildcard covers one label only');
    const norm = await get(g, 'shop.example.com', '/web/../api/%61bc?q=1');
    assert.equal(norm.json.backend, 'api');
    assert.equal(norm.json.path, '/api/abc?q=1');
  });

  test('answers from the default backend when no rule matches', async () => {
    const r = await get(g, 'unknown.org', '/anything');
    assert.equal(r.status, 200);
    assert.equal(r.json.backend, 'fallback');
  });

  test('503 with the reason for a missing service and for no ready endpoints', async () => {
    const missing = await get(g, 'err.example.com', '/missing');
    assert.equal(missing.status, 503);
    assert.match(missing.text, /nosuchservice/);
    const notready = await get(g, 'err.example.com', '/notready');
    assert.equal(notready.status, 503);
    assert.match(notready.text, /no ready endpoints/i);
  });

  test('502 when the backend refuses connections, 504 when it times out', async () => {
    assert.equal((await get(g, 'err.example.com', '/dead')).status, 502);
    const t0 = Date.now();
    assert.equal((await get(g, 'err.example.com', '/slow')).status, 504);
    assert.ok(Date.now() - t0 < 2500, 'the response timeout applies');
  });

  test('forwarding headers are set by gangplank; an untrusted X-Forwarded-For is replaced', async () => {
    // curl sends the Connection header as given (undici's client would rewrite it).
    const { stdout } = await exec('curl', ['-sS', '-H', `Host: shop.example.com:${g.httpPort}`, '-H', 'X-Forwarded-For: 203.0.113.9', '-H', 'X-Real-IP: 203.0.113.9', '-H', 'Connection: keep-alive, x-drop-me', '-H', 'X-Drop-Me: 1', g.url('/')]);
    const h = (JSON.parse(stdout) as { headers: Record<string, string> }).headers;
    assert.equal(h['x-forwarded-for'], '127.0.0.1');
    assert.equal(h['x-real-ip'], '127.0.0.1');
    assert.equal(h['x-forwarded-proto'], 'http');
    assert.equal(h['x-forwarded-host'], `shop.example.com:${g.httpPort}`);
    assert.equal(h['x-forwarded-port'], String(g.httpPort));
    assert.equal(h.host, `shop.example.com:${g.httpPort}`, 'Host is passed through');
    assert.equal(h['x-drop-me'], undefined, 'headers named in Connection are removed');
  });

  test('malformed and hostile requests on a raw socket: 400/431 and the connection closed; the next client is served', async () => {
    const raw = (payload: string) =>
      new Promise<string>((resolve, reject) => {
        const sock = connect(g.httpPort, '127.0.0.1', () => sock.end(payload));
        let text = '';
        sock.on('data', (d) => (text += d.toString('latin1')));
        sock.on('close', () => resolve(text));
        sock.on('error', reject);
        sock.setTimeout(5000, () => sock.destroy(new Error('no answer')));
      });
    const cases: [string, string, RegExp][] = [
      ['Content-Length with Transfer-Encoding', 'POST /api HTTP/1.1\r\nHost: shop.example.com\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', /^HTTP\/1\.1 400 /],
      ['two different Content-Lengths', 'POST /api HTTP/1.1\r\nHost: shop.example.com\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcd', /^HTTP\/1\.1 400 /],
      ['two Host headers', 'GET / HTTP/1.1\r\nHost: shop.example.com\r\nHost: evil.example\r\n\r\n', /^HTTP\/1\.1 400 /],
      ['a header larger than the limit', `GET / HTTP/1.1\r\nHost: shop.example.com\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, /^HTTP\/1\.1 431 /],
      ['garbage', 'HELLO THERE\r\n\r\n', /^HTTP\/1\.1 400 /],
    ];
    for (const [name, payload, want] of cases) {
      const answer = await raw(payload);
      assert.match(answer, want, name);
      assert.match(answer, /connection: close/i, `${name}: the connection is closed`);
    }
    assert.equal((await get(g, 'shop.example.com', '/')).json.backend, 'web');
  });

  test('curl sees the same routing', async () => {
    const { stdout } = await exec('curl', ['-sS', '-H', 'Host: shop.example.com', g.url('/api/x')]);
    assert.equal(JSON.parse(stdout).backend, 'api');
    const code = await exec('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'Host: err.example.com', g.url('/missing')]);
    assert.equal(code.stdout, '503');
  });

  test('keep-alive: many requests reuse one upstream connection', async () => {
    const api = backends[1]!;
    const before = api.connections();
    const agent = new Agent({ connections: 1 });
    for (let i = 0; i < 30; i++) {
      const res = await request(g.url('/api/k'), { headers: { host: 'shop.example.com' }, dispatcher: agent });
      await res.body.text();
    }
    await agent.close();
    assert.ok(api.connections() - before <= 1, `backend saw ${api.connections() - before} new connections`);
  });

  test('large bodies stream both ways', async () => {
    const size = 32 * 1024 * 1024;
    const chunk = Buffer.alloc(1024 * 1024, 120);
    async function* body() {
      for (let i = 0; i < size / chunk.length; i++) yield chunk;
    }
    const res = await request(g.url('/api/upload'), { method: 'POST', headers: { host: 'shop.example.com' }, body: Readable.from(body()) });
    const json = (await res.body.json()) as { bodyBytes: number };
    assert.equal(res.statusCode, 200);
    assert.equal(json.bodyBytes, size);
  });

  test('admin: /healthz, /readyz, /metrics and /api/routes describe the routes', async () => {
    assert.equal((await fetch(`http://127.0.0.1:${g.adminPort}/healthz`)).status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${g.adminPort}/readyz`)).status, 200);
    await get(g, 'shop.example.com', '/api/m');
    const metrics = await (await fetch(`http://127.0.0.1:${g.adminPort}/metrics`)).text();
    assert.match(metrics, /gangplank_requests_total\{[^}]*route="shop\.example\.com\|Prefix\|\/api"[^}]*\} \d+/);
    assert.match(metrics, /gangplank_request_duration_seconds_bucket/);
    assert.match(metrics, /gangplank_config_reloads_total\{result="success"\} \d+/);
    const routes = await g.admin<{ routes: { host: string; path: string; state: string; error: string | null; endpoints: { ready: boolean }[] }[] }>('/api/routes');
    const missing = routes.routes.find((r) => r.path === '/missing')!;
    assert.equal(missing.state, 'backend-missing');
    assert.match(missing.error!, /nosuchservice not found/);
    const notready = routes.routes.find((r) => r.path === '/notready')!;
    assert.equal(notready.state, 'no-ready-endpoints');
    assert.deepEqual(notready.endpoints.map((e) => e.ready), [false]);
  });
});
