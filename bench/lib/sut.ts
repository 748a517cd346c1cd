/**
 * Starting the systems under test and the backend, each pinned, each checked to really answer
 * before it is measured (a benchmark of 404s or resets would be worthless).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, writeFileSync } from 'node:fs';
import { request as httpRequest, Agent } from 'node:http';
import { connect as tlsConnect } from 'node:tls';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startPinned, type Pinned } from './procs.js';

export interface Sut {
  name: string;
  /** Root of the process tree whose CPU and memory are measured. */
  pid: number;
  httpPort: number;
  tlsPort?: number;
  proc: Pinned;
  /** A Node process: its JIT compiler needs a longer first warm-up than nginx or HAProxy do. */
  jit?: boolean;
  stop(): Promise<void>;
}

/** A loopback port that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/** Polls until `check` is truthy; the deadline error says what was awaited and what was seen last. */
export async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number, proc?: Pinned): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    if (proc && proc.child.exitCode !== null) throw new Error(`${proc.name} exited (${proc.child.exitCode}) while waiting for ${what}:\n${proc.output().slice(-2000)}`);
    try {
      if (await check()) return;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last})` : ''}${proc ? `\n${proc.output().slice(-2000)}` : ''}`);
    await sleep(20);
  }
}

const pollAgent = new Agent({ keepAlive: true, maxSockets: 1 });

/** One GET over plain HTTP with a given Host header: status and body length. */
export function httpGet(port: number, host: string, path: string, agent: Agent | false = false): Promise<{ status: number; bytes: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers: { host }, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const b = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, bytes: b.length, body: b.toString('utf8', 0, Math.min(b.length, 200)) });
      });
      res.on('error', reject);
    });
    req.setTimeout(5000, () => req.destroy(new Error(`GET ${host}${path} on port ${port}: no answer within 5 s`)));
    req.on('error', reject);
    req.end();
  });
}

/** Same, over a kept-alive connection, for tight polling loops. */
export function pollGet(port: number, host: string, path: string): Promise<{ status: number; bytes: number; body: string }> {
  return httpGet(port, host, path, pollAgent);
}

export function closePollAgent(): void {
  pollAgent.destroy();
}

/**
 * What the TLS port offers: the ALPN protocol chosen when h2 and http/1.1 are offered, or why no
 * TLS session could be made (refused, handshake failure).
 */
export function probeTls(port: number, servername: string): Promise<{ ok: true; alpn: string } | { ok: false; why: string }> {
  return new Promise((resolve) => {
    const s = tlsConnect({ host: '127.0.0.1', port, servername, ALPNProtocols: ['h2', 'http/1.1'], rejectUnauthorized: false });
    const done = (v: { ok: true; alpn: string } | { ok: false; why: string }) => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(3000, () => done({ ok: false, why: 'no TLS handshake within 3 s' }));
    s.once('secureConnect', () => done({ ok: true, alpn: s.alpnProtocol || 'none' }));
    s.once('error', (err: NodeJS.ErrnoException) => done({ ok: false, why: err.code === 'ECONNREFUSED' ? 'connection refused' : err.message }));
  });
}

export async function checkServes(port: number, host: string, path: string, bytes: number): Promise<void> {
  const r = await httpGet(port, host, path);
  if (r.status !== 200 || r.bytes !== bytes) throw new Error(`GET ${path} with Host ${host} on port ${port}: expected 200 with ${bytes} bytes, got ${r.status} with ${r.bytes} bytes: ${r.body.slice(0, 120)}`);
}

function makeDirs(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
}

/** nginx in the foreground with `conf` (written to dir/nginx.conf), pinned. */
export async function startNginx(name: string, dir: string, conf: string, cpus: string, ready: () => Promise<boolean>): Promise<Sut & { conf: string }> {
  makeDirs(dir);
  const file = join(dir, 'nginx.conf');
  writeFileSync(file, conf);
  try {
    execFileSync('nginx', ['-t', '-q', '-p', dir, '-c', file, '-e', join(dir, 'error.log')], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: Buffer };
    throw new Error(`${name}: nginx rejects its config ${file}: ${e.stderr?.toString() ?? (err as Error).message}`);
  }
  const proc = startPinned('nginx', ['-p', dir, '-c', file, '-e', join(dir, 'error.log')], { cpus, name });
  await waitUntil(`${name} to answer`, ready, 30_000, proc);
  return { name, pid: proc.pid, httpPort: 0, proc, conf: file, stop: async () => void (await proc.stop()) };
}

export async function startHaproxy(name: string, dir: string, conf: string, cpus: string, ready: () => Promise<boolean>): Promise<Sut> {
  makeDirs(dir);
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(file, conf);
  try {
    execFileSync('haproxy', ['-c', '-q', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: Buffer; stdout?: Buffer };
    throw new Error(`${name}: haproxy rejects its config ${file}: ${e.stderr?.toString() ?? ''}${e.stdout?.toString() ?? ''}`);
  }
  const proc = startPinned('haproxy', ['-db', '-f', file], { cpus, name });
  await waitUntil(`${name} to answer`, ready, 30_000, proc);
  return { name, pid: proc.pid, httpPort: 0, proc, stop: async () => void (await proc.stop()) };
}

export interface GangplankOptions {
  bin: string;
  manifests: string;
  stateDir: string;
  httpPort: number;
  httpsPort: number;
  adminPort: number;
  cpus: string;
  accessLogFile?: string;
  workers?: number;
  /** Extra `gangplank run` flags (e.g. --dns-port 0). */
  extraArgs?: string[];
  /** Extra node flags (e.g. --cpu-prof). */
  nodeFlags?: string[];
  /** Variables added to the process's environment (e.g. GLIBC_TUNABLES). */
  env?: Record<string, string>;
  readyTimeoutMs?: number;
}

/** `gangplank run` from dist/, pinned, waited for until /readyz answers 200. */
export async function startGangplank(name: string, o: GangplankOptions): Promise<Sut> {
  if (!existsSync(o.bin)) throw new Error(`${o.bin} is missing: run \`npm run build\` first`);
  const args = [
    ...(o.nodeFlags ?? []),
    o.bin, 'run',
    '--manifests', o.manifests,
    '--http-port', String(o.httpPort),
    '--https-port', String(o.httpsPort),
    '--admin-port', String(o.adminPort),
    '--bind', '127.0.0.1',
    '--state-dir', o.stateDir,
    '--log-level', 'warn',
    '--access-log', o.accessLogFile ? 'true' : 'false',
    ...(o.workers ? ['--workers', String(o.workers)] : []),
    ...(o.extraArgs ?? []),
  ];
  const fd = o.accessLogFile ? openSync(o.accessLogFile, 'a') : undefined;
  const proc = startPinned(process.execPath, args, { cpus: o.cpus, name, stdoutFd: fd, ...(o.env ? { env: { ...process.env, ...o.env } } : {}) });
  if (fd !== undefined) closeSync(fd);
  await waitUntil(`${name} /readyz`, async () => {
    const r = await fetch(`http://127.0.0.1:${o.adminPort}/readyz`).catch(() => undefined);
    return r?.status === 200;
  }, o.readyTimeoutMs ?? 120_000, proc);
  return { name, pid: proc.pid, httpPort: o.httpPort, tlsPort: o.httpsPort, proc, jit: true, stop: async () => void (await proc.stop(10_000)) };
}

/**
 * One of Node's floors (bench/proxy/floors.mjs), pinned: a raw TCP relay to the backend, or a
 * node:http server answering the small body itself.
 */
export async function startNodeFloor(
  kind: 'relay' | 'http' | 'h2',
  o: { script: string; port: number; cpus: string; backendPort: number; body: string; cert?: { certFile: string; keyFile: string }; ready: () => Promise<boolean> },
): Promise<Sut> {
  const name = kind === 'relay' ? 'node raw TCP relay' : kind === 'http' ? 'node:http answering itself' : 'node:http2 + TLS answering itself';
  const args = kind === 'relay' ? [String(o.backendPort)] : kind === 'http' ? [o.body] : [o.body, o.cert!.certFile, o.cert!.keyFile];
  const proc = startPinned(process.execPath, [o.script, kind, String(o.port), ...args], { cpus: o.cpus, name });
  await waitUntil(`${name} to answer`, o.ready, 30_000, proc);
  return { name, pid: proc.pid, httpPort: o.port, ...(kind === 'h2' ? { tlsPort: o.port } : {}), proc, jit: true, stop: async () => void (await proc.stop()) };
}

/** The text of `gangplank run --help` (to detect flags of features still being added). */
export function gangplankRunHelp(bin: string): string {
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run \`npm run build\` first`);
  try {
    return execFileSync(process.execPath, [bin, 'run', '--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: string };
    const why = (e.stderr ?? '').split('\n').find((l) => /Error/.test(l)) ?? (err as Error).message;
    throw new Error(`\`gangplank run --help\` fails, so gangplank cannot be benchmarked: ${why.trim()} (is ${bin} a complete build? run \`npm run build\`)`);
  }
}
