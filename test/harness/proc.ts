import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants } from 'node:fs';

/** A child process started by a test, with its output kept for failure messages. */
export interface Proc {
  child: ChildProcess;
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code (or signal name). */
  stop(graceMs?: number): Promise<number | string | null>;
  exited: Promise<number | string | null>;
}

const live = new Set<Proc>();
process.once('exit', () => {
  for (const p of live) p.child.kill('SIGKILL');
});

/** Fails loudly when a peer binary is missing: tests never skip silently. */
export function requireBinary(path: string, hint: string): string {
  try {
    accessSync(path, constants.X_OK);
    return path;
  } catch {
    throw new Error(`required test peer ${path} is missing: ${hint} (scripts/setup.sh installs it)`);
  }
}

export function startProc(cmd: string, args: string[], opts: SpawnOptions & { name?: string; echo?: boolean } = {}): Proc {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  let out = '';
  const keep = (d: Buffer) => {
    out += d.toString();
    if (out.length > 200_000) out = out.slice(-100_000);
    if (opts.echo || process.env.GANGPLANK_TEST_ECHO) process.stderr.write(`[${opts.name ?? cmd}] ${d}`);
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
  const proc: Proc = {
    child,
    output: () => out,
    exited,
    async stop(graceMs = 15_000) {
      live.delete(proc);
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const r = await exited;
      clearTimeout(timer);
      return r;
    },
  };
  live.add(proc);
  exited.then(() => live.delete(proc));
  return proc;
}

export { once };
