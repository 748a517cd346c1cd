/**
 * Black-box: the websecure entrypoint of `gangplank run` with certificates from Secrets. Real
 * clients: openssl s_client, curl (HTTP/1.1 and HTTP/2), node's http2 client, ws over wss.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { connect as h2connect, type ClientHttp2Session } from 'node:http2';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import { request as httpRequest } from 'node:http';
import { X509Certificate } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { WebSocket, WebSocketServer } from 'ws';
import { startBackend, type Backend } from '../harness/backends.js';
import { startGangplank, tempDir, type Gangplank } from '../harness/gangplank.js';
import { serviceWithEndpoints, writeManifest } from '../harness/manifests.js';
import { freePort } from '../harness/net.js';
import { requireBinary } from '../harness/proc.js';
import { waitFor } from '../harness/wait.js';
import { handshake, makeCert, tlsIngress, tlsSecret, websecureArgs, type TestCert } from '../proxy/tls-helpers.js';

const exec = promisify(execFile);

/** GET over HTTP/2 with a chosen SNI name and :authority. */
function h2get(port: number, servername: string, authority: string, path = '/', ca?: string[]): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const s: ClientHttp2Session = h2connect(`https://127.0.0.1:${port}`, { servername, ...(ca ? { ca } : { rejectUnauthorized: false }) });
    s.on('error', reject);
    const req = s.request({ ':path': path, ':authority': authority });
    let body = '';
    let headers: Record<string, unknown> = {};
    req.setEncoding('utf8');
    req.on('response', (h) => (headers = h));
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      s.close();
      resolve({ status: Number(headers[':status']), body, headers });
    });
    req.on('error', reject);
    req.end();
  });
}

/** A plain HTTP request to the web entrypoint. */
function webReq(port: number, host: string, path: string, method = 'GET'): Promise<{ status: number; location?: string; body: string }> {
  return new Promise((resolve, reject) => {
    const r = httpRequest({ host: '127.0.0.1', port, path, method, headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ...(res.headers.location ? { location: res.headers.location } : {}) }));
    });
    r.on('error', reject);
    r.end();
  });
}

describe('websecure: certificates by SNI, protocols, HTTP/2, 421, redirects, entrypoints', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let g: Gangplank;
  let httpsPort = 0;
  let app: Backend;
  let wss: WebSocketServer;
  let wsPort = 0;
  const certs: Record<string, TestCert> = {};

  before(async () => {
    requireBinary('/usr/bin/curl', 'apt-get install curl');
    dir = await tempDir();
    app = await startBackend('app');
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((r) => wss.on('listening', () => r()));
    wsPort = (wss.address() as { port: number }).port;
    wss.on('connection', (ws, req) => ws.on('message', (m) => ws.send(`echo ${String(m)} proto=${String(req.headers['x-forwarded-proto'])}`)));
    certs.app = await makeCert(['app.example.com']);
    certs.wild = await makeCert(['*.example.com']);
    certs.other = await makeCert(['other.test']);
    certs.rsa = await makeCert(['rsa.example.org'], { rsa: true });
    certs.mismatch = await makeCert(['nothere.example.org']);
    certs.expired = await makeCert(['expired.example.org'], { notBefore: new Date(Date.now() - 10 * 86400_000), notAfter: new Date(Date.now() - 86400_000) });
    await writeManifest(dir.path, 'services.yaml', [...serviceWithEndpoints('app', [app.port]), ...serviceWithEndpoints('ws', [wsPort])]);
    await writeManifest(dir.path, 'secrets.yaml', [
      tlsSecret('app-cert', certs.app),
      tlsSecret('wild-cert', certs.wild),
      tlsSecret('other-cert', certs.other),
      tlsSecret('rsa-cert', certs.rsa),
      tlsSecret('mismatch-cert', certs.mismatch),
      tlsSecret('expired-cert', certs.expired),
      { apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: 'bad-cert', namespace: 'default' }, data: { 'tls.crt': Buffer.from('-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n').toString('base64'), 'tls.key': Buffer.from(certs.app.key).toString('base64') } },
      tlsSecret('wrongkey-cert', { cert: certs.other.cert, key: certs.app.key }),
    ]);
    await writeManifest(dir.path, 'ingresses.yaml', [
      tlsIngress('main', ['app.example.com', '*.example.com', 'other.test', 'rsa.example.org', 'mismatch.example.org', 'expired.example.org', 'bad.example.org', 'wrongkey.example.org'], 'app', [
        { hosts: ['app.example.com'], secretName: 'app-cert' },
        { hosts: ['*.example.com'], secretName: 'wild-cert' },
        { hosts: ['other.test'], secretName: 'other-cert' },
        { hosts: ['rsa.example.org'], secretName: 'rsa-cert' },
        { hosts: ['mismatch.example.org'], secretName: 'mismatch-cert' },
        { hosts: ['expired.example.org'], secretName: 'expired-cert' },
        { hosts: ['bad.example.org'], secretName: 'bad-cert' },
        { hosts: ['wrongkey.example.org'], secretName: 'wrongkey-cert' },
      ]),
      tlsIngress('ws', ['ws.example.com'], 'ws', [{ hosts: ['ws.example.com'], secretName: 'wild-cert' }]),
      tlsIngress('noredirect', ['keep.example.net'], 'app', [{ hosts: ['keep.example.net'] }], { 'gangplank.dev/ssl-redirect': 'false' }),
      tlsIngress('nginx-noredirect', ['keep2.example.net'], 'app', [{ hosts: ['keep2.example.net'] }], { 'nginx.ingress.kubernetes.io/ssl-redirect': 'false' }),
      tlsIngress('plain', ['plain.example.net'], 'app', []),
      tlsIngress('secure-only', ['only.example.net'], 'app', [], { 'traefik.ingress.kubernetes.io/router.entrypoints': 'websecure' }),
      tlsIngress('web-only', ['webonly.example.net'], 'app', [], { 'traefik.ingress.kubernetes.io/router.entrypoints': 'web' }),
      tlsIngress('router-tls', ['rtls.example.net'], 'app', [], { 'traefik.ingress.kubernetes.io/router.tls': 'true' }),
    ]);
    httpsPort = await freePort();
    g = await startGangplank(dir.path, websecureArgs(httpsPort));
  });

  after(async () => {
    await g?.stop();
    await app?.close();
    wss?.close();
    await dir?.remove();
  });

  test('the certificate is chosen by SNI: exact name, then a one-label wildcard, then the default', async () => {
    assert.equal((await handshake(httpsPort, 'app.example.com')).subject, 'app.example.com');
    assert.equal((await handshake(httpsPort, 'APP.example.com')).subject, 'app.example.com', 'SNI is case-insensitive');
    assert.equal((await handshake(httpsPort, 'x.example.com')).subject, '*.example.com');
    assert.equal((await handshake(httpsPort, 'other.test')).subject, 'other.test');
    // RSA (cert-manager's default key type) and ECDSA certificates side by side.
    assert.equal((await handshake(httpsPort, 'rsa.example.org')).subject, 'rsa.example.org');
    assert.equal((await handshake(httpsPort, 'a.b.example.com')).subject, 'gangplank default certificate', 'a wildcard covers one label');
    assert.equal((await handshake(httpsPort, 'unknown.invalid')).subject, 'gangplank default certificate');
    assert.equal((await handshake(httpsPort, null)).subject, 'gangplank default certificate', 'no SNI: default');
    assert.equal((await handshake(httpsPort, 'keep.example.net')).subject, 'gangplank default certificate', 'spec.tls without secretName: default');
  });

  test('the generated default certificate is kept in the state dir with a private key of mode 0600', async () => {
    const key = await stat(join(g.stateDir, 'default-tls-rsa', 'tls.key'));
    assert.equal(key.mode & 0o777, 0o600);
    const cert = new X509Certificate(await readFile(join(g.stateDir, 'default-tls-rsa', 'tls.crt')));
    assert.match(cert.subject, /gangplank default certificate/);
  });

  test('TLS 1.2 and 1.3 are served; TLS 1.1 is refused', async () => {
    const v13 = await handshake(httpsPort, 'app.example.com', ['-tls1_3']);
    assert.ok(v13.ok, v13.output);
    assert.equal(v13.protocol, 'TLSv1.3');
    const v12 = await handshake(httpsPort, 'app.example.com', ['-tls1_2']);
    assert.ok(v12.ok, v12.output);
    assert.equal(v12.protocol, 'TLSv1.2');
    assert.match(v12.output, /Cipher is ECDHE-ECDSA-(AES\d+-GCM-SHA\d+|CHACHA20-POLY1305)/);
    const v11 = await handshake(httpsPort, 'app.example.com', ['-tls1_1']);
    assert.equal(v11.ok, false, v11.output);
  });

  test('sessions resume with tickets (TLS 1.3 and 1.2)', async () => {
    for (const v of ['-tls1_3', '-tls1_2']) {
      const f = join(dir.path, `sess${v}`);
      const first = await handshake(httpsPort, 'app.example.com', [v, '-sess_out', f]);
      assert.ok(first.ok && !first.reused, first.output);
      for (let i = 0; i < 3; i++) {
        const again = await handshake(httpsPort, 'app.example.com', [v, '-sess_in', f]);
        assert.ok(again.reused, `${v} resumption ${i}: ${again.output}`);
      }
    }
  });

  test('curl over HTTP/1.1 and HTTP/2 reaches the backend, which sees X-Forwarded-Proto https', async () => {
    // Outside the manifests directory: not a manifest.
    const caFile = join(g.stateDir, 'app-ca.pem');
    await writeFile(caFile, certs.app!.cert);
    for (const [flag, version] of [['--http1.1', '1.1'], ['--http2', '2']] as const) {
      const { stdout } = await exec('curl', ['-sS', flag, '--cacert', caFile, '--resolve', `app.example.com:${httpsPort}:127.0.0.1`, '-w', '\n%{http_version} %{http_code}', `https://app.example.com:${httpsPort}/hello?x=1`]);
      const [body, status] = stdout.split('\n');
      assert.equal(status, `${version} 200`);
      const json = JSON.parse(body!) as { backend: string; path: string; headers: Record<string, string> };
      assert.equal(json.backend, 'app');
      assert.equal(json.path, '/hello?x=1');
      assert.equal(json.headers['x-forwarded-proto'], 'https');
      assert.equal(json.headers.host, `app.example.com:${httpsPort}`);
      assert.equal(json.headers['x-forwarded-port'], String(httpsPort));
    }
  });

  test('node http2 client: requests route by :authority', async () => {
    const r = await h2get(httpsPort, 'app.example.com', 'app.example.com', '/h2', [certs.app!.cert]);
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).path, '/h2');
    const missing = await h2get(httpsPort, 'app.example.com', 'app.example.com', '/x');
    assert.equal(missing.status, 200);
  });

  test('a request for a host that would get another certificate than its SNI name is answered 421', async () => {
    assert.equal((await h2get(httpsPort, 'app.example.com', 'other.test')).status, 421);
    assert.equal((await h2get(httpsPort, 'app.example.com', 'x.example.com')).status, 421, 'wildcard cert differs from the exact one');
    assert.equal((await h2get(httpsPort, 'x.example.com', 'y.example.com')).status, 200, 'same certificate: connection reuse is fine');
    const { stdout } = await exec('curl', ['-sk', '--http1.1', '--resolve', `app.example.com:${httpsPort}:127.0.0.1`, '-H', 'Host: other.test', '-o', '/dev/null', '-w', '%{http_code}', `https://app.example.com:${httpsPort}/`]);
    assert.equal(stdout, '421');
  });

  test('web redirects TLS hosts to https (301 for GET/HEAD, 308 otherwise) except ACME challenges and opted-out Ingresses', async () => {
    const get = await webReq(g.httpPort, 'app.example.com', '/a/b?q=1');
    assert.equal(get.status, 301);
    assert.equal(get.location, `https://app.example.com:${httpsPort}/a/b?q=1`);
    assert.equal((await webReq(g.httpPort, 'app.example.com', '/', 'HEAD')).status, 301);
    const post = await webReq(g.httpPort, 'app.example.com', '/form', 'POST');
    assert.equal(post.status, 308);
    assert.equal(post.location, `https://app.example.com:${httpsPort}/form`);
    assert.equal((await webReq(g.httpPort, 'x.example.com', '/')).status, 301, 'wildcard TLS host');
    const acme = await webReq(g.httpPort, 'app.example.com', '/.well-known/acme-challenge/token123');
    assert.equal(acme.status, 200, 'ACME challenge paths are never redirected');
    assert.equal(JSON.parse(acme.body).backend, 'app');
    assert.equal((await webReq(g.httpPort, 'keep.example.net', '/')).status, 200, 'gangplank.dev/ssl-redirect: "false"');
    assert.equal((await webReq(g.httpPort, 'keep2.example.net', '/')).status, 200, 'nginx ssl-redirect: "false"');
    assert.equal((await webReq(g.httpPort, 'plain.example.net', '/')).status, 200, 'no TLS, no redirect');
    assert.equal((await webReq(g.httpPort, 'rtls.example.net', '/')).status, 301, 'traefik router.tls turns TLS (and the redirect) on');
    assert.equal((await handshake(httpsPort, 'rtls.example.net')).subject, 'gangplank default certificate', 'router.tls without spec.tls: default certificate');
  });

  test('traefik router.entrypoints: a route of another entrypoint answers 404', async () => {
    assert.equal((await webReq(g.httpPort, 'only.example.net', '/')).status, 404);
    assert.equal((await h2get(httpsPort, 'only.example.net', 'only.example.net')).status, 200);
    assert.equal((await webReq(g.httpPort, 'webonly.example.net', '/')).status, 200);
    assert.equal((await h2get(httpsPort, 'webonly.example.net', 'webonly.example.net')).status, 404);
    assert.equal((await h2get(httpsPort, 'plain.example.net', 'plain.example.net')).status, 200, 'routes without entrypoints answer on both');
  });

  test('WebSocket over TLS (wss) works like on web', async () => {
    // ws hands TLS options (servername) through to tls.connect; its types do not list them.
    const opts = { ca: certs.wild!.cert, servername: 'ws.example.com', headers: { host: 'ws.example.com' } };
    const ws = new WebSocket(`wss://127.0.0.1:${httpsPort}/chat`, opts);
    const msg = await new Promise<string>((resolve, reject) => {
      ws.on('open', () => ws.send('hi'));
      ws.on('message', (m) => resolve(String(m)));
      ws.on('error', reject);
    });
    ws.close();
    assert.equal(msg, 'echo hi proto=https');
  });

  test('bad Secret data: default certificate served, error in /api/objects', async () => {
    for (const host of ['bad.example.org', 'expired.example.org', 'wrongkey.example.org']) {
      assert.equal((await handshake(httpsPort, host)).subject, 'gangplank default certificate', host);
    }
    const objs = await g.admin<{ objects: { kind: string; name: string; error: string | null }[] }>('/api/objects');
    const err = (name: string) => objs.objects.find((o) => o.kind === 'Secret' && o.name === name)?.error;
    assert.match(err('bad-cert') ?? '', /bad-cert.*tls\.crt/);
    assert.match(err('expired-cert') ?? '', /expired/);
    assert.match(err('wrongkey-cert') ?? '', /does not match/);
    assert.equal(err('app-cert'), null);
    assert.match(g.proc.output(), /bad-cert/, 'the problem is logged');
  });

  test('a certificate that does not cover its host is served, and flagged in /api/routes', async () => {
    assert.equal((await handshake(httpsPort, 'mismatch.example.org')).subject, 'nothere.example.org');
    const routes = await g.admin<{ routes: { host: string; tls: { secret: string; certificate: string; problems: string[] } | null }[] }>('/api/routes');
    const r = routes.routes.find((x) => x.host === 'mismatch.example.org');
    assert.equal(r?.tls?.certificate, 'secret');
    assert.match(r?.tls?.problems.join(' ') ?? '', /covers nothere\.example\.org, not mismatch\.example\.org/);
    const ok = routes.routes.find((x) => x.host === 'app.example.com');
    assert.deepEqual(ok?.tls?.problems, []);
  });
});

describe('certificate rotation under load', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let g: Gangplank;
  let app: Backend;
  let httpsPort = 0;

  before(async () => {
    dir = await tempDir();
    app = await startBackend('app');
    await writeManifest(dir.path, 'services.yaml', serviceWithEndpoints('app', [app.port]));
    await writeManifest(dir.path, 'ingress.yaml', [tlsIngress('rot', ['rot.example.com'], 'app', [{ hosts: ['rot.example.com'], secretName: 'rot-cert' }])]);
    httpsPort = await freePort();
  });
  after(async () => {
    await g?.stop();
    await app?.close();
    await dir?.remove();
  });

  test('rewriting the Secret switches new handshakes to the new certificate with zero failed requests', async () => {
    // Distinct subjects: a verifier finds a self-signed issuer by its name.
    const first = await makeCert(['rot.example.com'], { cn: 'rot one' });
    const second = await makeCert(['rot.example.com'], { cn: 'rot two' });
    await writeManifest(dir.path, 'secret.yaml', [tlsSecret('rot-cert', first)]);
    g = await startGangplank(dir.path, websecureArgs(httpsPort));
    const fp = (pem: string) => new X509Certificate(pem).fingerprint256;
    // Two kinds of clients: one keeps its connection, one makes a new TLS connection per request.
    const keep = new HttpsAgent({ keepAlive: true, ca: [first.cert, second.cert], servername: 'rot.example.com' });
    const fresh = new HttpsAgent({ keepAlive: false, ca: [first.cert, second.cert], servername: 'rot.example.com', maxCachedSessions: 0 });
    let ok = 0;
    const failures: string[] = [];
    const seen = new Set<string>();
    let running = true;
    const one = (agent: HttpsAgent) =>
      new Promise<void>((resolve) => {
        const r = httpsRequest({ host: '127.0.0.1', port: httpsPort, path: '/', agent, headers: { host: 'rot.example.com' } }, (res) => {
          const peer = (res.socket as import('node:tls').TLSSocket).getPeerCertificate();
          if (peer?.fingerprint256) seen.add(peer.fingerprint256);
          res.resume();
          res.on('end', () => {
            if (res.statusCode === 200) ok++;
            else failures.push(`status ${res.statusCode}`);
            resolve();
          });
        });
        r.on('error', (e) => {
          failures.push(e.message);
          resolve();
        });
        r.end();
      });
    const loop = async (agent: HttpsAgent) => {
      while (running) await one(agent);
    };
    const loops = [loop(keep), loop(keep), loop(fresh), loop(fresh)];
    await waitFor('requests flowing', () => ok > 50);
    await writeManifest(dir.path, 'secret.yaml', [tlsSecret('rot-cert', second)]);
    await waitFor('the new certificate served on new connections', async () => (await handshake(httpsPort, 'rot.example.com')).subject === 'rot two' && seen.has(fp(second.cert)));
    const after = ok;
    await waitFor('more requests after the switch', () => ok > after + 50);
    running = false;
    await Promise.all(loops);
    keep.destroy();
    fresh.destroy();
    assert.deepEqual(failures, []);
    assert.ok(seen.has(fp(first.cert)) && seen.has(fp(second.cert)));
  });
});
