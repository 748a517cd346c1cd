/**
 * Starts `gangplank run --kubeconfig ...` from the sources (through tsx, so no build step) on free
 * loopback ports, as a user would start it against a cluster; stops it and removes its state dir.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './net.js';
import { startProc, type Proc } from './proc.js';
import { waitFor } from './wait.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = join(ROOT, 'src/cli/main.ts');

export interface KubeGangplank {
  proc: Proc;
  httpPort: number;
  httpsPort: number;
  adminPort: number;
  dnsPort: number;
  /** GET http://127.0.0.1:httpPort/path with a Host header; resolves with status and body. */
  get(host: string, path?: string): Promise<{ status: number; body: string }>;
  admin<T = unknown>(path: string): Promise<T>;
  stop(): Promise<void>;
}

/** `nodeArgs` go before the script (e.g. another --import for a test preload). */
export async function startKubeGangplank(kubeconfig: string, extraArgs: string[] = [], opts: { nodeArgs?: string[] } = {}): Promise<KubeGangplank> {
  const httpPort = await freePort();
  const httpsPort = await freePort();
  const adminPort = await freePort();
  const dnsPort = await freePort({ udp: true });
  const state = await mkdtemp(join(tmpdir(), 'gangplank-kube-state-'));
  const args = [
    '--import', 'tsx', ...(opts.nodeArgs ?? []), MAIN, 'run',
    '--kubeconfig', kubeconfig,
    '--workers', '1',
    '--bind', '127.0.0.1',
    '--http-port', String(httpPort),
    '--https-port', String(httpsPort),
    '--admin-port', String(adminPort),
    '--dns-port', String(dnsPort),
    '--state-dir', state,
    '--log-level', 'debug',
    ...extraArgs,
  ];
  const proc = startProc(process.execPath, args, { name: 'gangplank', cwd: ROOT });
  const g: KubeGangplank = {
    proc,
    httpPort,
    httpsPort,
    adminPort,
    dnsPort,
    get: (host, path = '/') =>
      new Promise((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: httpPort, path, headers: { host }, agent: false, timeout: 10_000 }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('timeout', () => req.destroy(new Error(`GET ${host}${path} timed out`)));
        req.on('error', reject);
        req.end();
      }),
    async admin<T>(path: string): Promise<T> {
      const res = await fetch(`http://127.0.0.1:${adminPort}${path}`);
      if (!res.ok) throw new Error(`admin ${path}: ${res.status}`);
      return (await res.json()) as T;
    },
    async stop() {
      await proc.stop();
      await rm(state, { recursive: true, force: true });
    },
  };
  try {
    await waitFor('gangplank /readyz', async () => {
      if (proc.child.exitCode !== null) throw new Error(`gangplank exited (${proc.child.exitCode}): ${proc.output().slice(-3000)}`);
      const r = await fetch(`http://127.0.0.1:${adminPort}/readyz`).catch(() => undefined);
      return r?.status === 200;
    }, { timeoutMs: 90_000 });
  } catch (err) {
    await g.stop();
    throw err;
  }
  return g;
}
