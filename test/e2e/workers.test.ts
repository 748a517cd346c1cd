/** Black-box: worker processes share the sockets, get every change, are restarted when they die; SIGTERM drains. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { request, Agent } from 'undici';
import { startBackend, type Backend } from '../harness/backends.js';
import { startGangplank, tempDir, type Gangplank } from '../harness/gangplank.js';
import { ingress, serviceWithEndpoints, writeManifest } from '../harness/manifests.js';
import { waitFor } from '../harness/wait.js';

function childPids(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

async function fresh(g: Gangplank, host: string, path = '/'): Promise<{ status: number; backend?: string }> {
  // A new connection each time, so the kernel spreads them over the workers.
  const res = await request(g.url(path), { headers: { host, connection: 'close' }, reset: true });
  const text = await res.body.text();
  return { status: res.statusCode, backend: res.statusCode === 200 ? (JSON.parse(text) as { backend: string }).backend : undefined };
}

async function requestsTotal(g: Gangplank): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${g.adminPort}/metrics`)).text();
  let sum = 0;
  for (const m of text.matchAll(/^gangplank_requests_total\{[^}]*\} (\d+)/gm)) sum += Number(m[1]);
  return sum;
}

describe('--workers 2', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let g: Gangplank;
  let a: Backend;
  let b: Backend;

  before(async () => {
    dir = await tempDir();
    a = await startBackend('a');
    b = await startBackend('b');
    await writeManifest(dir.path, 'svc.yaml', [...serviceWithEndpoints('a', [a.port]), ...serviceWithEndpoints('b', [b.port])]);
    await writeManifest(dir.path, 'ing.yaml', [ingress('w', [{ host: 'w.test', paths: [['/', 'Prefix', 'a']] }])]);
    g = await startGangplank(dir.path, ['--workers', '2', '--access-log', 'false']);
  });
  after(async () => {
    await g?.stop();
    await a?.close();
    await b?.close();
    await dir?.remove();
  });

  test('two worker processes serve, and every change reaches both', async () => {
    await waitFor('two workers', () => childPids(g.proc.child.pid!).length === 2);
    for (let i = 0; i < 20; i++) assert.equal((await fresh(g, 'w.test')).backend, 'a');
    await writeManifest(dir.path, 'ing.yaml', [ingress('w', [{ host: 'w.test', paths: [['/', 'Prefix', 'b']] }])]);
    await waitFor('b routed', async () => (await fresh(g, 'w.test')).backend === 'b', { timeoutMs: 2000 });
    // Both workers have the new table: 40 fresh connections all land on b.
    const seen = new Set<string | undefined>();
    for (let i = 0; i < 40; i++) seen.add((await fresh(g, 'w.test')).backend);
    assert.deepEqual([...seen], ['b']);
  });

  test('metrics are aggregated over the workers', async () => {
    const before = await requestsTotal(g);
    for (let i = 0; i < 30; i++) await fresh(g, 'w.test');
    await waitFor('30 more requests counted', async () => (await requestsTotal(g)) - before === 30, { timeoutMs: 3000 });
  });

  test('a dead worker is restarted and traffic goes on', async () => {
    const pids = childPids(g.proc.child.pid!);
    assert.equal(pids.length, 2);
    process.kill(pids[0]!, 'SIGKILL');
    await waitFor('replacement worker', () => {
      const now = childPids(g.proc.child.pid!);
      return now.length === 2 && !now.includes(pids[0]!);
    }, { timeoutMs: 10_000 });
    await waitFor('ready again', async () => (await fetch(`http://127.0.0.1:${g.adminPort}/readyz`)).status === 200);
    for (let i = 0; i < 20; i++) assert.equal((await fresh(g, 'w.test')).status, 200);
  });
});

for (const workers of ['1', '2']) {
  test(`SIGTERM under load with --workers ${workers}: in-flight requests finish, exit 0`, async () => {
    const dir = await tempDir();
    const slow = await startBackend('slow', (req, res) => {
      setTimeout(() => res.end('done'), 700);
    });
    try {
      await writeManifest(dir.path, 'all.yaml', [...serviceWithEndpoints('slow', [slow.port]), ingress('s', [{ host: 's.test', paths: [['/', 'Prefix', 'slow']] }])]);
      const g = await startGangplank(dir.path, ['--workers', workers, '--grace-period', '5s']);
      const agent = new Agent({ connections: 20 });
      const inflight = Array.from({ length: 20 }, () =>
        request(g.url('/'), { headers: { host: 's.test' }, dispatcher: agent }).then(async (r) => ({ status: r.statusCode, body: await r.body.text() })),
      );
      await waitFor('requests reached the backend', () => slow.connections() > 0);
      await new Promise((r) => setTimeout(r, 100));
      const code = g.stop();
      const results = await Promise.all(inflight);
      assert.deepEqual(results.map((r) => `${r.status} ${r.body}`), Array(20).fill('200 done'));
      assert.equal(await code, 0);
      await agent.close();
    } finally {
      await slow.close();
      await dir.remove();
    }
  });
}
