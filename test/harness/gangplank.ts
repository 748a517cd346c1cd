/** Starts the built `gangplank` binary (dist/) as a user would, on free ports, for black-box tests. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './net.js';
import { existsSync } from 'node:fs';
import { startProc, type Proc } from './proc.js';
import { waitFor } from './wait.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = join(ROOT, 'dist/cli/main.js');

export interface Gangplank {
  proc: Proc;
  httpPort: number;
  httpsPort: number;
  adminPort: number;
  stateDir: string;
  url(path?: string): string;
  admin<T = unknown>(path: string): Promise<T>;
  stop(): Promise<number | string | null>;
}

export async function tempDir(prefix = 'gangplank-test-'): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

export async function startGangplank(manifests: string | string[], extraArgs: string[] = [], opts: { waitReady?: boolean } = {}): Promise<Gangplank> {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  const httpPort = await freePort();
  const adminPort = await freePort();
  // Every port gangplank opens is chosen here unless the test names it: test files run in parallel.
  const httpsPort = extraArgs.includes('--https-port') ? Number(extraArgs[extraArgs.indexOf('--https-port') + 1]) : await freePort();
  const state = await tempDir('gangplank-state-');
  const dirs = Array.isArray(manifests) ? manifests : [manifests];
  const args = [
    BIN,
    'run',
    ...dirs.flatMap((d) => ['--manifests', d]),
    '--http-port', String(httpPort),
    '--admin-port', String(adminPort),
    '--bind', '127.0.0.1',
    '--state-dir', state.path,
    '--log-level', 'debug',
    ...(extraArgs.includes('--https-port') ? [] : ['--https-port', String(httpsPort)]),
    ...(extraArgs.includes('--dns-port') ? [] : ['--dns-port', '0']),
    // One process unless a test asks for workers: cheaper, and the same data plane code.
    ...(extraArgs.includes('--workers') ? [] : ['--workers', '1']),
    ...extraArgs,
  ];
  const proc = startProc(process.execPath, args, { name: 'gangplank' });
  const g: Gangplank = {
    proc,
    httpPort,
    httpsPort,
    adminPort,
    stateDir: state.path,
    url: (path = '/') => `http://127.0.0.1:${httpPort}${path}`,
    async admin<T>(path: string): Promise<T> {
      const res = await fetch(`http://127.0.0.1:${adminPort}${path}`);
      if (!res.ok) throw new Error(`admin ${path}: ${res.status}`);
      return (await res.json()) as T;
    },
    async stop() {
      const code = await proc.stop();
      await state.remove();
      return code;
    },
  };
  if (opts.waitReady !== false) {
    try {
      await waitFor('gangplank /readyz', async () => {
        if (proc.child.exitCode !== null) throw new Error(`gangplank exited (${proc.child.exitCode}): ${proc.output().slice(-2000)}`);
        const r = await fetch(`http://127.0.0.1:${adminPort}/readyz`).catch(() => undefined);
        return r?.status === 200;
      }, { timeoutMs: 30_000 });
    } catch (err) {
      await g.stop();
      throw err;
    }
  }
  return g;
}
