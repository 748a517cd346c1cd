import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './net.js';
import { requireBinary, startProc, type Proc } from './proc.js';
import { waitFor } from './wait.js';

const run = promisify(execFile);
const NAMED = '/usr/sbin/named';
const DIG = '/usr/bin/dig';
const NSUPDATE = '/usr/bin/nsupdate';

/** The options block of a test named.conf: authoritative only, on 127.0.0.1:port, files in dir. */
export function namedOptions(dir: string, port: number, extra: string[] = []): string {
  return `options {
  directory "${dir}";
  pid-file "${join(dir, 'named.pid')}";
  session-keyfile "${join(dir, 'session.key')}";
  managed-keys-directory "${dir}";
  listen-on port ${port} { 127.0.0.1; };
  listen-on-v6 { none; };
  recursion no;
  allow-query { any; };
  dnssec-validation no;
  notify no;
${extra.map((l) => `  ${l}\n`).join('')}};`;
}

export interface BindTsig {
  name: string;
  /** BIND's algorithm name, e.g. `hmac-sha256`. */
  algorithm: string;
  secret: Buffer;
}

export interface Bind {
  host: string;
  port: number;
  zones: string[];
  tsig: BindTsig;
  /** A BIND `key` statement file with the TSIG key (for nsupdate -k / dig -k). */
  keyFile: string;
  dir: string;
  proc: Proc;
  /** Sends an nsupdate script (without `server`/`send`, added here) signed with the key. */
  nsupdate(lines: string[]): Promise<void>;
  /** `dig +short` against this server. */
  dig(name: string, type: string): Promise<string[]>;
  stop(): Promise<void>;
}

/**
 * Starts BIND 9 on 127.0.0.1 (UDP and TCP on one free port), primary for `zones`, updatable
 * and transferable with one TSIG key. Each zone starts with SOA, NS and the NS's A record.
 */
export async function startBind(opts: { zones: string[]; tsig: BindTsig }): Promise<Bind> {
  requireBinary(NAMED, 'BIND 9 is missing: apt-get install -y bind9');
  requireBinary(DIG, 'dig is missing: apt-get install -y bind9-dnsutils');
  requireBinary(NSUPDATE, 'nsupdate is missing: apt-get install -y bind9-dnsutils');
  const dir = mkdtempSync(join(tmpdir(), 'gangplank-bind-'));
  const port = await freePort({ udp: true });
  const { tsig } = opts;
  const keyStmt = `key "${tsig.name}" {\n  algorithm ${tsig.algorithm};\n  secret "${tsig.secret.toString('base64')}";\n};\n`;
  const keyFile = join(dir, 'tsig.key');
  writeFileSync(keyFile, keyStmt, { mode: 0o600 });
  const zoneStmts = opts.zones
    .map((z, i) => {
      const file = join(dir, `zone${i}.db`);
      writeFileSync(
        file,
        [
          `$ORIGIN ${z}.`,
          '$TTL 300',
          `@ IN SOA ns.${z}. hostmaster.${z}. 1 3600 600 86400 60`,
          `@ IN NS ns.${z}.`,
          'ns IN A 127.0.0.1',
          '',
        ].join('\n'),
      );
      return `zone "${z}" {\n  type primary;\n  file "${file}";\n  update-policy { grant "${tsig.name}" zonesub ANY; };\n  allow-transfer { key "${tsig.name}"; };\n};\n`;
    })
    .join('');
  const conf = join(dir, 'named.conf');
  writeFileSync(
    conf,
    `${keyStmt}
${namedOptions(dir, port)}
${zoneStmts}`,
  );
  // -g: foreground, log to stderr; -u root keeps the temp dir writable for the journal files.
  const proc = startProc(NAMED, ['-g', '-n', '1', '-u', 'root', '-c', conf], { name: 'named' });
  const digArgs = (name: string, type: string) => ['@127.0.0.1', '-p', String(port), '+short', '+time=1', '+tries=1', name, type];
  const dig = async (name: string, type: string) => {
    const { stdout } = await run(DIG, digArgs(name, type));
    return stdout.split('\n').filter((l) => l.length > 0);
  };
  const stop = async () => {
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      'named to answer SOA queries',
      async () => {
        if (proc.child.exitCode !== null) throw new Error('named exited');
        for (const z of opts.zones) if ((await dig(z, 'SOA')).length === 0) return false;
        return true;
      },
      { timeoutMs: 20_000, intervalMs: 100 },
    );
  } catch (err) {
    const out = proc.output();
    await stop();
    throw new Error(`${(err as Error).message}\nnamed output:\n${out}`);
  }
  return {
    host: '127.0.0.1',
    port,
    zones: opts.zones,
    tsig,
    keyFile,
    dir,
    proc,
    dig,
    async nsupdate(lines: string[]) {
      const script = [`server 127.0.0.1 ${port}`, ...lines, 'send', ''].join('\n');
      await new Promise<void>((resolve, reject) => {
        const child = execFile(NSUPDATE, ['-v', '-k', keyFile], (err, _stdout, stderr) =>
          err ? reject(new Error(`nsupdate failed: ${err.message}\n${stderr}`)) : resolve(),
        );
        child.stdin!.end(script);
      });
    },
    stop,
  };
}
