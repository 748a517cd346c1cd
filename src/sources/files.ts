/**
 * The manifests-directory source: reads YAML/JSON files recursively, keeps the store in step with
 * them, and watches for changes (added, changed, deleted files take effect within a second).
 */
import { statSync, watch, type FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve, relative, sep } from 'node:path';
import type { Logger } from '../runtime/logger.js';
import type { Component } from '../runtime/lifecycle.js';
import type { Store } from '../store/store.js';
import { parseManifest } from './parse.js';

const EXTENSIONS = ['.yaml', '.yml', '.json'];
/** Editors write a file in several steps; a short pause coalesces them without delaying the change. */
const DEBOUNCE_MS = 5;
/** A safety net for missed watch events (editors that rename, network file systems). */
const RESCAN_MS = 2000;
/**
 * The rescan's budget: at most this many files looked at per second on average, so that a large
 * manifests tree does not keep the process busy (it shares its event loop with the proxy in
 * embedded mode): up to 2,000 files every 2 s, 10,000 files every 10 s.
 */
const RESCAN_FILES_PER_S = 1000;
/** Files stat'ed per turn of the event loop during a rescan (a fraction of a millisecond each turn). */
const STAT_CHUNK = 100;

/** How long after a rescan of `files` files the next one starts. */
export function rescanDelayMs(files: number): number {
  return Math.max(RESCAN_MS, Math.ceil((files / RESCAN_FILES_PER_S) * 1000));
}

export interface FileSourceOptions {
  dirs: string[];
  store: Store;
  logger: Logger;
  /** Source ids are prefixed so that several sources can coexist in one store. */
  prefix?: string;
}

export class FileSource implements Component {
  private readonly dirs: string[];
  /** One non-recursive watcher per directory: Node's recursive watch on Linux loses files replaced by rename. */
  private readonly watchers = new Map<string, FSWatcher>();
  private readonly mtimes = new Map<string, number>();
  private readonly dirty = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private rescanTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;
  /** The first full load is done (see watchDirs). */
  private loaded = false;
  /** Called after each batch of file changes reached the store (used for reload metrics). */
  onSync?: (info: { files: number; ok: boolean }) => void;

  constructor(private readonly opts: FileSourceOptions) {
    this.dirs = opts.dirs.map((d) => resolve(d));
  }

  /** Loads everything once, then watches. Resolves when the first full load is in the store. */
  async start(): Promise<void> {
    for (const dir of this.dirs) {
      const st = await stat(dir).catch(() => undefined);
      if (!st?.isDirectory()) throw new Error(`manifests directory ${dir} does not exist or is not a directory`);
    }
    await this.scanAll();
    this.loaded = true;
    this.scheduleRescan();
  }

  /** The next rescan, after a delay that grows with the number of files (see rescanDelayMs). */
  private scheduleRescan(): void {
    if (this.stopped) return;
    this.rescanTimer = setTimeout(() => this.enqueue(() => this.scanAll().finally(() => this.scheduleRescan())), rescanDelayMs(this.mtimes.size));
    this.rescanTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    clearTimeout(this.timer);
    clearTimeout(this.rescanTimer);
    await this.running;
  }

  private markDirty(path: string): void {
    this.dirty.add(path);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      const paths = [...this.dirty];
      this.dirty.clear();
      this.enqueue(() => this.syncPaths(paths));
    }, DEBOUNCE_MS);
  }

  private enqueue(fn: () => Promise<void>): void {
    this.running = this.running.then(() => (this.stopped ? undefined : fn())).catch((err: Error) => this.opts.logger.error({ err: err.message }, 'manifest sync failed'));
  }

  private sourceId(file: string): string {
    return (this.opts.prefix ?? '') + file;
  }

  /**
   * Keeps one watcher on every directory below the roots (new ones added, vanished ones closed).
   * A directory seen after the first load is listed again once its watcher is on: a file written
   * into it between the listing that found the directory and the watch would otherwise wait for
   * the next rescan (a new directory and its first file usually arrive together).
   */
  private watchDirs(dirs: Set<string>): void {
    if (this.stopped) return;
    for (const [d, w] of this.watchers) {
      if (!dirs.has(d)) {
        w.close();
        this.watchers.delete(d);
      }
    }
    for (const d of dirs) {
      if (this.watchers.has(d)) continue;
      try {
        const w = watch(d, (_event, name) => this.markDirty(name ? join(d, name.toString()) : d));
        w.on('error', () => {
          w.close();
          this.watchers.delete(d);
        });
        this.watchers.set(d, w);
        if (this.loaded) this.markDirty(d);
      } catch (err) {
        this.opts.logger.warn({ dir: d, err: (err as Error).message }, 'cannot watch a manifests directory; changes there are seen by the periodic rescan');
      }
    }
  }

  private async scanAll(): Promise<void> {
    const found = new Set<string>();
    const dirs = new Set<string>();
    for (const dir of this.dirs) for (const f of await listFiles(dir, dirs)) found.add(f);
    this.watchDirs(dirs);
    // stat in small synchronous chunks, one chunk per turn of the event loop: an await per file
    // (a thread-pool round trip and a promise each) made a rescan of 10,000 files cost 18% of a
    // core every 2 s.
    const changed: string[] = [];
    let n = 0;
    for (const f of found) {
      if (++n % STAT_CHUNK === 0) await new Promise<void>((r) => setImmediate(r));
      if (this.stopped) return;
      let mtime: number;
      try {
        mtime = statSync(f).mtimeMs;
      } catch {
        continue; // gone since the listing: the next scan sees it missing
      }
      if (this.mtimes.get(f) !== mtime) changed.push(f);
    }
    for (const f of this.mtimes.keys()) if (!found.has(f)) changed.push(f);
    if (changed.length) await this.syncPaths(changed);
  }

  private async syncPaths(paths: string[]): Promise<void> {
    const files = new Set<string>();
    for (const p of paths) {
      const st = await stat(p).catch(() => undefined);
      if (st?.isDirectory()) {
        const sub = new Set<string>();
        for (const f of await listFiles(p, sub)) files.add(f);
        this.watchDirs(new Set([...this.watchers.keys(), ...sub]));
        // Files under a directory that vanished or was renamed away.
        for (const f of this.mtimes.keys()) if (f.startsWith(p + sep)) files.add(f);
      } else if (isManifest(p)) files.add(p);
      else if (!st) for (const f of this.mtimes.keys()) if (f.startsWith(p + sep)) files.add(f);
    }
    let ok = true;
    for (const f of files) ok = (await this.syncFile(f)) && ok;
    this.opts.store.flush();
    if (files.size) this.onSync?.({ files: files.size, ok });
  }

  /** Reads one file into the store; a vanished file removes its objects. Returns false when it had errors. */
  private async syncFile(file: string): Promise<boolean> {
    const { store, logger } = this.opts;
    const st = await stat(file).catch(() => undefined);
    let text: string | undefined;
    if (st?.isFile()) text = await readFile(file, 'utf8').catch(() => undefined);
    if (text === undefined) {
      if (this.mtimes.delete(file)) {
        store.replaceSource(this.sourceId(file), []);
        logger.info({ file: this.display(file) }, 'manifest file removed');
      }
      return true;
    }
    this.mtimes.set(file, st!.mtimeMs);
    const parsed = parseManifest(file, text);
    for (const ig of parsed.ignored) logger.debug({ file: this.display(file), doc: ig.doc, kind: ig.kind, apiVersion: ig.apiVersion }, 'ignoring a kind gangplank does not read');
    for (const r of parsed.rejected)
      logger.warn({ file: this.display(file), doc: r.origin.doc, kind: r.kind, name: r.name, errors: r.errors.map((e) => `${e.path}: ${e.message}`) }, 'invalid object rejected');
    store.replaceSource(this.sourceId(file), parsed.objects, parsed.rejected);
    return parsed.rejected.length === 0;
  }

  private display(file: string): string {
    for (const d of this.dirs) if (file.startsWith(d + sep)) return relative(d, file) || file;
    return file;
  }
}

function isManifest(p: string): boolean {
  const base = p.split(sep).pop() ?? '';
  return !base.startsWith('.') && EXTENSIONS.some((e) => p.endsWith(e));
}

async function listFiles(dir: string, dirs?: Set<string>): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => undefined);
  if (!entries) return out;
  dirs?.add(dir);
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(p, dirs)));
    else if (e.isFile() && isManifest(p)) out.push(p);
  }
  return out.sort();
}
