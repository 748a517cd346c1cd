import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AccessLog } from '../../src/proxy/accesslog.js';
import { requireBinary } from '../harness/proc.js';
import { waitFor } from '../harness/wait.js';
import { backend, endpoint, nodeGet, route, startBackend, startProxy, TestTable, type Backendsrv } from './helpers.js';

const run = promisify(execFile);

describe('https backends are verified', () => {
  let dir: string;
  let cert: string;
  let server: Server;
  let port: number;
  before(async () => {
    const openssl = requireBinary('/usr/bin/openssl', 'apt-get install openssl');
    dir = await mkdtemp(join(tmpdir(), 'gp-proxy-tls-'));
    await run(openssl, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=app.test', '-addext', 'subjectAltName=DNS:app.test,IP:127.0.0.1']);
    cert = await readFile(join(dir, 'cert.pem'), 'utf8');
    server = createHttpsServer({ cert, key: await readFile(join(dir, 'key.pem'), 'utf8') }, (req, res) => res.end(`tls ok ${req.headers.host}`));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const table = () => new TestTable([route('', '/', backend('default/tls:443', [endpoint(port, '127.0.0.1', 'https')], { scheme: 'https' }))]);

  test('a backend certificate from a trusted CA is accepted', async () => {
    const p = await startProxy(table(), { upstreamCa: [cert] });
    try {
      const r = await nodeGet(`${p.url}/`, { host: 'app.test' });
      assert.equal(r.status, 200);
      assert.equal(r.text, 'tls ok app.test');
    } finally {
      await p.close();
    }
  });

  test('an untrusted backend certificate is refused with 502 (verification is on by default)', async () => {
    const p = await startProxy(table());
    try {
      const r = await nodeGet(`${p.url}/`, { host: 'app.test' });
      assert.equal(r.status, 502);
      assert.match(r.text, /tls/);
      assert.match(await p.registry.metrics(), /gangplank_upstream_errors_total\{entrypoint="web",kind="tls"\} 1/);
    } finally {
      await p.close();
    }
  });
});

describe('access log', () => {
  let be: Backendsrv;
  before(async () => {
    be = await startBackend('a', (_req, res) => res.end('12345'));
  });
  after(async () => {
    await be?.close();
  });

  test('one JSON line per request with the fields operators need', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = { write: (chunk: string) => lines.push(...chunk.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)) };
    const accessLog = new AccessLog(sink);
    const p = await startProxy(new TestTable([route('log.test', '/', backend('default/a:80', [endpoint(be.port)]))]), { accessLog });
    try {
      await nodeGet(`${p.url}/x/../hello?q=1`, { host: 'log.test' });
      await nodeGet(`${p.url}/`, { host: 'other.test' });
      await waitFor('two access log lines', () => lines.length >= 2);
      const [ok, nf] = lines;
      assert.equal(ok!.entrypoint, 'web');
      assert.equal(ok!.method, 'GET');
      assert.equal(ok!.host, 'log.test');
      assert.equal(ok!.path, '/hello?q=1');
      assert.equal(ok!.status, 200);
      assert.equal(ok!.bytes, 5);
      assert.equal(ok!.route, 'log.test|Prefix|/');
      assert.equal(ok!.upstream, `http://127.0.0.1:${be.port}`);
      assert.equal(ok!.clientIp, '127.0.0.1');
      assert.equal(typeof ok!.durationMs, 'number');
      assert.equal(ok!.level, 'info');
      assert.equal(new Date(ok!.time as string).toISOString(), ok!.time);
      assert.equal(nf!.status, 404);
    } finally {
      await p.close();
    }
  });
});
