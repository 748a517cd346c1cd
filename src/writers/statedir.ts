/**
 * The embedded-mode writer: the objects gangplank produces (Secrets, shim Certificates) and all
 * statuses live in the state directory — never in the user's manifests — and the objects are fed
 * back into the store, so the router serves a new Secret at once. Events are kept in memory (a
 * bounded list) and logged. Files holding keys are mode 0600.
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TypedObject } from '../api/meta.js';
import { parseObject } from '../api/validate.js';
import type { Logger } from '../runtime/logger.js';
import type { Store } from '../store/store.js';
import type { EventType, ObjectRef, RecordedEvent, Writer } from './types.js';

export const STATE_SOURCE = 'state';
const MAX_EVENTS = 1000;
const STATUS_FLUSH_MS = 50;

export class StateDirWriter implements Writer {
  private readonly events: RecordedEvent[] = [];
  private readonly statuses = new Map<string, Record<string, unknown>>();
  private readonly objectsDir: string;
  private statusWrite: Promise<void> = Promise.resolve();
  private statusFlush: Promise<void> | undefined;

  constructor(
    private readonly dir: string,
    private readonly store: Store,
    private readonly logger: Logger,
  ) {
    this.objectsDir = join(dir, 'objects');
  }

  /** Loads the objects and statuses written in earlier runs. */
  async load(): Promise<void> {
    await mkdir(this.objectsDir, { recursive: true, mode: 0o700 });
    for (const f of await readdir(this.objectsDir)) {
      if (!f.endsWith('.json')) continue;
      try {
        const res = parseObject(JSON.parse(await readFile(join(this.objectsDir, f), 'utf8')));
        if (res.ok) this.store.upsert(STATE_SOURCE, res.object);
        else this.logger.warn({ file: f, errors: res.errors }, 'ignoring an invalid object in the state directory');
      } catch (err) {
        this.logger.warn({ file: f, err: (err as Error).message }, 'ignoring an unreadable object in the state directory');
      }
    }
    try {
      const saved = JSON.parse(await readFile(join(this.dir, 'status.json'), 'utf8')) as Record<string, Record<string, unknown>>;
      for (const [k, v] of Object.entries(saved)) this.statuses.set(k, v);
    } catch {
      /* no statuses yet */
    }
  }

  readStatus(ref: ObjectRef): Record<string, unknown> | undefined {
    return this.statuses.get(refKey(ref));
  }

  async writeStatus(ref: ObjectRef, status: Record<string, unknown>): Promise<void> {
    this.statuses.set(refKey(ref), status);
    // Coalesced: a burst of status writes (ten thousand Ingresses at start) rewrites status.json
    // once, not once per object; every caller awaits the write that includes its status.
    this.statusFlush ??= new Promise<void>((resolve, reject) => {
      setTimeout(() => {
        this.statusFlush = undefined;
        const data = JSON.stringify(Object.fromEntries(this.statuses));
        this.statusWrite = this.statusWrite.catch(() => undefined).then(() => atomicWrite(join(this.dir, 'status.json'), data, 0o644));
        this.statusWrite.then(resolve, reject);
      }, STATUS_FLUSH_MS);
    });
    await this.statusFlush;
  }

  async applyObject(object: TypedObject): Promise<void> {
    await mkdir(this.objectsDir, { recursive: true, mode: 0o700 });
    await atomicWrite(this.fileOf(object), JSON.stringify(object, null, 2), 0o600);
    this.store.upsert(STATE_SOURCE, object);
  }

  async deleteObject(ref: ObjectRef): Promise<void> {
    await rm(join(this.objectsDir, fileName(ref.kind, ref.namespace, ref.name)), { force: true });
    this.store.remove(STATE_SOURCE, `${ref.kind}/${ref.namespace ?? ''}/${ref.name}`);
    this.statuses.delete(refKey(ref));
  }

  async event(ref: ObjectRef, type: EventType, reason: string, message: string): Promise<void> {
    const last = this.events.find((e) => refKey(e.involved) === refKey(ref) && e.reason === reason && e.message === message);
    if (last) {
      last.count++;
      last.time = new Date().toISOString();
      return;
    }
    this.events.push({ time: new Date().toISOString(), involved: ref, type, reason, message, count: 1 });
    if (this.events.length > MAX_EVENTS) this.events.shift();
    const fields = { object: `${ref.kind}/${ref.namespace ? ref.namespace + '/' : ''}${ref.name}`, reason };
    if (type === 'Warning') this.logger.warn(fields, message);
    else this.logger.info(fields, message);
  }

  recentEvents(): readonly RecordedEvent[] {
    return this.events;
  }

  private fileOf(o: TypedObject): string {
    return join(this.objectsDir, fileName(o.kind, o.metadata.namespace, o.metadata.name));
  }
}

function fileName(kind: string, namespace: string | undefined, name: string): string {
  return `${kind}_${namespace ?? ''}_${name}.json`;
}

function refKey(r: ObjectRef): string {
  return `${r.kind}/${r.namespace ?? ''}/${r.name}`;
}


export async function atomicWrite(path: string, data: string | Buffer, mode: number): Promise<void> {
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(tmp, data, { mode });
  await rename(tmp, path);
}
