/**
 * Black-box: TLS session resumption across worker processes. The primary hands every worker the
 * same ticket keys, so a session made by one worker resumes on any other.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { connect, type TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startBackend, type Backend } from '../harness/backends.js';
import { startGangplank, tempDir, type Gangplank } from '../harness/gangplank.js';
import { serviceWithEndpoints, writeManifest } from '../harness/manifests.js';
import { freePort } from '../harness/net.js';
import { requireBinary } from '../harness/proc.js';
import { waitFor } from '../harness/wait.js';
import { handshake, makeCert, tlsIngress, tlsSecret, websecureArgs, type TestCert } from '../proxy/tls-helpers.js';

const exec = promisify(execFile);

function open(port: number, cert: TestCert, session?: Buffer, version?: 'TLSv1.2' | 'TLSv1.3'): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, servername: 'app.example.com', ca: cert.cert, ...(session ? { session } : {}), ...(version ? { minVersion: version, maxVersion: version } : {}) });
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Pids owning the server side of established connections to `port`. */
async function serverPids(port: number): Promise<Set<string>> {
  const { stdout } = await exec(requireBinary('/usr/bin/ss', 'apt-get install iproute2'), ['-tnpH', 'state', 'established', `( sport = :${port} )`]);
  return new Set([...stdout.matchAll(/pid=(\d+)/g)].map((m) => m[1]!));
}

describe('TLS session resumption across two workers', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let g: Gangplank;
  let app: Backend;
  let cert: TestCert;
  let httpsPort = 0;

  before(async () => {
    dir = await tempDir();
    app = await startBackend('app');
    cert = await makeCert(['app.example.com']);
    await writeManifest(dir.path, 'all.yaml', [
      ...serviceWithEndpoints('app', [app.port]),
      tlsSecret('app-cert', cert),
      tlsIngress('app', ['app.example.com'], 'app', [{ hosts: ['app.example.com'], secretName: 'app-cert' }]),
    ]);
    httpsPort = await freePort();
    g = await startGangplank(dir.path, websecureArgs(httpsPort, ['--workers', '2']));
  });

  after(async () => {
    await g?.stop();
    await app?.close();
    await dir?.remove();
  });

  test('openssl s_client resumes every time, whichever worker accepts', async () => {
    for (const v of ['-tls1_3', '-tls1_2']) {
      const f = join(dir.path, `sess${v}`);
      const first = await handshake(httpsPort, 'app.example.com', [v, '-sess_out', f]);
      assert.ok(first.ok, first.output);
      const results = await Promise.all(Array.from({ length: 12 }, () => handshake(httpsPort, 'app.example.com', [v, '-sess_in', f])));
      for (const r of results) assert.ok(r.reused, `${v}: ${r.output}`);
    }
  });

  test('sessions resume on connections held by both workers', async () => {
    for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
      const first = await open(httpsPort, cert, undefined, version);
      // TLS 1.3 tickets arrive after the handshake.
      let session: Buffer | undefined;
      first.on('session', (s: Buffer) => (session = s));
      first.write('GET / HTTP/1.1\r\nHost: app.example.com\r\n\r\n');
      await waitFor('a session ticket', () => session !== undefined || (version === 'TLSv1.2' && (session = first.getSession()) !== undefined));
      const held: TLSSocket[] = [first];
      try {
        // Hold connections open until both workers own some (the kernel picks the worker).
        await waitFor(`connections on both workers (${version})`, async () => {
          for (let i = 0; i < 4; i++) held.push(await open(httpsPort, cert, session, version));
          return (await serverPids(httpsPort)).size >= 2;
        }, { timeoutMs: 20_000 });
        for (const s of held.slice(1)) assert.ok(s.isSessionReused(), `${version}: a held connection did a full handshake`);
      } finally {
        for (const s of held) s.destroy();
      }
    }
  });
});
