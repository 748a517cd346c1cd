/** Test helpers for the DNS server tests: raw UDP/TCP exchanges, BIND tools, a throwaway named. */
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { frameTcp, TcpFrameReader, decodeMessage, TYPE } from '../../src/dnsserver/wire.js';
import { freePort } from '../harness/net.js';
import { startProc, requireBinary, type Proc } from '../harness/proc.js';
import { waitFor } from '../harness/wait.js';

export function udpExchange(port: number, msg: Buffer, timeoutMs = 2000, host = '127.0.0.1'): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const timer = setTimeout(() => {
      s.close();
      reject(new Error(`no UDP answer from ${host}:${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    s.once('message', (m) => {
      clearTimeout(timer);
      s.close();
      resolve(m);
    });
    s.once('error', (e) => {
      clearTimeout(timer);
      s.close();
      reject(e);
    });
    s.send(msg, port, host);
  });
}

/** Sends one message over TCP and collects `count` answers (or until the server closes). */
export function tcpExchange(port: number, msg: Buffer, opts: { count?: number; timeoutMs?: number; until?: (answers: Buffer[]) => boolean } = {}): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    const reader = new TcpFrameReader();
    const out: Buffer[] = [];
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`TCP exchange on port ${port} timed out after ${out.length} answers`));
    }, opts.timeoutMs ?? 3000);
    sock.on('connect', () => sock.write(frameTcp(msg)));
    sock.on('data', (d) => {
      out.push(...reader.push(d));
      if ((opts.count !== undefined && out.length >= opts.count) || opts.until?.(out)) {
        clearTimeout(timer);
        sock.end();
        resolve(out);
      }
    });
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

/** True once the answers of an AXFR hold the closing SOA (two SOA records in all). */
export function axfrDone(answers: Buffer[]): boolean {
  let soas = 0;
  for (const a of answers) {
    try {
      soas += decodeMessage(a).answers.filter((r) => r.type === TYPE.SOA).length;
    } catch {
      return true;
    }
  }
  return soas >= 2;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a BIND tool (dig, nsupdate) and returns its exit code and output. */
export function run(cmd: string, args: string[], input?: string, timeoutMs = 15000): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as NodeJS.ErrnoException).code === 'number' ? Number((err as NodeJS.ErrnoException).code) : 1) : 0;
      resolve({ code, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

export const DIG = '/usr/bin/dig';
export const NSUPDATE = '/usr/bin/nsupdate';
export const NAMED = '/usr/sbin/named';

export function needBindTools(): void {
  requireBinary(DIG, 'install Debian package bind9-dnsutils');
  requireBinary(NSUPDATE, 'install Debian package bind9-dnsutils');
}

export interface Named {
  port: number;
  dir: string;
  proc: Proc;
  stop(): Promise<void>;
}

/** Starts BIND 9 as a primary for `zone` that takes updates and transfers signed with the key. */
export async function startNamed(zone: string, key: { name: string; algorithm: string; secretB64: string }): Promise<Named> {
  requireBinary(NAMED, 'install Debian package bind9');
  const dir = mkdtempSync(join(tmpdir(), 'gangplank-named-'));
  const port = await freePort({ udp: true });
  writeFileSync(
    join(dir, 'zone.db'),
    `$TTL 300\n@ IN SOA ns1.${zone}. hostmaster.${zone}. 1 3600 600 86400 60\n@ IN NS ns1.${zone}.\nns1 IN A 127.0.0.1\n`,
  );
  writeFileSync(
    join(dir, 'named.conf'),
    `options { directory "${dir}"; listen-on port ${port} { 127.0.0.1; }; listen-on-v6 { none; };
  pid-file "${dir}/named.pid"; session-keyfile "${dir}/session.key"; recursion no; dnssec-validation no; notify no; };
key "${key.name}" { algorithm ${key.algorithm}; secret "${key.secretB64}"; };
controls { };
zone "${zone}" { type primary; file "${dir}/zone.db"; allow-update { key "${key.name}"; }; allow-transfer { key "${key.name}"; }; };
`,
  );
  const proc = startProc(NAMED, ['-g', '-n', '1', '-c', join(dir, 'named.conf')], { name: 'named' });
  try {
    await waitFor('named to load the zone', async () => {
      if (proc.child.exitCode !== null) throw new Error(`named exited: ${proc.output()}`);
      const r = await run(DIG, ['+short', '+time=1', '+tries=1', '-p', String(port), '@127.0.0.1', zone, 'SOA']);
      return r.stdout.includes('hostmaster');
    });
  } catch (err) {
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}\nnamed output:\n${proc.output()}`);
  }
  return {
    port,
    dir,
    proc,
    async stop() {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
