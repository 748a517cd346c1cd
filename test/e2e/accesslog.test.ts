/** Black-box: the access log on stdout of `gangplank run`, and a stdout whose reader goes away. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { startBackend, type Backend } from '../harness/backends.js';
import { startGangplank, tempDir, type Gangplank } from '../harness/gangplank.js';
import { ingress, serviceWithEndpoints, writeManifest } from '../harness/manifests.js';
import { waitFor } from '../harness/wait.js';

describe('access log', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let be: Backend;
  let g: Gangplank;

  before(async () => {
    dir = await tempDir();
    be = await startBackend('web');
    await writeManifest(dir.path, 'services.yaml', serviceWithEndpoints('web', [be.port]));
    await writeManifest(dir.path, 'ingresses.yaml', [ingress('web', [{ host: 'log.example.com', paths: [['/', 'Prefix', 'web']] }])]);
    g = await startGangplank(dir.path, ['--access-log', 'true']);
  });
  after(async () => {
    await g?.stop();
    await be?.close();
    await dir?.remove();
  });

  const get = async (path: string) => {
    const res = await request(g.url(path), { headers: { host: 'log.example.com' } });
    await res.body.text();
    return res.statusCode;
  };

  test("a request is a JSON line on stdout; when stdout's reader goes away the proxy serves on, without the log", async () => {
    let stdout = '';
    g.proc.child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    assert.equal(await get('/first?x=1'), 200);
    await waitFor('the access log line', () => stdout.includes('"path":"/first?x=1"'));
    const line = JSON.parse(stdout.split('\n').find((l) => l.includes('/first?x=1'))!) as Record<string, unknown>;
    assert.equal(line.host, 'log.example.com');
    assert.equal(line.status, 200);
    assert.equal(line.upstream, `http://127.0.0.1:${be.port}`);

    // The reader of gangplank's stdout goes away: its next writes fail with EPIPE.
    g.proc.child.stdout!.destroy();
    for (let i = 0; i < 20; i++) {
      assert.equal(await get(`/after-${i}`), 200, `request ${i} after stdout closed`);
      await new Promise((r) => setTimeout(r, 10));
    }
    await waitFor('the warning on stderr', () => g.proc.output().includes('access log: stdout failed'));
    assert.equal(g.proc.child.exitCode, null, 'gangplank still runs');
    assert.equal(await get('/last'), 200);
    const metrics = await (await fetch(`http://127.0.0.1:${g.adminPort}/metrics`)).text();
    const m = /^gangplank_access_log_dropped_lines_total (\d+)/m.exec(metrics);
    assert.ok(m && Number(m[1]) > 0, `dropped lines counted:\n${metrics.split('\n').filter((l) => l.includes('access_log')).join('\n')}`);
  });
});
