/** `gangplank run` from dist/ for the DNS benchmark, pinned, with its admin API read back. */
import { existsSync } from 'node:fs';
import { startPinned, type Pinned } from '../lib/procs.js';
import { freePort, waitUntil } from '../lib/sut.js';
import type { DnsView } from './converge.js';
import { parseProm, type Sample } from './prom.js';

export interface Gangplank {
  proc: Pinned;
  adminPort: number;
  /** When the process was spawned (Date.now()). */
  startedAt: number;
  dnsView(): Promise<DnsView>;
  metrics(): Promise<Sample[]>;
  stop(): Promise<void>;
}

export async function startGangplank(o: { bin: string; manifests: string; stateDir: string; cpus: string; args: string[]; env?: NodeJS.ProcessEnv }): Promise<Gangplank> {
  if (!existsSync(o.bin)) throw new Error(`${o.bin} is missing: run \`npm run build\` first`);
  const adminPort = await freePort();
  const args = [
    o.bin, 'run',
    '--manifests', o.manifests,
    '--state-dir', o.stateDir,
    '--bind', '127.0.0.1',
    '--http-port', String(await freePort()),
    '--https-port', String(await freePort()),
    '--admin-port', String(adminPort),
    '--log-level', 'warn',
    '--access-log', 'false',
    ...o.args,
  ];
  const startedAt = Date.now();
  const proc = startPinned(process.execPath, args, { cpus: o.cpus, name: 'gangplank', env: { ...process.env, ...o.env } });
  const admin = `http://127.0.0.1:${adminPort}`;
  await waitUntil('gangplank /readyz', async () => (await fetch(`${admin}/readyz`).catch(() => undefined))?.status === 200, 300_000, proc);
  const get = async (path: string) => {
    const r = await fetch(`${admin}${path}`);
    if (!r.ok) throw new Error(`gangplank ${path} answered ${r.status}: ${(await r.text()).slice(0, 300)}`);
    return r;
  };
  return {
    proc,
    adminPort,
    startedAt,
    dnsView: async () => (await (await get('/api/dns')).json()) as DnsView,
    metrics: async () => parseProm(await (await get('/metrics')).text()),
    stop: async () => void (await proc.stop(10_000)),
  };
}
