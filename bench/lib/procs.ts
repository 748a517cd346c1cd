/**
 * Process control for benchmarks: every process is started pinned to CPUs with `taskset`, is
 * remembered, and is killed when the benchmark ends, fails or is interrupted (Ctrl-C).
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface Pinned {
  name: string;
  child: ChildProcess;
  pid: number;
  /** stdout+stderr kept for error messages (tail only). */
  output(): string;
  exited: Promise<number | string | null>;
  stop(graceMs?: number): Promise<number | string | null>;
}

const live = new Set<Pinned>();
let handlersInstalled = false;

function killAllNow(): void {
  for (const p of live) {
    try {
      p.child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}

/** Installs exit and signal handlers once so that no benchmark process outlives the run. */
export function installCleanup(onSignal?: () => Promise<void>): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.once('exit', killAllNow);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      process.stderr.write(`\nbench: ${sig}: stopping every process it started\n`);
      const finish = () => {
        killAllNow();
        process.exit(130);
      };
      if (onSignal) onSignal().then(finish, finish);
      else finish();
    });
  }
}

/** Stops every process still running (graceful first). */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((p) => p.stop(3000)));
}

/** Resolves a binary on PATH; a missing peer is a loud failure, never a skipped row. */
export function requireBinary(name: string, hint: string): string {
  const dirs = (process.env.PATH ?? '/usr/bin:/bin').split(delimiter).concat(['/usr/sbin', '/sbin']);
  for (const d of dirs) {
    const p = join(d, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // try the next directory
    }
  }
  throw new Error(`benchmark peer ${name} is missing: ${hint}`);
}

export interface StartOptions {
  /** CPU list for taskset, e.g. "0" or "0,1". */
  cpus: string;
  name: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** A file descriptor for stdout (e.g. an access log file); stdout is kept in memory otherwise. */
  stdoutFd?: number;
}

/** Starts `cmd args` under `taskset -c CPUS` (taskset execs, so the pid is the command's own). */
export function startPinned(cmd: string, args: string[], o: StartOptions): Pinned {
  const stdio: StdioOptions = ['ignore', o.stdoutFd ?? 'pipe', 'pipe'];
  const child = spawn('taskset', ['-c', o.cpus, cmd, ...args], { stdio, cwd: o.cwd, env: o.env ?? process.env });
  let out = '';
  const keep = (d: Buffer) => {
    out += d.toString();
    if (out.length > 100_000) out = out.slice(-50_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | string | null>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal));
    child.once('error', (err) => {
      out += `\nspawn error: ${err.message}`;
      resolve(null);
    });
  });
  if (child.pid === undefined) throw new Error(`${o.name}: could not start ${cmd} (taskset missing?)`);
  const p: Pinned = {
    name: o.name,
    child,
    pid: child.pid,
    output: () => out,
    exited,
    async stop(graceMs = 5000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(t);
      }
      live.delete(p);
      return exited;
    },
  };
  live.add(p);
  void exited.then(() => live.delete(p));
  return p;
}

export interface RunResult {
  code: number | string | null;
  stdout: string;
  stderr: string;
}

/** Runs a load generator to completion, pinned, and returns its output; non-zero exit throws. */
export async function runPinned(cmd: string, args: string[], o: Omit<StartOptions, 'stdoutFd'> & { timeoutMs: number }): Promise<RunResult> {
  const child = spawn('taskset', ['-c', o.cpus, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: o.cwd, env: o.env ?? process.env });
  const p: Pinned = {
    name: o.name,
    child,
    pid: child.pid ?? -1,
    output: () => '',
    exited: Promise.resolve(null),
    async stop() {
      child.kill('SIGKILL');
      return null;
    },
  };
  live.add(p);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs);
  const code = await new Promise<number | string | null>((resolve) => {
    // 'close', not 'exit': 'exit' can come before the last of the output has been read (a
    // wrk's summary was then lost now and then, its run failing with no output at all).
    child.once('close', (c, s) => resolve(c ?? s));
    child.once('error', (err) => {
      stderr += `spawn error: ${err.message}`;
      resolve(null);
    });
  });
  clearTimeout(timer);
  live.delete(p);
  if (code !== 0) throw new Error(`${o.name} (${cmd} ${args.join(' ')}) exited with ${String(code)}: ${(stderr || stdout).slice(-2000)}`);
  return { code, stdout, stderr };
}
