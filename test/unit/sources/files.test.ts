/**
 * The manifests-directory source's periodic rescan: the safety net for changes no watch event
 * reported, on a budget that grows with the number of files; and new directories, listed again
 * once watched so that nothing written into them waits for that net.
 */
import assert from 'node:assert/strict';
import { linkSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Ingress } from '../../../src/api/types.js';
import { FileSource, rescanDelayMs } from '../../../src/sources/files.js';
import { Store } from '../../../src/store/store.js';
import { silentLogger } from '../../../src/runtime/logger.js';
import { waitFor } from '../../harness/wait.js';

test('rescanDelayMs: every 2 s up to 2,000 files, then at most 1,000 files a second', () => {
  const table: [number, number][] = [
    [0, 2000],
    [1, 2000],
    [2000, 2000],
    [2001, 2001],
    [10_000, 10_000],
    [100_000, 100_000],
  ];
  for (const [files, ms] of table) assert.equal(rescanDelayMs(files), ms, `${files} files`);
});

const ingress = (host: string) => `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: default}
spec:
  rules:
  - host: ${host}
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}
`;

const hostOf = (store: Store) => store.list<Ingress>('Ingress')[0]?.object.spec.rules?.[0]?.host;

/** A temporary root with a `manifests` directory; `fn` gets both; removed afterwards. */
async function inRoot(fn: (root: string, watched: string) => Promise<void>): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'gp-files-'));
  try {
    const watched = join(root, 'manifests');
    mkdirSync(watched);
    await fn(root, watched);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** A started FileSource of `watched` into a new store; stopped after `fn`. */
async function withSource(watched: string, fn: (store: Store, source: FileSource) => Promise<void>): Promise<void> {
  const store = new Store();
  const source = new FileSource({ dirs: [watched], store, logger: silentLogger() });
  await source.start();
  try {
    await fn(store, source);
  } finally {
    await source.stop();
  }
}

test('a change no watch event reports (the file written through a hard link elsewhere) is read by the next rescan', () =>
  inRoot(async (root, watched) => {
    const elsewhere = join(root, 'elsewhere');
    mkdirSync(elsewhere);
    writeFileSync(join(watched, 'web.yaml'), ingress('a.test'));
    // The same file under a directory the source does not watch: writes there raise no event for
    // the watched directory.
    linkSync(join(watched, 'web.yaml'), join(elsewhere, 'web.yaml'));
    await withSource(watched, async (store) => {
      assert.equal(hostOf(store), 'a.test');
      await new Promise((r) => setTimeout(r, 50));
      // Same length, so only the content (and mtime) changes; written in place through the link.
      writeFileSync(join(elsewhere, 'web.yaml'), ingress('b.test'), { flag: 'r+' });
      const t0 = Date.now();
      await waitFor('the rescan read the change', () => hostOf(store) === 'b.test', { timeoutMs: 6_000, intervalMs: 20 });
      // Seen by the rescan (every 2 s for a small tree), not by a watch event within milliseconds.
      assert.ok(Date.now() - t0 > 100, `seen after ${Date.now() - t0} ms: a watch event reported it, so this test proves nothing here`);
    });
  }));

test('a directory watched after the first load is listed again once its watcher is on (a file written before the watch is read at once, not at the next rescan)', () =>
  inRoot(async (root, watched) => {
    // The file is already there when the watcher starts, as when it is written between the listing
    // that found its new directory and the watch; outside the roots, so no rescan and no event of
    // the root's watcher can read it: only the listing that follows the new watch.
    const late = join(root, 'late');
    mkdirSync(late);
    writeFileSync(join(late, 'web.yaml'), ingress('late.test'));
    await withSource(watched, async (store, source) => {
      assert.equal(hostOf(store), undefined);
      const watchDirs = Reflect.get(source, 'watchDirs') as (dirs: Set<string>) => void;
      watchDirs.call(source, new Set([watched, late]));
      await waitFor('the new directory listed', () => hostOf(store) === 'late.test', { timeoutMs: 1_000, intervalMs: 10 });
    });
  }));
