import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { mkdirSync, openSync, closeSync, readFileSync, statSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Ports handed to child processes are drawn below the kernel's ephemeral range. A port the kernel
 * gave us with listen(0) is free only until the next outgoing connection on the machine takes it as
 * its source port, and test files run in parallel, each making connections: CI once lost a
 * gangplank start to EADDRINUSE that way. Below the ephemeral range only another listener can take
 * a port, and every listener here either binds port 0 or comes through this function. Test files
 * are separate processes, so a port handed out is also reserved for ten minutes with a marker file
 * that only one process can create: two files can never be given the same port at once.
 */
const EPHEMERAL_LOW = (() => {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 ? low : 32768;
  } catch {
    return 32768;
  }
})();
const LOW = 20000;

function candidate(): number {
  if (EPHEMERAL_LOW - LOW < 2000) return 0; // no room below the range: let the kernel choose
  return LOW + Math.floor(Math.random() * (EPHEMERAL_LOW - LOW));
}

const RESERVED = join(tmpdir(), 'gangplank-test-ports');
const RESERVATION_MS = 10 * 60_000;

/** Claims `port` for this process unless another test process claimed it in the last ten minutes. */
function reserve(port: number): boolean {
  if (port === 0) return true;
  mkdirSync(RESERVED, { recursive: true });
  const marker = join(RESERVED, String(port));
  try {
    closeSync(openSync(marker, 'wx'));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  try {
    if (Date.now() - statSync(marker).mtimeMs < RESERVATION_MS) return false;
    const now = new Date();
    utimesSync(marker, now, now); // a stale claim: take it over (two takers at once is the rare race left)
    return true;
  } catch {
    return false;
  }
}

function tcpFree(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(undefined));
    srv.listen(port, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : undefined));
    });
  });
}

function udpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A TCP port that was free a moment ago on 127.0.0.1 (and, when `udp` is set, free for UDP too). */
export async function freePort(opts: { udp?: boolean } = {}): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const want = candidate();
    if (!reserve(want)) continue;
    const port = await tcpFree(want);
    if (port === undefined) continue;
    if (!opts.udp || (await udpFree(port))) return port;
  }
  throw new Error('no free port found');
}
