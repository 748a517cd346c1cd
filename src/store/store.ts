/**
 * The store: the one shared, in-memory, indexed cache of every object gangplank knows, fed by
 * sources (manifest files, the Kubernetes API, gangplank's own state dir). Controllers read it and
 * subscribe to batched change notifications.
 *
 * A source owns a set of entries and replaces them as a whole (`replaceSource`, for a file) or one
 * at a time (`upsert` / `remove`, for a watch). When two sources define the same object, the one
 * that defined it first keeps it and the other is recorded as rejected: nothing is silently lost.
 */
import { keyOf, objectKey, type ObjectKey, type TypedObject } from '../api/meta.js';
import type { FieldError } from '../api/validate.js';
import { SetMap } from './setmap.js';

export interface Origin {
  /** The source's id: a file path, `kube`, `state`, ... */
  source: string;
  /** The document index within a file, when the source is a file. */
  doc?: number;
}

export interface Entry<T extends TypedObject = TypedObject> {
  key: ObjectKey;
  object: T;
  origin: Origin;
  /** Increases on every change to this key; lets consumers cache derived data. */
  revision: number;
}

/** A document that could not be turned into an object. */
export interface Rejection {
  origin: Origin;
  kind?: string;
  namespace?: string;
  name?: string;
  errors: FieldError[];
}

export type ChangeType = 'added' | 'modified' | 'deleted';

export interface Change {
  type: ChangeType;
  key: ObjectKey;
  kind: string;
  old?: Entry;
  new?: Entry;
}

export type Listener = (changes: readonly Change[]) => void;

export type IndexFn = (o: TypedObject) => readonly string[];

interface Index {
  kind: string;
  fn: IndexFn;
  map: SetMap<ObjectKey>;
}

export class Store {
  private readonly entries = new Map<ObjectKey, Entry>();
  private readonly byKind = new Map<string, Map<ObjectKey, Entry>>();
  /** Every candidate for a key, in arrival order; the first one is live, the others are duplicates. */
  private readonly candidates = new Map<ObjectKey, { object: TypedObject; origin: Origin }[]>();
  private readonly sourceKeys = new Map<string, Set<ObjectKey>>();
  private readonly rejections = new Map<string, Rejection[]>();
  private readonly indexes = new Map<string, Index>();
  private readonly listeners = new Set<Listener>();
  private pending: Change[] = [];
  private flushScheduled = false;
  private revision = 0;

  /** Registers a secondary index (e.g. EndpointSlices by Service). Must be called before objects arrive. */
  addIndex(name: string, kind: string, fn: IndexFn): void {
    const idx: Index = { kind, fn, map: new SetMap() };
    this.indexes.set(name, idx);
    for (const e of this.list(kind)) this.indexAdd(idx, e);
  }

  get<T extends TypedObject>(key: ObjectKey): Entry<T> | undefined {
    return this.entries.get(key) as Entry<T> | undefined;
  }

  getObject<T extends TypedObject>(kind: string, namespace: string | undefined, name: string): T | undefined {
    return this.entries.get(objectKey(kind, namespace, name))?.object as T | undefined;
  }

  list<T extends TypedObject>(kind: string, namespace?: string): Entry<T>[] {
    const m = this.byKind.get(kind);
    if (!m) return [];
    const all = [...m.values()] as Entry<T>[];
    return namespace === undefined ? all : all.filter((e) => e.object.metadata.namespace === namespace);
  }

  objects<T extends TypedObject>(kind: string, namespace?: string): T[] {
    return this.list<T>(kind, namespace).map((e) => e.object);
  }

  byIndex<T extends TypedObject>(name: string, value: string): Entry<T>[] {
    const idx = this.indexes.get(name);
    if (!idx) throw new Error(`store: no index named ${name}`);
    const out: Entry<T>[] = [];
    for (const k of idx.map.get(value)) {
      const e = this.entries.get(k);
      if (e) out.push(e as Entry<T>);
    }
    return out;
  }

  size(): number {
    return this.entries.size;
  }

  allEntries(): IterableIterator<Entry> {
    return this.entries.values();
  }

  /** Rejected documents of every source, plus duplicates that lost to an earlier definition. */
  rejected(): Rejection[] {
    const out: Rejection[] = [];
    for (const list of this.rejections.values()) out.push(...list);
    for (const [key, cands] of this.candidates) {
      if (cands.length < 2) continue;
      const winner = cands[0]!;
      for (const c of cands.slice(1)) {
        out.push({
          origin: c.origin,
          kind: c.object.kind,
          namespace: c.object.metadata.namespace,
          name: c.object.metadata.name,
          errors: [{ path: 'metadata.name', message: `duplicate of ${key} already defined by ${describeOrigin(winner.origin)}; this definition is ignored` }],
        });
      }
    }
    return out;
  }

  /** How many rejected() would list, without building the list (for a gauge, after every sync). */
  rejectedCount(): number {
    let n = 0;
    for (const list of this.rejections.values()) n += list.length;
    for (const cands of this.candidates.values()) if (cands.length > 1) n += cands.length - 1;
    return n;
  }

  /** All candidates (live or duplicate) defined by one source, for diagnostics. */
  sourceOf(key: ObjectKey): Origin | undefined {
    return this.entries.get(key)?.origin;
  }

  subscribe(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /** Replaces everything a source defined (a file was read again) in one step. */
  replaceSource(source: string, objects: readonly { object: TypedObject; doc?: number }[], rejected: readonly Rejection[] = []): void {
    const before = this.sourceKeys.get(source) ?? new Set<ObjectKey>();
    const after = new Set<ObjectKey>();
    for (const { object, doc } of objects) {
      const key = keyOf(object);
      if (after.has(key)) {
        rejected = [...rejected, { origin: { source, doc }, kind: object.kind, namespace: object.metadata.namespace, name: object.metadata.name, errors: [{ path: 'metadata.name', message: `duplicate of ${key} earlier in the same file; this definition is ignored` }] }];
        continue;
      }
      after.add(key);
      this.setCandidate(key, object, { source, doc });
    }
    for (const key of before) if (!after.has(key)) this.dropCandidate(key, source);
    if (after.size) this.sourceKeys.set(source, after);
    else this.sourceKeys.delete(source);
    if (rejected.length) this.rejections.set(source, [...rejected]);
    else this.rejections.delete(source);
    this.scheduleFlush();
  }

  /** Adds or replaces one object of a source (a watch event). */
  upsert(source: string, object: TypedObject): void {
    const key = keyOf(object);
    let keys = this.sourceKeys.get(source);
    if (!keys) this.sourceKeys.set(source, (keys = new Set()));
    keys.add(key);
    this.setCandidate(key, object, { source });
    this.scheduleFlush();
  }

  /** Removes one object of a source. */
  remove(source: string, key: ObjectKey): void {
    this.sourceKeys.get(source)?.delete(key);
    this.dropCandidate(key, source);
    this.scheduleFlush();
  }

  /** Records rejections of a source that is not file-based (e.g. one invalid watched object). */
  setRejected(source: string, id: string, rejection: Rejection | undefined): void {
    const k = `${source}#${id}`;
    if (rejection) this.rejections.set(k, [rejection]);
    else this.rejections.delete(k);
  }

  /** Keys a source currently defines. */
  keysOf(source: string): ReadonlySet<ObjectKey> {
    return this.sourceKeys.get(source) ?? new Set();
  }

  /** Delivers pending changes now instead of at the end of the current tick. */
  flush(): void {
    this.flushScheduled = false;
    if (!this.pending.length) return;
    const changes = coalesce(this.pending);
    this.pending = [];
    if (!changes.length) return;
    for (const l of this.listeners) l(changes);
  }

  private setCandidate(key: ObjectKey, object: TypedObject, origin: Origin): void {
    const cand = { object, origin };
    const cands = this.candidates.get(key);
    // Made with its one candidate (nearly every key has one): an array grown by push from empty
    // keeps room for 17.
    if (!cands) this.candidates.set(key, [cand]);
    else {
      const i = cands.findIndex((c) => c.origin.source === origin.source);
      if (i >= 0) cands[i] = cand;
      else cands.push(cand);
    }
    this.setLive(key, cands?.[0] ?? cand);
  }

  private dropCandidate(key: ObjectKey, source: string): void {
    const cands = this.candidates.get(key);
    if (!cands) return;
    const i = cands.findIndex((c) => c.origin.source === source);
    if (i < 0) return;
    cands.splice(i, 1);
    if (cands.length === 0) {
      this.candidates.delete(key);
      this.setLive(key, undefined);
    } else if (i === 0) this.setLive(key, cands[0]!);
  }

  private setLive(key: ObjectKey, cand: { object: TypedObject; origin: Origin } | undefined): void {
    const old = this.entries.get(key);
    if (cand && old && old.object === cand.object && sameOrigin(old.origin, cand.origin)) return;
    if (old) this.unindex(old);
    if (!cand) {
      if (!old) return;
      this.entries.delete(key);
      this.byKind.get(old.object.kind)?.delete(key);
      this.pending.push({ type: 'deleted', key, kind: old.object.kind, old });
      return;
    }
    const e: Entry = { key, object: cand.object, origin: cand.origin, revision: ++this.revision };
    this.entries.set(key, e);
    let m = this.byKind.get(cand.object.kind);
    if (!m) this.byKind.set(cand.object.kind, (m = new Map()));
    m.set(key, e);
    for (const idx of this.indexes.values()) if (idx.kind === cand.object.kind) this.indexAdd(idx, e);
    if (old && deepEqual(old.object, cand.object)) return; // same content from a re-read file: no change to announce
    this.pending.push({ type: old ? 'modified' : 'added', key, kind: cand.object.kind, old, new: e });
  }

  private indexAdd(idx: Index, e: Entry): void {
    for (const v of idx.fn(e.object)) idx.map.add(v, e.key);
  }

  private unindex(e: Entry): void {
    for (const idx of this.indexes.values()) {
      if (idx.kind !== e.object.kind) continue;
      for (const v of idx.fn(e.object)) idx.map.delete(v, e.key);
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => this.flush());
  }
}

export function describeOrigin(o: Origin): string {
  return o.doc === undefined ? o.source : `${o.source} (document ${o.doc})`;
}

function sameOrigin(a: Origin, b: Origin): boolean {
  return a.source === b.source && a.doc === b.doc;
}

/** Several changes of one key in a batch collapse into one (added+deleted → nothing). */
function coalesce(changes: Change[]): Change[] {
  const byKey = new Map<ObjectKey, Change>();
  for (const c of changes) {
    const prev = byKey.get(c.key);
    if (!prev) {
      byKey.set(c.key, c);
      continue;
    }
    const old = prev.old;
    const neu = c.new;
    if (!old && !neu) byKey.delete(c.key);
    else byKey.set(c.key, { type: !old ? 'added' : !neu ? 'deleted' : 'modified', key: c.key, kind: c.kind, old, new: neu });
  }
  return [...byKey.values()];
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  if (ka.length !== kb.length) return false;
  for (const k of ka) if (!deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  return true;
}
