/** The wrk Lua script really spreads requests over the host list and reports p99.9 (real wrk). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireBinary } from '../../../bench/lib/procs.js';
import { runWrk } from '../../../bench/lib/wrk.js';

test('wrk with a host list: every host is requested, the summary parses', async (t) => {
  requireBinary('wrk', 'apt-get install -y wrk');
  const seen = new Map<string, number>();
  const server = createServer((req, res) => {
    const h = req.headers.host ?? '';
    seen.set(h, (seen.get(h) ?? 0) + 1);
    res.end(h === 'missing.test' ? 'x' : 'ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const dir = await mkdtemp(join(tmpdir(), 'bench-wrk-test-'));
  t.after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await rm(dir, { recursive: true, force: true });
  });
  const hosts = Array.from({ length: 20 }, (_, i) => `h${i}.bench.test`);
  const port = (server.address() as AddressInfo).port;
  const r = await runWrk({ url: `http://127.0.0.1:${port}/small`, connections: 4, durationS: 1, hosts, cpus: '0-1', workDir: dir });
  assert.ok(r.requests > 100, `only ${r.requests} requests`);
  assert.equal(r.errors, 0);
  assert.ok(r.p999Ms >= r.p99Ms && r.p99Ms >= r.p50Ms);
  assert.deepEqual([...seen.keys()].sort(), [...hosts].sort());
});
