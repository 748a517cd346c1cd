/**
 * Where ACME progress survives a restart: the order URL, the certificate's new private key and
 * each authorization's state are written here before they are used, so a restart at any step
 * resumes the same order instead of opening a new one.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';

export interface AcmeStateStore {
  get<T>(key: string): Promise<T | undefined>;
  put<T>(key: string, value: T): Promise<void>;
  delete(key: string): Promise<void>;
}

/** A state store of one JSON file per key under `dir`, mode 0600 (it holds private keys), written atomically. */
export class FileAcmeStateStore implements AcmeStateStore {
  constructor(private readonly dir: string) {}

  private path(key: string): string {
    // Keys carry namespaces and names; a readable prefix plus a hash keeps file names safe and unique.
    const safe = key.replace(/[^a-zA-Z0-9._-]+/g, '_').slice(0, 80);
    const h = createHash('sha256').update(key).digest('hex').slice(0, 12);
    return join(this.dir, `${safe}.${h}.json`);
  }

  async get<T>(key: string): Promise<T | undefined> {
    try {
      return JSON.parse(await readFile(this.path(key), 'utf8')) as T;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new Error(`cannot read ACME state ${key} from ${this.path(key)}: ${(err as Error).message}; delete the file to start a new order`, { cause: err });
    }
  }

  async put<T>(key: string, value: T): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const p = this.path(key);
    const tmp = `${p}.${process.pid}.${Date.now()}.tmp`;
    await writeFile(tmp, JSON.stringify(value), { mode: 0o600 });
    await rename(tmp, p);
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }
}

/** In-memory state store, for tests and for callers that persist elsewhere. */
export class MemoryAcmeStateStore implements AcmeStateStore {
  readonly data = new Map<string, string>();
  async get<T>(key: string): Promise<T | undefined> {
    const v = this.data.get(key);
    return v === undefined ? undefined : (JSON.parse(v) as T);
  }
  async put<T>(key: string, value: T): Promise<void> {
    this.data.set(key, JSON.stringify(value));
  }
  async delete(key: string): Promise<void> {
    this.data.delete(key);
  }
}
