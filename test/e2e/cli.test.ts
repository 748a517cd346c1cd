/** Black-box: the command line as a user meets it — help, version, bad flags, config file, exit codes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BIN, ROOT, startGangplank, tempDir } from '../harness/gangplank.js';
import { freePort } from '../harness/net.js';
import { startProc } from '../harness/proc.js';
import { waitFor } from '../harness/wait.js';

const execP = promisify(execFile);

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execP(process.execPath, [BIN, ...args], { timeout: 10_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('version and help', async () => {
  const v = await cli(['version']);
  assert.equal(v.code, 0);
  const pkg = JSON.parse(await (await import('node:fs/promises')).readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.equal(v.stdout.trim(), `gangplank ${pkg.version}`);
  const h = await cli(['--help']);
  assert.equal(h.code, 0);
  for (const c of ['run', 'demo', 'version']) assert.match(h.stdout, new RegExp(`\\b${c}\\b`));
  const rh = await cli(['run', '--help']);
  assert.equal(rh.code, 0);
  for (const f of ['--manifests', '--state-dir', '--bind', '--http-port', '--https-port', '--admin-port', '--admin-bind', '--ingress-class', '--trusted-proxies', '--log-level', '--log-format', '--config'])
    assert.ok(rh.stdout.includes(f), `run --help lists ${f}`);
});

const badFlags: [string, string[], RegExp][] = [
  ['unknown flag', ['run', '--manifests', '.', '--bogus'], /unknown option '--bogus'/],
  ['port not a number', ['run', '--manifests', '.', '--http-port', 'abc'], /--http-port: must be a port number/],
  ['port out of range', ['run', '--manifests', '.', '--admin-port', '70000'], /--admin-port: must be a port number/],
  ['bad CIDR', ['run', '--manifests', '.', '--trusted-proxies', '10.0.0.0/99'], /--trusted-proxies: "10.0.0.0\/99" is not an IP address or CIDR/],
  ['bad log format', ['run', '--manifests', '.', '--log-format', 'xml'], /--log-format: must be one of json, pretty/],
  ['no manifests', ['run'], /--manifests: give at least one directory/],
  ['missing directory', ['run', '--manifests', '/nonexistent/gangplank'], /--manifests \/nonexistent\/gangplank: no such directory/],
  ['unknown command', ['fly'], /unknown command 'fly'/],
];
for (const [name, args, msg] of badFlags) {
  test(`bad input exits 2 with a clear message: ${name}`, async () => {
    const r = await cli(args);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, msg);
  });
}

test('--config supplies options and flags win; unknown keys are refused', async () => {
  const dir = await tempDir();
  try {
    const fileHttp = await freePort();
    const flagAdmin = await freePort();
    const cfg = join(dir.path, 'gangplank.yaml');
    await writeFile(cfg, `http-port: ${fileHttp}\nadmin-port: 1\nbind: 127.0.0.1\nlog-format: json\nmanifests: [${JSON.stringify(dir.path)}]\n`);
    const p = startProc(process.execPath, [BIN, 'run', '--config', cfg, '--admin-port', String(flagAdmin), '--state-dir', join(dir.path, 'state')]);
    try {
      await waitFor('ready', async () => (await fetch(`http://127.0.0.1:${flagAdmin}/readyz`).catch(() => undefined))?.status === 200);
      const res = await fetch(`http://127.0.0.1:${fileHttp}/`);
      assert.equal(res.status, 404, 'the web entrypoint listens on the port from the file');
      await res.text();
    } finally {
      assert.equal(await p.stop(), 0, 'SIGTERM exits 0');
    }
    await writeFile(cfg, 'http-prot: 80\n');
    const r = await cli(['run', '--config', cfg, '--manifests', dir.path]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown option "http-prot"/);
  } finally {
    await dir.remove();
  }
});

test('a port in use fails the start with exit 1 and says so', async () => {
  const dir = await tempDir();
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  const port = (blocker.address() as { port: number }).port;
  try {
    const r = await cli(['run', '--manifests', dir.path, '--bind', '127.0.0.1', '--http-port', String(port), '--admin-port', String(await freePort()), '--state-dir', join(dir.path, 's')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /EADDRINUSE|in use/);
  } finally {
    blocker.close();
    await dir.remove();
  }
});

test('/readyz answers 503 before the first load and 200 after; SIGTERM stops cleanly', async () => {
  const dir = await tempDir();
  try {
    const g = await startGangplank(dir.path);
    assert.equal((await fetch(`http://127.0.0.1:${g.adminPort}/readyz`)).status, 200);
    assert.equal(await g.stop(), 0);
  } finally {
    await dir.remove();
  }
});
