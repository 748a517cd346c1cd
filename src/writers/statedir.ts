/**
 * The embedded-mode writer: statuses and Secrets live in the state directory (never in the user's
 * manifests) and are fed back into the store, so the router serves a new Secret at once. Events
 * are kept in memory (a bounded list) and logged.
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseObject } from '../api/validate.js';
import type { Secret } from '../api/types.js';
import type { Logger } from '../runtime/logger.js';
import type { Store } from '../store/store.js';
import type { EventType, ObjectRef, RecordedEvent, Writer } from './types.js';

export const STATE_SOURCE = 'state';
const MAX_EVENTS = 1000;

export class StateDirWriter implements Writer {
  private readonly events: RecordedEvent[] = [];
  private readonly statuses = new Map<string, Record<string, unknown>>();

  constructor(
    private readonly dir: string,
    private readonly store: Store,
    private readonly logger: Logger,
  ) {}

  /** Loads the Secrets written in earlier runs into the store. */
  async load(): Promise<void> {
    const dir = join(this.dir, 'secrets');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    for (const f of await readdir(dir)) {
      if (!f.endsWith('.json')) continue;
      try {
        const res = parseObject(JSON.parse(await readFile(join(dir, f), 'utf8')));
        if (res.ok && res.object.kind === 'Secret') this.store.upsert(STATE_SOURCE, res.object);
        else this.logger.warn({ file: f }, 'ignoring an unreadable Secret in the state directory');
      } catch (err) {
        this.logger.warn({ file: f, err: (err as Error).message }, 'ignoring an unreadable Secret in the state directory');
      }
    }
    const st = join(this.dir, 'status.json');
    try {
      const saved = JSON.parse(await readFile(st, 'utf8')) as Record<string, Record<string, unknown>>;
      for (const [k, v] of Object.entries(saved)) this.statuses.set(k, v);
    } catch {
      /* no statuses yet */
    }
  }

  status(ref: ObjectRef): Record<string, unknown> | undefined {
    return this.statuses.get(refKey(ref));
  }

  async writeStatus(ref: ObjectRef, status: Record<string, unknown>): Promise<void> {
    this.statuses.set(refKey(ref), status);
    await atomicWrite(join(this.dir, 'status.json'), JSON.stringify(Object.fromEntries(this.statuses), null, 2), 0o644);
  }

  async applySecret(secret: Secret): Promise<void> {
    const dir = join(this.dir, 'secrets');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await atomicWrite(join(dir, `${secret.metadata.namespace}_${secret.metadata.name}.json`), JSON.stringify(secret, null, 2), 0o600);
    this.store.upsert(STATE_SOURCE, secret);
  }

  async deleteSecret(namespace: string, name: string): Promise<void> {
    await rm(join(this.dir, 'secrets', `${namespace}_${name}.json`), { force: true });
    this.store.remove(STATE_SOURCE, `Secret/${namespace}/${name}`);
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
    const log = type === 'Warning' ? this.logger.warn.bind(this.logger) : this.logger.info.bind(this.logger);
    log({ object: `${ref.kind}/${ref.namespace ? ref.namespace + '/' : ''}${ref.name}`, reason }, message);
  }

  recentEvents(): readonly RecordedEvent[] {
    return this.events;
  }
}

function refKey(r: ObjectRef): string {
  return `${r.kind}/${r.namespace ?? ''}/${r.name}`;
}

export async function atomicWrite(path: string, data: string | Buffer, mode: number): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, data, { mode });
  await rename(tmp, path);
}
