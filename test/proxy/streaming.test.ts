import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { waitFor } from '../harness/wait.js';
import { backend, endpoint, openRequest, route, startBackend, startProxy, TestTable, type Backendsrv, type ProxyUnderTest } from './helpers.js';

const MiB = 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 'x');

describe('bodies stream both ways without buffering', () => {
  let be: Backendsrv;
  let p: ProxyUnderTest;
  /** Bytes the download backend has handed to node so far (it honours backpressure). */
  let written = 0;
  let downloadDone = false;
  let uploadSeen = 0;
  let uploadPaused = false;
  let resumeUpload: (() => void) | undefined;
  let endlessOpen = false;

  before(async () => {
    be = await startBackend('stream', (req, res) => {
      if (req.url === '/download') {
        written = 0;
        downloadDone = false;
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        const pump = () => {
          while (written < 50 * MiB) {
            written += CHUNK.length;
            if (!res.write(CHUNK)) {
              res.once('drain', pump);
              return;
            }
          }
          downloadDone = true;
          res.end();
        };
        pump();
      } else if (req.url === '/upload') {
        uploadSeen = 0;
        req.on('data', (c: Buffer) => {
          uploadSeen += c.length;
          // Stop reading after 1 MiB until the test says so: the client must feel it.
          if (uploadSeen >= MiB && !uploadPaused && resumeUpload === undefined) {
            uploadPaused = true;
            req.pause();
            resumeUpload = () => req.resume();
          }
        });
        req.on('end', () => res.end(String(uploadSeen)));
      } else if (req.url === '/trailers') {
        res.writeHead(200, { trailer: 'x-checksum' });
        res.write('part one;');
        res.write('part two');
        res.addTrailers({ 'x-checksum': 'abc123' });
        res.end();
      } else if (req.url === '/request-trailers') {
        let n = 0;
        req.on('data', (c: Buffer) => (n += c.length));
        req.on('end', () => res.end(`${n} ${JSON.stringify(req.rawTrailers)}`));
      } else if (req.url === '/204') {
        res.writeHead(204, { 'x-kind': 'empty' });
        res.end();
      } else if (req.url === '/304') {
        res.writeHead(304, { etag: '"v1"' });
        res.end();
      } else if (req.url === '/head') {
        res.writeHead(200, { 'content-length': '1234', 'content-type': 'text/plain' });
        res.end(req.method === 'HEAD' ? undefined : 'x'.repeat(1234));
      } else if (req.url === '/endless') {
        endlessOpen = true;
        res.writeHead(200);
        const t = setInterval(() => res.write('tick\n'), 20);
        res.on('close', () => {
          clearInterval(t);
          endlessOpen = false;
        });
      } else if (req.url === '/echo') {
        req.pipe(res);
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    p = await startProxy(new TestTable([route('', '/', backend('default/stream:80', [endpoint(be.port)]))]));
  });
  after(async () => {
    await p?.close();
    await be?.close();
  });

  test('50 MiB download: a paused client holds the backend back, and everything arrives', async () => {
    let received = 0;
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get(`${p.url}/download`, { headers: { host: 's.test' }, agent: false }, resolve).on('error', reject);
    });
    res.pause();
    // With nothing read by the client the backend must stall far below 50 MiB.
    await waitFor('backend stalls on backpressure', async () => {
      const before = written;
      await new Promise((r) => setTimeout(r, 200));
      return written === before && written > 0 ? written : undefined;
    });
    assert.ok(!downloadDone, 'backend finished although the client read nothing');
    assert.ok(written < 20 * MiB, `backend wrote ${written / MiB} MiB before the client read anything`);
    res.on('data', (c: Buffer) => (received += c.length));
    res.resume();
    await new Promise((r) => res.on('end', r));
    assert.equal(received, 50 * MiB);
  });

  test('50 MiB chunked upload: a stalled backend holds the client back, and everything arrives', async () => {
    uploadPaused = false;
    resumeUpload = undefined;
    let sent = 0;
    let clientBlocked = false;
    const { req, response } = openRequest(`${p.url}/upload`, { method: 'POST', headers: { host: 's.test' } });
    const pump = () => {
      while (sent < 50 * MiB) {
        sent += CHUNK.length;
        if (!req.write(CHUNK)) {
          clientBlocked = true;
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
    await waitFor('backend pauses after 1 MiB', () => uploadPaused);
    await waitFor('client stalls', async () => {
      const before = sent;
      await new Promise((r) => setTimeout(r, 200));
      return sent === before && clientBlocked;
    });
    assert.ok(sent < 20 * MiB, `client pushed ${sent / MiB} MiB into a stalled path`);
    resumeUpload!();
    assert.equal((await response).text, String(50 * MiB));
  });

  test('chunked response trailers pass through', async () => {
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get(`${p.url}/trailers`, { headers: { host: 's.test', te: 'trailers' }, agent: false }, resolve).on('error', reject);
    });
    let body = '';
    res.on('data', (d) => (body += d));
    await new Promise((r) => res.on('end', r));
    assert.equal(body, 'part one;part two');
    assert.equal(res.headers.trailer, 'x-checksum');
    assert.equal(res.trailers['x-checksum'], 'abc123');
  });

  test('request trailers of a chunked upload reach the backend, without those that would reframe or reroute it', async () => {
    const body = await new Promise<string>((resolve, reject) => {
      const r = http.request(`${p.url}/request-trailers`, { method: 'POST', headers: { host: 's.test', trailer: 'x-checksum' }, agent: false }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve(text));
      });
      r.on('error', reject);
      r.write('abc');
      r.addTrailers([['X-Checksum', 'c1'], ['Host', 'evil.test'], ['Proxy-Authorization', 'Basic eA=='], ['x-two', 'v2']]);
      r.end('de');
    });
    assert.equal(body, `5 ${JSON.stringify(['X-Checksum', 'c1', 'x-two', 'v2'])}`);
  });

  test('HEAD, 204 and 304 carry no body and keep the connection usable', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const one = (path: string, method = 'GET') =>
        new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
          const r = http.request(`${p.url}${path}`, { method, headers: { host: 's.test' }, agent }, (res) => {
            let body = '';
            res.on('data', (d) => (body += d));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
          });
          r.on('error', reject);
          r.end();
        });
      const head = await one('/head', 'HEAD');
      assert.equal(head.status, 200);
      assert.equal(head.headers['content-length'], '1234');
      assert.equal(head.body, '');
      const nc = await one('/204');
      assert.equal(nc.status, 204);
      assert.equal(nc.headers['x-kind'], 'empty');
      const nm = await one('/304');
      assert.equal(nm.status, 304);
      assert.equal(nm.headers.etag, '"v1"');
      const full = await one('/head');
      assert.equal(full.body.length, 1234);
    } finally {
      agent.destroy();
    }
  });

  test('Expect: 100-continue gets a 100 before the body is sent', async () => {
    const result = await new Promise<{ got100: boolean; body: string }>((resolve, reject) => {
      let got100 = false;
      const req = http.request(`${p.url}/echo`, { method: 'POST', headers: { host: 's.test', expect: '100-continue', 'content-length': '5' }, agent: false });
      req.on('continue', () => {
        got100 = true;
        req.end('hello');
      });
      req.on('response', (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ got100, body }));
      });
      req.on('error', reject);
    });
    assert.deepEqual(result, { got100: true, body: 'hello' });
  });

  test('a client that goes away mid-response cancels the upstream request', async () => {
    const req = http.get(`${p.url}/endless`, { headers: { host: 's.test' }, agent: false });
    req.on('error', () => undefined);
    const res = await new Promise<http.IncomingMessage>((resolve) => req.on('response', resolve));
    await new Promise((r) => res.once('data', r));
    assert.equal(endlessOpen, true);
    req.destroy();
    await waitFor('backend response closed', () => !endlessOpen);
  });
});
