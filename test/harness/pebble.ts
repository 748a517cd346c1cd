/**
 * Starts Pebble (Let's Encrypt's test CA) on 127.0.0.1 with free ports: Debian's /usr/bin/pebble
 * 2.4 by default, or with `binary: 'ari'` Pebble 2.10 built by scripts/build-pebble.sh, which adds
 * ACME Renewal Information (RFC 9773) and certificate profiles. Pebble ships no certificates for
 * its listener, so a throwaway CA and a localhost/127.0.0.1 certificate are made with openssl;
 * `caBundlePem` trusts them.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort } from './net.js';
import { requireBinary, startProc, type Proc } from './proc.js';
import { waitFor } from './wait.js';

const run = promisify(execFile);
const DEBIAN_PEBBLE = '/usr/bin/pebble';
const OPENSSL = '/usr/bin/openssl';
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The Pebble release with ARI that scripts/build-pebble.sh builds (keep both in step). */
export const PEBBLE_ARI_VERSION = 'v2.10.1';
/** Where scripts/build-pebble.sh puts that binary. */
export const PEBBLE_ARI_BINARY = join(ROOT, '.cache', 'pebble', PEBBLE_ARI_VERSION, 'pebble');

export interface PebbleOptions {
  /** host:port of the DNS server Pebble resolves and validates with (`-dnsserver`). */
  dnsServer: string;
  /** Port Pebble connects to for HTTP-01 validation (default: a free port, see `httpPort`). */
  httpPort?: number;
  /** Lifetime of issued certificates in seconds (Pebble's default is 5 years). */
  validityPeriodSec?: number;
  /** Extra environment, e.g. PEBBLE_AUTHZREUSE. */
  env?: Record<string, string>;
  /** Require external account binding with these key ids and HMAC keys (base64url). */
  eab?: Record<string, string>;
  /**
   * Which Pebble: 'debian' (default, /usr/bin/pebble 2.4: no renewalInfo), 'ari' (Pebble
   * PEBBLE_ARI_VERSION from scripts/build-pebble.sh: renewalInfo, `replaces`, profiles), or a path.
   */
  binary?: 'debian' | 'ari' | (string & {});
}

export interface Pebble {
  directoryUrl: string;
  /** PEM of the CA that signed Pebble's own TLS listener (for the ACME client's caBundle). */
  caBundlePem: string;
  /** The port Pebble validates HTTP-01 challenges against. */
  httpPort: number;
  managementUrl: string;
  /** Pebble's current issuing root (it changes at every start). */
  roots(): Promise<string>;
  intermediates(): Promise<string>;
  proc: Proc;
  stop(): Promise<void>;
}

/** GET from Pebble's ACME or management listener (trusting `ca`): status and body text. */
export function pebbleGet(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    // Pebble 2.10 answers 400 to requests without a User-Agent (RFC 8555 section 6.1).
    const req = request(url, { ca, timeout: 5000, headers: { 'user-agent': 'gangplank-tests' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

function pebbleBinary(which: PebbleOptions['binary']): string {
  if (!which || which === 'debian') {
    requireBinary(DEBIAN_PEBBLE, 'Pebble is missing: apt-get install -y pebble');
    return DEBIAN_PEBBLE;
  }
  if (which === 'ari') {
    requireBinary(PEBBLE_ARI_BINARY, `Pebble ${PEBBLE_ARI_VERSION} (with ACME Renewal Information) is not built: run scripts/build-pebble.sh ${PEBBLE_ARI_VERSION}`);
    return PEBBLE_ARI_BINARY;
  }
  requireBinary(which, `Pebble binary ${which} does not exist: build one with scripts/build-pebble.sh or pass binary: 'debian'`);
  return which;
}

export async function startPebble(opts: PebbleOptions): Promise<Pebble> {
  const binary = pebbleBinary(opts.binary);
  requireBinary(OPENSSL, 'openssl is missing: apt-get install -y openssl');
  const dir = mkdtempSync(join(tmpdir(), 'gangplank-pebble-'));
  const p = (f: string) => join(dir, f);
  const ossl = (args: string[]) => run(OPENSSL, args, { cwd: dir });
  await ossl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', p('ca.key'), '-out', p('ca.pem'), '-days', '2', '-subj', '/CN=gangplank test Pebble listener CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  await ossl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', p('key.pem'), '-out', p('csr.pem'), '-subj', '/CN=localhost']);
  writeFileSync(p('ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:FALSE\n');
  await ossl(['x509', '-req', '-in', p('csr.pem'), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial', '-out', p('cert.pem'), '-days', '2', '-extfile', p('ext.cnf')]);
  const caBundlePem = readFileSync(p('ca.pem'), 'utf8');

  const [port, mgmtPort, tlsPort] = [await freePort(), await freePort(), await freePort()];
  const httpPort = opts.httpPort ?? (await freePort());
  const config = {
    pebble: {
      listenAddress: `127.0.0.1:${port}`,
      managementListenAddress: `127.0.0.1:${mgmtPort}`,
      certificate: p('cert.pem'),
      privateKey: p('key.pem'),
      httpPort,
      tlsPort,
      ocspResponderURL: '',
      externalAccountBindingRequired: !!opts.eab,
      ...(opts.eab ? { externalAccountMACKeys: opts.eab } : {}),
      // Pebble 2.4 reads certificateValidityPeriod; 2.10 ignores it (deprecated) and takes the
      // validity from the profile an order names, `default` when none. Each ignores the other's field.
      ...(opts.validityPeriodSec
        ? { certificateValidityPeriod: opts.validityPeriodSec, profiles: { default: { description: 'gangplank tests', validityPeriod: opts.validityPeriodSec } } }
        : {}),
    },
  };
  writeFileSync(p('pebble.json'), JSON.stringify(config, null, 2));
  const proc = startProc(binary, ['-config', p('pebble.json'), '-dnsserver', opts.dnsServer, '-strict=false'], {
    name: 'pebble',
    cwd: dir,
    env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0', ...(opts.env ?? {}) },
  });
  const directoryUrl = `https://127.0.0.1:${port}/dir`;
  const managementUrl = `https://127.0.0.1:${mgmtPort}`;
  const stop = async () => {
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      'Pebble to serve its directory',
      async () => {
        if (proc.child.exitCode !== null) throw new Error(`pebble exited with ${proc.child.exitCode}`);
        const r = await pebbleGet(directoryUrl, caBundlePem);
        return r.status === 200 && r.body.includes('newOrder');
      },
      { timeoutMs: 20_000, intervalMs: 100 },
    );
  } catch (err) {
    const out = proc.output();
    await stop();
    throw new Error(`${(err as Error).message}\npebble output:\n${out}`);
  }
  const mgmt = async (path: string) => {
    const r = await pebbleGet(`${managementUrl}${path}`, caBundlePem);
    if (r.status !== 200) throw new Error(`Pebble management ${path} answered ${r.status}: ${r.body}`);
    return r.body;
  };
  return { directoryUrl, caBundlePem, httpPort, managementUrl, roots: () => mgmt('/roots/0'), intermediates: () => mgmt('/intermediates/0'), proc, stop };
}
