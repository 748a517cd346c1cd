/**
 * Runs a test file again inside a private network namespace of its own (`unshare -n`, root), so
 * that it can put test addresses such as 192.0.2.x on the loopback interface (Kubernetes refuses
 * loopback pod IPs). Every packet stays inside that namespace, which dies with the test.
 *
 * Usage, at the top level of a test file:
 *   if (!insideNetns('MY_FLAG')) runInNetns({ flag: 'MY_FLAG', file: import.meta.url, name, innerTests: 4 });
 *   else { addLoopbackAddresses([...]); ...the real tests... }
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { requireBinary } from './proc.js';

export function insideNetns(flag: string): boolean {
  return process.env[flag] === '1';
}

/** Registers one outer test that runs `file` inside a new network namespace and requires all its tests to pass. */
export function runInNetns(o: { flag: string; file: string; name: string; innerTests: number; timeoutMs?: number }): void {
  test(o.name, { timeout: o.timeoutMs ?? 10 * 60_000 }, async (t) => {
    const unshare = requireBinary('/usr/bin/unshare', 'apt-get install -y util-linux');
    const setpriv = requireBinary('/usr/bin/setpriv', 'apt-get install -y util-linux');
    requireBinary('/usr/sbin/ip', 'apt-get install -y iproute2');
    // setpriv: the inner run dies with this process; unshare execs node in the new namespace.
    const child = spawn(setpriv, ['--pdeathsig', 'KILL', unshare, '-n', '--', process.execPath, '--import', 'tsx', '--test', '--test-reporter=spec', fileURLToPath(o.file)], {
      // Without NODE_TEST_CONTEXT the inner node runs its tests instead of deferring to this runner.
      env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_TEST_CONTEXT')), [o.flag]: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    t.after(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    let out = '';
    const keep = (d: Buffer) => {
      out += d.toString();
      process.stderr.write(d);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 0, `the tests inside the network namespace failed:\n${out.slice(-6000)}`);
    // The inner run must really have run them (a skipped or empty run also exits 0).
    assert.match(out, new RegExp(`ℹ pass ${o.innerTests}\\n`), `all ${o.innerTests} tests ran and passed inside the namespace`);
    assert.match(out, /ℹ fail 0\n/);
  });
}

/** Inside the namespace: bring loopback up and give it the test addresses. */
export function addLoopbackAddresses(addresses: readonly string[]): void {
  execFileSync('ip', ['link', 'set', 'lo', 'up']);
  for (const a of addresses) execFileSync('ip', ['addr', 'add', `${a}/32`, 'dev', 'lo']);
}
