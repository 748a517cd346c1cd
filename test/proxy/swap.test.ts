import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'undici';
import { waitFor } from '../harness/wait.js';
import { backend, endpoint, route, startBackend, startProxy, TestTable, type Backendsrv } from './helpers.js';

function connectionsOf(s: Backendsrv): Promise<number> {
  return new Promise((resolve, reject) => s.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
}

describe('route table swaps', () => {
  let a: Backendsrv;
  let b: Backendsrv;
  let slow: Backendsrv;
  let release: (() => void) | undefined;
  const agent = new Agent({ connections: 64 });

  before(async () => {
    a = await startBackend('a', (_req, res) => res.end('a'));
    b = await startBackend('b', (_req, res) => res.end('b'));
    slow = await startBackend('slow', (_req, res) => {
      release = () => res.end('slow-done');
    });
  });
  after(async () => {
    await agent.close();
    for (const s of [a, b, slow]) await s?.close();
  });

  test('swapping tables under continuous load fails no request', async () => {
    const tA = new TestTable([route('', '/', backend('default/svc:80', [endpoint(a.port)]))]);
    const tB = new TestTable([route('', '/', backend('default/svc:80', [endpoint(b.port)]))]);
    const tAB = new TestTable([route('', '/', backend('default/svc:80', [endpoint(a.port), endpoint(b.port)]))]);
    const p = await startProxy(tA);
    try {
      let stop = false;
      let ok = 0;
      const failures: string[] = [];
      const seen = new Set<string>();
      const worker = async () => {
        while (!stop) {
          try {
            const r = await request(`${p.url}/`, { headers: { host: 'x.test' }, dispatcher: agent });
            const t = await r.body.text();
            if (r.statusCode === 200) {
              ok++;
              seen.add(t);
            } else failures.push(`${r.statusCode} ${t}`);
          } catch (err) {
            failures.push(String(err));
          }
        }
      };
      const workers = Array.from({ length: 32 }, worker);
      const tables = [tB, tAB, tA];
      for (let i = 0; i < 60; i++) {
        p.proxy.setTable(tables[i % 3]!);
        await waitFor('some requests on this table', () => ok > i * 20, { intervalMs: 5 });
      }
      stop = true;
      await Promise.all(workers);
      assert.deepEqual(failures, []);
      assert.ok(ok > 1000, `only ${ok} requests`);
      assert.deepEqual([...seen].sort(), ['a', 'b']);
    } finally {
      await p.close();
    }
  });

  test('an in-flight request finishes on the table it started with; unreferenced pools are closed later', async () => {
    const old = new TestTable([route('', '/', backend('default/slow:80', [endpoint(slow.port)]))]);
    const next = new TestTable([route('', '/', backend('default/a:80', [endpoint(a.port)]))]);
    const p = await startProxy(old, { poolRetireMs: 300 });
    try {
      release = undefined;
      const pending = request(`${p.url}/`, { headers: { host: 'x.test' }, dispatcher: agent });
      await waitFor('slow backend got the request', () => release !== undefined);
      p.proxy.setTable(next);
      const fresh = await request(`${p.url}/`, { headers: { host: 'x.test' }, dispatcher: agent });
      assert.equal(await fresh.body.text(), 'a');
      release!();
      const r = await pending;
      assert.equal(r.statusCode, 200);
      assert.equal(await r.body.text(), 'slow-done');
      // The slow backend is in no table now: its keep-alive connection is closed after the grace period.
      assert.equal(await connectionsOf(slow), 1);
      await waitFor('pool of the removed endpoint closed', async () => (await connectionsOf(slow)) === 0, { timeoutMs: 5_000 });
    } finally {
      await p.close();
    }
  });
});
