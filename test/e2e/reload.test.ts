/** Black-box: live reload of the manifests directory, invalid objects, and zero failed requests across reloads. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request, Agent } from 'undici';
import { startBackend, type Backend } from '../harness/backends.js';
import { startGangplank, tempDir, type Gangplank } from '../harness/gangplank.js';
import { ingress, serviceWithEndpoints, serviceWithPorts, writeManifest } from '../harness/manifests.js';
import { waitFor } from '../harness/wait.js';

async function backendOf(g: Gangplank, host: string, path = '/'): Promise<string | number> {
  const res = await request(g.url(path), { headers: { host } });
  const text = await res.body.text();
  if (res.statusCode !== 200) return res.statusCode;
  return (JSON.parse(text) as { backend: string }).backend;
}

interface ObjectsView {
  objects: { kind: string; namespace?: string; name: string; source: string; document?: number }[];
  rejected: { kind: string | null; name: string | null; source: string; document?: number; error: string; errors: { path: string; message: string }[] }[];
}

describe('live reload and invalid objects', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let g: Gangplank;
  let a: Backend;
  let b: Backend;

  before(async () => {
    dir = await tempDir();
    a = await startBackend('a');
    b = await startBackend('b');
    await writeManifest(dir.path, 'svc.yaml', [...serviceWithEndpoints('a', [a.port]), ...serviceWithEndpoints('b', [b.port])]);
    await writeManifest(dir.path, 'one.yaml', [ingress('one', [{ host: 'one.test', paths: [['/', 'Prefix', 'a']] }])]);
    g = await startGangplank(dir.path);
  });
  after(async () => {
    await g?.stop();
    await a?.close();
    await b?.close();
    await dir?.remove();
  });

  test('an added, changed and deleted file takes effect within one second', async () => {
    assert.equal(await backendOf(g, 'one.test'), 'a');
    assert.equal(await backendOf(g, 'two.test'), 404);
    let t0 = Date.now();
    await writeManifest(dir.path, 'nested/two.yaml', [ingress('two', [{ host: 'two.test', paths: [['/', 'Prefix', 'b']] }])]);
    await waitFor('two.test routed', async () => (await backendOf(g, 'two.test')) === 'b', { timeoutMs: 1000, intervalMs: 20 });
    assert.ok(Date.now() - t0 <= 1000);
    t0 = Date.now();
    await writeManifest(dir.path, 'one.yaml', [ingress('one', [{ host: 'one.test', paths: [['/', 'Prefix', 'b']] }])]);
    await waitFor('one.test moved to b', async () => (await backendOf(g, 'one.test')) === 'b', { timeoutMs: 1000, intervalMs: 20 });
    t0 = Date.now();
    await rm(join(dir.path, 'nested/two.yaml'));
    await waitFor('two.test gone', async () => (await backendOf(g, 'two.test')) === 404, { timeoutMs: 1000, intervalMs: 20 });
    assert.ok(Date.now() - t0 <= 1000);
  });

  test('repeated atomic replacements of one file (write + rename, as editors do) each take effect', async () => {
    for (let i = 0; i < 5; i++) {
      const target = i % 2 === 0 ? 'a' : 'b';
      const t0 = Date.now();
      await writeManifest(dir.path, 'swap.yaml', [ingress('swap', [{ host: 'swap.test', paths: [['/', 'Prefix', target]] }])]);
      await waitFor(`swap.test -> ${target}`, async () => (await backendOf(g, 'swap.test')) === target, { timeoutMs: 1000, intervalMs: 10 });
      assert.ok(Date.now() - t0 < 1000);
    }
  });

  test('an invalid object is rejected alone with file, document and field path; fixing the file clears it', async () => {
    const bad = [
      ingress('good', [{ host: 'good.test', paths: [['/', 'Prefix', 'a']] }]),
      ingress('nopath', [{ host: 'bad1.test', paths: [['no-slash', 'Prefix', 'a']] }]),
      ingress('badtype', [{ host: 'bad2.test', paths: [['/', 'Regex', 'a']] }]),
    ];
    const file = await writeManifest(dir.path, 'mixed.yaml', bad);
    await writeFile(join(dir.path, 'broken.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: x\n');
    await waitFor('good.test routed', async () => (await backendOf(g, 'good.test')) === 'a', { timeoutMs: 2000 });
    const view = await waitFor('rejections listed', async () => {
      const v = await g.admin<ObjectsView>('/api/objects');
      return v.rejected.length >= 3 ? v : undefined;
    });
    const r1 = view.rejected.find((r) => r.name === 'nopath')!;
    assert.equal(r1.source, file);
    assert.equal(r1.document, 1);
    assert.equal(r1.errors[0]!.path, 'spec.rules[0].http.paths[0].path');
    assert.match(r1.errors[0]!.message, /must start with "\/"/);
    const r2 = view.rejected.find((r) => r.name === 'badtype')!;
    assert.equal(r2.document, 2);
    assert.equal(r2.errors[0]!.path, 'spec.rules[0].http.paths[0].pathType');
    const r3 = view.rejected.find((r) => r.source.endsWith('broken.yaml'))!;
    assert.match(r3.error, /invalid YAML/);
    assert.ok(view.objects.some((o) => o.name === 'good' && o.source === file && o.document === 0));
    // Everything else keeps working.
    assert.equal(await backendOf(g, 'one.test'), 'b');
    const metrics = await (await fetch(`http://127.0.0.1:${g.adminPort}/metrics`)).text();
    assert.match(metrics, /gangplank_invalid_objects 3/);
    // Fixing the files clears the errors.
    await writeManifest(dir.path, 'mixed.yaml', [bad[0]!, ingress('nopath', [{ host: 'bad1.test', paths: [['/ok', 'Prefix', 'a']] }])]);
    await rm(join(dir.path, 'broken.yaml'));
    await waitFor('errors cleared', async () => (await g.admin<ObjectsView>('/api/objects')).rejected.length === 0, { timeoutMs: 2000 });
    assert.equal(await backendOf(g, 'bad1.test', '/ok'), 'a');
  });
});

describe('zero failed requests across reloads under load', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let g: Gangplank;
  const backends: Backend[] = [];

  before(async () => {
    dir = await tempDir();
    for (const n of ['x1', 'x2', 'x3']) backends.push(await startBackend(n));
    await writeManifest(dir.path, 'svc.yaml', serviceWithPorts('pool', [backends[0]!.port, backends[1]!.port]));
    await writeManifest(dir.path, 'ing.yaml', [ingress('load', [{ host: 'load.test', paths: [['/', 'Prefix', 'pool']] }])]);
    g = await startGangplank(dir.path, ['--access-log', 'false', '--log-level', 'info']);
  });
  after(async () => {
    await g?.stop();
    for (const b of backends) await b.close();
    await dir?.remove();
  });

  test('continuous requests while Ingresses and EndpointSlices change', async () => {
    const agent = new Agent({ connections: 16 });
    let ok = 0;
    const failures: string[] = [];
    let running = true;
    const worker = async () => {
      while (running) {
        try {
          const res = await request(g.url('/r'), { headers: { host: 'load.test' }, dispatcher: agent });
          await res.body.text();
          if (res.statusCode === 200) ok++;
          else failures.push(`status ${res.statusCode}`);
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    const [p1, p2, p3] = backends.map((b) => b.port) as [number, number, number];
    // Endpoint sets always keep at least one live endpoint; Ingress edits keep the route.
    const steps: [string, object[]][] = [
      ['svc.yaml', serviceWithPorts('pool', [p2, p3])],
      ['ing.yaml', [ingress('load', [{ host: 'load.test', paths: [['/', 'Prefix', 'pool'], ['/other', 'Exact', 'pool']] }])]],
      ['svc.yaml', serviceWithPorts('pool', [p3])],
      ['extra.yaml', [ingress('extra', [{ host: 'extra.test', paths: [['/', 'Prefix', 'pool']] }])]],
      ['svc.yaml', serviceWithPorts('pool', [p1, p2, p3])],
      ['ing.yaml', [ingress('load', [{ host: 'load.test', paths: [['/', 'Prefix', 'pool']] }])]],
      ['svc.yaml', serviceWithPorts('pool', [p1])],
    ];
    for (let round = 0; round < 3; round++) {
      for (const [file, docs] of steps) {
        await writeManifest(dir.path, file, docs);
        const before = ok;
        await waitFor('requests flowing after a change', () => ok > before + 20, { timeoutMs: 5000, intervalMs: 10 });
      }
    }
    running = false;
    await Promise.all(workers);
    await agent.close();
    const reloads = await (await fetch(`http://127.0.0.1:${g.adminPort}/metrics`)).text();
    assert.match(reloads, /gangplank_config_reloads_total\{result="success"\} (\d+)/);
    assert.ok(ok > 500, `only ${ok} requests completed`);
    assert.deepEqual(failures.slice(0, 5), [], `${failures.length} of ${ok + failures.length} requests failed`);
  });
});
