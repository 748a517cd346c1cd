/**
 * The plain-HTTP fast path (src/proxy/fast.ts) through a real HttpProxy and real backends, on raw
 * sockets where the exact bytes matter. The fast path writes the Connection header it adds in lower
 * case (`connection:`) where Node's server writes `Connection:` (the backend's own is hop-by-hop and
 * never forwarded); the tests use that to check which of the two answered, since that is what the
 * hand-over is about.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { get as httpGet, type IncomingMessage, type ServerResponse } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { WebSocket, WebSocketServer } from 'ws';
import { waitFor } from '../harness/wait.js';
import { backend, endpoint, parseRawResponse, route, startBackend, startProxy, TestTable, type Backendsrv, type ProxyUnderTest } from './helpers.js';

/** A raw client connection that keeps everything it received and whether it was closed. */
class Raw {
  text = '';
  closed = false;
  readonly s: Socket;
  constructor(port: number) {
    this.s = connect(port, '127.0.0.1');
    this.s.on('data', (d: Buffer) => (this.text += d.toString('latin1')));
    this.s.on('error', () => undefined);
    this.s.on('close', () => (this.closed = true));
  }
  send(data: string): void {
    this.s.write(data);
  }
  /** Waits until `n` complete responses are in `text` (sized or chunked bodies), returns them parsed. */
  async responses(n: number, timeoutMs = 5_000): Promise<ReturnType<typeof parseRawResponse>[]> {
    return waitFor(`${n} complete response(s) (got ${JSON.stringify(this.text.slice(0, 300))})`, () => {
      const out = splitResponses(this.text);
      return out.length >= n ? out : undefined;
    }, { timeoutMs, intervalMs: 10 });
  }
  async waitClosed(timeoutMs = 5_000): Promise<void> {
    await waitFor('the proxy closes the connection', () => this.closed, { timeoutMs, intervalMs: 10 });
  }
  destroy(): void {
    this.s.destroy();
  }
}

/** `size` bytes from xorshift32 seeded with `seed` (distinct content per seed, reproducible). */
function seededBytes(seed: number, size: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/** Complete responses in `text`, in order (a response without framing ends at the end of `text`). */
function splitResponses(text: string): ReturnType<typeof parseRawResponse>[] {
  const out: ReturnType<typeof parseRawResponse>[] = [];
  let rest = text;
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) break;
    const head = parseRawResponse(rest.slice(0, end + 4));
    let len: number;
    if (head.headers['transfer-encoding'] === 'chunked') {
      const term = rest.indexOf('\r\n0\r\n\r\n', end);
      // An empty chunked body is just the terminator.
      const at = rest.startsWith('0\r\n\r\n', end + 4) ? end + 4 - 2 : term;
      if (at < 0) break;
      len = at + 7;
    } else if (head.status === 204 || head.status === 304) {
      len = end + 4;
    } else if (head.headers['content-length'] !== undefined) {
      len = end + 4 + Number(head.headers['content-length']);
      if (rest.length < len) break;
    } else {
      len = rest.length;
    }
    out.push(parseRawResponse(rest.slice(0, len)));
    rest = rest.slice(len);
  }
  return out;
}

/** The head of the first response in `text`, exactly as sent. */
function headOf(text: string): string {
  return text.slice(0, text.indexOf('\r\n\r\n') + 4);
}

const FAST = /\r\nconnection: /;
const NODE = /\r\nConnection: /;

/** Requests the backend saw (url and body), and which of them the backend saw closed before their response ended. */
interface Seen {
  url: string;
  method: string;
  body: string;
  aborted: boolean;
}

function backendHandler(seen: Seen[], release: { fn: (() => void) | undefined }) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const s: Seen = { url: req.url ?? '', method: req.method ?? '', body: '', aborted: false };
    seen.push(s);
    res.on('close', () => {
      if (!res.writableFinished) s.aborted = true;
    });
    req.setEncoding('latin1');
    req.on('data', (d: string) => (s.body += d));
    req.on('end', () => {
      const path = (req.url ?? '').split('?')[0];
      switch (path) {
        case '/chunked': // no Content-Length: Node's server sends it chunked, in pieces
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.write('hello ');
          res.write('x'.repeat(100_000));
          res.end(' world');
          return;
        case '/head':
          res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 11 });
          res.end(req.method === 'HEAD' ? undefined : 'hello world');
          return;
        case '/hang': // headers never come
          return;
        case '/bytes': {
          // /bytes?seed=N&size=S: S pseudo-random bytes of seed N, sized, in one write.
          const q = new URLSearchParams((req.url ?? '').split('?')[1]);
          const body = seededBytes(Number(q.get('seed')), Number(q.get('size')));
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
          res.end(body);
          return;
        }
        case '/stream': // headers and a first piece, then nothing
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.write('first piece');
          return;
        case '/slow': // answered when the test says so
          release.fn = () => {
            res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 4 });
            res.end('slow');
          };
          return;
        default: {
          const body = JSON.stringify({ url: req.url, method: req.method, body: s.body });
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
          res.end(body);
        }
      }
    });
  };
}

/**
 * A backend that answers every request with a body delimited by closing the connection (no
 * Content-Length, no chunking); GET /raw/both gets Content-Length and Transfer-Encoding at once.
 */
async function startCloseDelimitedBackend(): Promise<{ port: number; heads: string[]; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const heads: string[] = [];
  const server: NetServer = createNetServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    let head = '';
    s.on('data', (d: Buffer) => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      heads.push(head);
      const script = /^GET \/raw\/script\/(\d+) /.exec(head);
      if (script !== null) {
        // The pieces of a scripted (self-delimited) response, 30 ms apart (so each arrives in a
        // read of its own); the connection then waits for the next request.
        head = '';
        const pieces = [...SCRIPTED[Number(script[1])]![1]];
        const next = (): void => {
          const piece = pieces.shift();
          if (piece === undefined) return;
          s.write(piece, 'latin1');
          setTimeout(next, 30);
        };
        next();
        return;
      }
      // Both framings at once (a broken or hostile backend): chunked wins, the 100 is a lie.
      if (head.startsWith('GET /raw/both ')) s.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n');
      else s.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nbody until close' + 'y'.repeat(50_000) + 'END');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    heads,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

const HEADERS_MS = 600;

/**
 * Backend responses (as pieces written 30 ms apart) and what the client must receive, byte for
 * byte; DATE stands for the Date line the proxy adds (`date: ... GMT`) and KA for its keep-alive
 * lines (keepAliveMs 7,000).
 */
const SCRIPTED: [string, string[], string][] = [
  [
    'every hop-by-hop field dropped, Trailer kept, the rest as sent (case, spacing), the backend\'s Date kept',
    [
      'HTTP/1.1 201 Created\r\nKeep-Alive: timeout=5\r\nX-A: 1\r\nPROXY-CONNECTION: keep-alive\r\nTE: trailers\r\nUpgrade: h2c\r\n' +
        'Proxy-Authenticate: Basic\r\nProxy-Authorization: x\r\nTrailer: X-Sum\r\nx-b:\t2  \r\nDate: Thu, 01 Jan 2026 00:00:00 GMT\r\n' +
        'Connection: keep-alive\r\nContent-Length: 2\r\n\r\nhi',
    ],
    'HTTP/1.1 201 Created\r\nX-A: 1\r\nTrailer: X-Sum\r\nx-b:\t2  \r\nDate: Thu, 01 Jan 2026 00:00:00 GMT\r\nContent-Length: 2\r\nKAhi',
  ],
  ['an HTTP/1.0 backend: the status line says HTTP/1.1, a Date is added', ['HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi'], 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nDATE\r\nKAhi'],
  ['an empty reason phrase', ['HTTP/1.1 299\r\nContent-Length: 0\r\n\r\n'], 'HTTP/1.1 299\r\nContent-Length: 0\r\nDATE\r\nKA'],
  ['fields the Connection field names are dropped too', ['HTTP/1.1 200 OK\r\nConnection: X-Private\r\nX-Private: secret\r\nX-Public: yes\r\nContent-Length: 2\r\n\r\nhi'], 'HTTP/1.1 200 OK\r\nX-Public: yes\r\nContent-Length: 2\r\nDATE\r\nKAhi'],
  ['a sized body arriving in pieces after its head', ['HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n', 'abc', 'defghij'], 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\nDATE\r\nKAabcdefghij'],
  ['a head in two pieces, cut inside a field', ['HTTP/1.1 200 OK\r\nX-Cut: be', 'fore\r\nContent-Length: 3\r\n\r\nxyz'], 'HTTP/1.1 200 OK\r\nX-Cut: before\r\nContent-Length: 3\r\nDATE\r\nKAxyz'],
  ['204: no body, no framing added', ['HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n'], 'HTTP/1.1 204 No Content\r\nX-A: 1\r\nDATE\r\nKA'],
];

describe('fast path: plain HTTP/1.x requests', () => {
  const seen: Seen[] = [];
  const release: { fn: (() => void) | undefined } = { fn: undefined };
  let be: Backendsrv;
  let raw: Awaited<ReturnType<typeof startCloseDelimitedBackend>>;
  let wss: WebSocketServer;
  let p: ProxyUnderTest;
  const clients: Raw[] = [];
  const client = (): Raw => {
    const c = new Raw(p.port);
    clients.push(c);
    return c;
  };

  before(async () => {
    be = await startBackend('a', backendHandler(seen, release));
    wss = new WebSocketServer({ server: be.server });
    wss.on('connection', (ws) => ws.on('message', (m) => ws.send(`echo:${m.toString()}`)));
    raw = await startCloseDelimitedBackend();
    p = await startProxy(
      new TestTable([
        route('', '/', backend('default/a:80', [endpoint(be.port)])),
        route('', '/raw', backend('default/raw:80', [endpoint(raw.port)])),
      ]),
      { timeouts: { headersMs: HEADERS_MS, requestMs: 5_000, keepAliveMs: 7_000 } },
    );
  });
  after(async () => {
    for (const c of clients) c.destroy();
    await p?.close();
    wss?.close();
    await be?.close();
    await raw?.close();
  });

  test('three pipelined GETs in one write: three responses, in order, on one connection', async () => {
    const c = client();
    c.send(['/one', '/two', '/three'].map((u) => `GET ${u} HTTP/1.1\r\nHost: a.test\r\n\r\n`).join(''));
    const rs = await c.responses(3);
    assert.equal(rs.length, 3);
    assert.deepEqual(rs.map((r) => [r.status, JSON.parse(r.body).url]), [[200, '/one'], [200, '/two'], [200, '/three']]);
    assert.match(c.text, FAST);
    assert.equal(c.closed, false);
    // Still usable afterwards.
    c.send('GET /four HTTP/1.1\r\nHost: a.test\r\n\r\n');
    const more = await c.responses(4);
    assert.equal(JSON.parse(more[3]!.body).url, '/four');
  });

  test('more pipelined requests than the header limit, sent while one is in flight: all served, in order', async () => {
    const c = client();
    release.fn = undefined;
    c.send('GET /slow HTTP/1.1\r\nHost: a.test\r\n\r\n');
    await waitFor('backend holds /slow', () => release.fn);
    // About 24 KiB of heads, beyond maxHeaderSize (16 KiB), buffered behind the request in flight.
    const n = 600;
    c.send(Array.from({ length: n }, (_, i) => `GET /burst/${i} HTTP/1.1\r\nHost: a.test\r\n\r\n`).join(''));
    const before = seen.length;
    await waitFor('the burst is buffered', () => c.s.bytesWritten > n * 38);
    assert.equal(seen.length, before, 'nothing behind the request in flight is served before it');
    release.fn!();
    const rs = await c.responses(n + 1, 20_000);
    assert.equal(rs[0]!.body, 'slow');
    assert.deepEqual(rs.slice(1).map((r) => JSON.parse(r.body).url), Array.from({ length: n }, (_, i) => `/burst/${i}`));
    assert.equal(c.closed, false);
  });

  test('shared read buffer: a pipelined request and a partial head kept across other connections\' reads arrive intact', async () => {
    // Every connection reads into one buffer (src/proxy/reads.ts): what a connection keeps past
    // its read (a request pipelined behind one in flight, half a head) must be its own copy.
    const a = client();
    const c = client();
    const b = client();
    release.fn = undefined;
    a.send('GET /slow HTTP/1.1\r\nHost: a.test\r\n\r\nGET /pipelined-behind-slow HTTP/1.1\r\nHost: a.test\r\n\r\n');
    await waitFor('backend holds /slow', () => release.fn);
    c.send('GET /partial-head-of-c HTTP/1.1\r\nHo');
    await delay(20);
    // Other connections' reads overwrite the shared buffer many times meanwhile.
    const n = 40;
    for (let i = 0; i < n; i++) b.send(`GET /${'b'.repeat(60)}/${i} HTTP/1.1\r\nHost: a.test\r\nX-Filler: ${'z'.repeat(200)}\r\n\r\n`);
    const bs = await b.responses(n);
    assert.equal(JSON.parse(bs[n - 1]!.body).url, `/${'b'.repeat(60)}/${n - 1}`);
    c.send('st: a.test\r\n\r\n');
    const cs = await c.responses(1);
    assert.equal(JSON.parse(cs[0]!.body).url, '/partial-head-of-c');
    assert.match(c.text, FAST);
    release.fn!();
    const as = await a.responses(2);
    assert.equal(as[0]!.body, 'slow');
    assert.equal(JSON.parse(as[1]!.body).url, '/pipelined-behind-slow');
    assert.match(a.text, FAST);
  });

  test('large bodies copied from the upstream read buffer arrive intact: clients that read late (their writes wait) among clients that read at once', async () => {
    // Each 64 KiB read from a backend is copied into a recycled slot before it is written; a
    // slot goes back as soon as the socket took the whole write. A write that waits for a slow
    // client keeps its slot, while other connections' pieces go through slots meanwhile. Bodies
    // of 10 MiB: loopback socket buffers take several MiB before a write has to wait. (Giving a
    // slot back while its write waits corrupts bodies here; checked when this was written.)
    const fetchBody = (seed: number, size: number, readAfterMs: number): Promise<Buffer> =>
      new Promise((resolve, reject) => {
        const req = httpGet({ port: p.port, host: '127.0.0.1', path: `/bytes?seed=${seed}&size=${size}`, agent: false }, (res) => {
          const parts: Buffer[] = [];
          res.on('data', (d: Buffer) => parts.push(d));
          res.on('end', () => resolve(Buffer.concat(parts)));
          res.on('error', reject);
          if (readAfterMs > 0) {
            res.pause();
            setTimeout(() => res.resume(), readAfterMs);
          }
        });
        req.on('error', reject);
      });
    const size = 10 * 1024 * 1024 + 12_345;
    const jobs: Promise<void>[] = [];
    for (let seed = 1; seed <= 8; seed++) {
      const late = seed % 2 === 0;
      jobs.push(
        fetchBody(seed, size, late ? 500 : 0).then((got) => {
          assert.equal(got.length, size, `seed ${seed}: length`);
          assert.ok(got.equals(seededBytes(seed, size)), `seed ${seed} (${late ? 'late' : 'prompt'} reader): the body differs from what the backend sent`);
        }),
      );
    }
    await Promise.all(jobs);
  });

  test('HTTP/1.1: connection: keep-alive, keep-alive: timeout=N and a Date', async () => {
    const c = client();
    c.send('GET / HTTP/1.1\r\nHost: a.test\r\n\r\n');
    const [r] = await c.responses(1);
    assert.equal(r!.status, 200);
    assert.equal(r!.headers.connection, 'keep-alive');
    assert.equal(r!.headers['keep-alive'], 'timeout=7');
    const date = Date.parse(r!.headers.date ?? '');
    assert.ok(/^[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT$/.test(r!.headers.date ?? ''), `IMF-fixdate: ${r!.headers.date}`);
    assert.ok(Math.abs(date - Date.now()) < 5_000, 'Date is now');
    assert.equal(headOf(c.text).match(/\r\ndate: /gi)?.length, 1, 'exactly one Date');
    assert.match(c.text, FAST);
    assert.equal(c.closed, false);
  });

  test('HTTP/1.0 without keep-alive: connection: close, and the connection is closed', async () => {
    const c = client();
    c.send('GET / HTTP/1.0\r\nHost: a.test\r\n\r\n');
    const [r] = await c.responses(1);
    assert.equal(r!.status, 200);
    assert.equal(r!.headers.connection, 'close');
    assert.equal(r!.headers['keep-alive'], undefined);
    await c.waitClosed();
    assert.match(c.text, FAST);
  });

  test('HTTP/1.0 with Connection: keep-alive: kept open', async () => {
    const c = client();
    c.send('GET /a HTTP/1.0\r\nHost: a.test\r\nConnection: keep-alive\r\n\r\n');
    const [r] = await c.responses(1);
    assert.equal(r!.headers.connection, 'keep-alive');
    c.send('GET /b HTTP/1.0\r\nHost: a.test\r\nConnection: keep-alive\r\n\r\n');
    const rs = await c.responses(2);
    assert.equal(JSON.parse(rs[1]!.body).url, '/b');
    assert.equal(c.closed, false);
  });

  test('HTTP/1.1 with Connection: close: connection: close, and the connection is closed', async () => {
    const c = client();
    c.send('GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n');
    const [r] = await c.responses(1);
    assert.equal(r!.headers.connection, 'close');
    await c.waitClosed();
    assert.match(c.text, FAST);
  });

  test('a backend answering chunked (no Content-Length) reaches the client chunked, body intact', async () => {
    const c = client();
    c.send('GET /chunked HTTP/1.1\r\nHost: a.test\r\n\r\n');
    const [r] = await c.responses(1);
    assert.equal(r!.headers['transfer-encoding'], 'chunked');
    assert.equal(r!.headers['content-length'], undefined);
    assert.equal(r!.body, 'hello ' + 'x'.repeat(100_000) + ' world');
    assert.match(c.text, FAST);
    assert.equal(c.closed, false);
  });

  test('a backend answering until close reaches the client chunked, body intact, connection kept', async () => {
    const c = client();
    c.send('GET /raw HTTP/1.1\r\nHost: a.test\r\n\r\n');
    const [r] = await c.responses(1);
    assert.equal(r!.status, 200);
    assert.equal(r!.headers['transfer-encoding'], 'chunked');
    assert.equal(r!.body, 'body until close' + 'y'.repeat(50_000) + 'END');
    assert.equal(r!.headers.connection, 'keep-alive');
    assert.equal(c.closed, false);
  });

  test('a backend response with Transfer-Encoding and Content-Length: the client gets the chunked body without the Content-Length, and the next response on its connection is intact', async () => {
    const c = client();
    c.send('GET /raw/both HTTP/1.1\r\nHost: a.test\r\n\r\n');
    const [r] = await c.responses(1);
    assert.equal(r!.status, 200);
    // Forwarding the 100 with a 2-byte body would make the client take the next response's bytes as this body.
    assert.equal(r!.headers['content-length'], undefined);
    assert.equal(r!.headers['transfer-encoding'], 'chunked');
    assert.equal(r!.body, 'ab');
    c.send('GET /raw HTTP/1.1\r\nHost: a.test\r\n\r\n');
    const [, second] = await c.responses(2);
    assert.equal(second!.status, 200);
    assert.equal(second!.body, 'body until close' + 'y'.repeat(50_000) + 'END');
    assert.equal(c.closed, false);
  });

  test('a backend\'s head reaches the client byte for byte, less its hop-by-hop fields (table)', async () => {
    for (const [i, [name, , want]] of SCRIPTED.entries()) {
      const c = client();
      c.send(`GET /raw/script/${i} HTTP/1.1\r\nHost: a.test\r\n\r\n`);
      await c.responses(1);
      const got = c.text.replace(/\r\ndate: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT\r\n/, '\r\nDATE\r\n');
      assert.equal(got, want.replace('KA', 'connection: keep-alive\r\nkeep-alive: timeout=7\r\n\r\n'), name);
      // The connection carries the next request.
      c.send('GET /after HTTP/1.1\r\nHost: a.test\r\n\r\n');
      const [, next] = await c.responses(2);
      assert.equal(JSON.parse(next!.body).url, '/after', name);
    }
  });

  test('a method Node\'s parser does not know (lower-case get) is handed over and refused as before', async () => {
    const c = client();
    c.send('get /raw/lower HTTP/1.1\r\nHost: a.test\r\n\r\n');
    await c.waitClosed();
    assert.match(c.text, /^HTTP\/1.1 400 /);
    assert.match(c.text, NODE);
    assert.ok(!raw.heads.some((h) => h.startsWith('get /raw/lower')), 'never reaches the backend');
  });

  test('a duplicate Content-Length: 0 is answered 400 with connection: close', async () => {
    const c = client();
    c.send('GET / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\nGET /never HTTP/1.1\r\nHost: a.test\r\n\r\n');
    await c.waitClosed();
    const r = parseRawResponse(c.text);
    assert.equal(r.status, 400);
    assert.equal(r.headers.connection, 'close');
    assert.match(r.body, /duplicate Content-Length/);
    assert.equal(seen.some((x) => x.url === '/never'), false);
  });

  test('an HTTP/1.0 client gets an unsized body delimited by close, never chunked', async () => {
    const c = client();
    c.send('GET /chunked HTTP/1.0\r\nHost: a.test\r\nConnection: keep-alive\r\n\r\n');
    await c.waitClosed();
    const r = parseRawResponse(c.text);
    assert.equal(r.status, 200);
    assert.equal(r.headers['transfer-encoding'], undefined);
    assert.equal(r.headers.connection, 'close');
    assert.equal(r.body, 'hello ' + 'x'.repeat(100_000) + ' world');
  });

  test('HEAD: the backend\'s Content-Length, no body bytes (the next response follows the head directly)', async () => {
    const c = client();
    c.send('HEAD /head HTTP/1.1\r\nHost: a.test\r\n\r\n');
    await waitFor('HEAD response head', () => c.text.includes('\r\n\r\n'));
    c.send('GET /after HTTP/1.1\r\nHost: a.test\r\n\r\n');
    await waitFor('second response', () => c.text.includes('"/after"'));
    const head = headOf(c.text);
    assert.match(head, /^HTTP\/1.1 200 /);
    assert.match(head, /\r\ncontent-length: 11\r\n/i);
    assert.doesNotMatch(head, /transfer-encoding/i);
    // Not a byte between the HEAD response's head and the next response.
    assert.ok(c.text.slice(head.length).startsWith('HTTP/1.1 200 '), JSON.stringify(c.text.slice(head.length, head.length + 40)));
  });

  test('HEAD of an unsized response: no chunked framing, no body', async () => {
    const c = client();
    c.send('HEAD /chunked HTTP/1.1\r\nHost: a.test\r\n\r\n');
    await waitFor('HEAD response head', () => c.text.includes('\r\n\r\n'));
    c.send('GET /after HTTP/1.1\r\nHost: a.test\r\n\r\n');
    await waitFor('second response', () => c.text.includes('"/after"'));
    const head = headOf(c.text);
    assert.doesNotMatch(head, /transfer-encoding/i);
    assert.ok(c.text.slice(head.length).startsWith('HTTP/1.1 200 '));
  });

  test('hand-over: a POST with a body after two fast GETs is answered by Node\'s server, the body reaches the backend', async () => {
    const c = client();
    c.send('GET /g1 HTTP/1.1\r\nHost: a.test\r\n\r\n');
    await c.responses(1);
    c.send('GET /g2 HTTP/1.1\r\nHost: a.test\r\n\r\n');
    await c.responses(2);
    assert.doesNotMatch(c.text, NODE);
    const mark = c.text.length;
    c.send('POST /post HTTP/1.1\r\nHost: a.test\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n\r\nhello world');
    const rs = await c.responses(3);
    assert.deepEqual(JSON.parse(rs[2]!.body), { url: '/post', method: 'POST', body: 'hello world' });
    assert.match(c.text.slice(mark), NODE, 'answered by Node\'s server');
    assert.equal(seen.find((s) => s.url === '/post')?.body, 'hello world');
    // Node's server keeps the connection.
    c.send('GET /g3 HTTP/1.1\r\nHost: a.test\r\n\r\n');
    const more = await c.responses(4);
    assert.equal(JSON.parse(more[3]!.body).url, '/g3');
    assert.equal(c.closed, false);
  });

  test('hand-over: a POST pipelined behind a GET in one write', async () => {
    const c = client();
    c.send('GET /p1 HTTP/1.1\r\nHost: a.test\r\n\r\nPOST /p2 HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\n\r\nabcGET /p3 HTTP/1.1\r\nHost: a.test\r\n\r\n');
    const rs = await c.responses(3);
    assert.deepEqual(rs.map((r) => JSON.parse(r.body).url), ['/p1', '/p2', '/p3']);
    assert.equal(JSON.parse(rs[1]!.body).body, 'abc');
  });

  test('a head split across two writes with a short pause between is served on the fast path', async () => {
    const c = client();
    c.send('GET /split HTTP/1.1\r\nHo');
    // The pause is the input under test: the first part must arrive on its own.
    await delay(100);
    c.send('st: a.test\r\n\r\n');
    const [r] = await c.responses(1);
    assert.equal(r!.status, 200);
    assert.equal(JSON.parse(r!.body).url, '/split');
    assert.match(c.text, FAST);
  });

  test('hand-over: a head still incomplete after min(1 s, headersMs / 2) goes to Node\'s server, which times it out', async () => {
    const c = client();
    const t0 = Date.now();
    // A client trickling its head: the fast path waits by the clock, not by inactivity.
    c.send('GET /trickle HTTP/1.1\r\n');
    const trickle = setInterval(() => c.send('X-Slow: 1\r\n'), 100);
    try {
      await c.waitClosed();
    } finally {
      clearInterval(trickle);
    }
    assert.match(c.text, /^HTTP\/1.1 408 /);
    assert.match(c.text, NODE);
    assert.ok(Date.now() - t0 < HEADERS_MS + 1_500, `closed within headersMs + ~1 s (${Date.now() - t0} ms)`);
  });

  test('hand-over: a malformed request line gets 400 with Connection: close', async () => {
    const c = client();
    c.send('GET /a b HTTP/1.1\r\nHost: a.test\r\n\r\n');
    await c.waitClosed();
    assert.match(c.text, /^HTTP\/1.1 400 /);
    assert.match(headOf(c.text), /\r\nconnection: close\r\n/i);
  });

  test('hand-over: a malformed request after a fast one on the same connection gets 400', async () => {
    const c = client();
    c.send('GET /ok HTTP/1.1\r\nHost: a.test\r\n\r\n');
    await c.responses(1);
    c.send('GET / HTTP/1.1\r\nHost: a.test\r\nBad Header: x\r\n\r\n');
    await c.waitClosed();
    assert.match(c.text, /\r\n\r\n[^]*HTTP\/1.1 400 /);
  });

  test('hand-over: an over-long head gets 431', async () => {
    const c = client();
    c.send(`GET / HTTP/1.1\r\nHost: a.test\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    await c.waitClosed();
    assert.match(c.text, /^HTTP\/1.1 431 /);
  });

  test('hand-over: a new connection that sends nothing gets 408 within headersMs + ~1 s', async () => {
    const t0 = Date.now();
    const c = client();
    await c.waitClosed(HEADERS_MS + 3_000);
    const took = Date.now() - t0;
    assert.match(c.text, /^HTTP\/1.1 408 /);
    assert.ok(took >= HEADERS_MS * 0.9, `not before headersMs (${took} ms)`);
    assert.ok(took < HEADERS_MS + 1_300, `within headersMs + ~1 s (${took} ms)`);
  });

  test('an idle keep-alive connection stays open past the first-request wait', async () => {
    const c = client();
    c.send('GET / HTTP/1.1\r\nHost: a.test\r\n\r\n');
    await c.responses(1);
    // Past min(1 s, headersMs / 2) and past headersMs: only keepAliveMs (7 s) applies now.
    await delay(HEADERS_MS + 200);
    assert.equal(c.closed, false);
    c.send('GET /later HTTP/1.1\r\nHost: a.test\r\n\r\n');
    const rs = await c.responses(2);
    assert.equal(JSON.parse(rs[1]!.body).url, '/later');
    assert.match(c.text.slice(headOf(c.text).length), FAST);
  });

  test('hand-over: a WebSocket upgrade still works', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${p.port}/chat`, { headers: { host: 'a.test' } });
    await once(ws, 'open');
    const got = once(ws, 'message');
    ws.send('hi');
    const [m] = (await got) as [Buffer];
    assert.equal(m.toString(), 'echo:hi');
    ws.close();
    await once(ws, 'close');
  });

  test('the client closing before the response aborts the backend request and counts 499', async () => {
    const c = client();
    const before = seen.length;
    c.send('GET /hang HTTP/1.1\r\nHost: a.test\r\n\r\n');
    const s = await waitFor('backend gets /hang', () => seen.slice(before).find((x) => x.url === '/hang'));
    c.destroy();
    await waitFor('backend sees its request closed', () => s.aborted);
    const m = await waitFor('499 counted', async () => {
      const text = await p.registry.metrics();
      return /gangplank_requests_total\{[^}]*code="499"[^}]*\} 1\b/.test(text) ? text : undefined;
    });
    assert.match(m, /gangplank_requests_total\{[^}]*route="\*\|Prefix\|\/"[^}]*code="499"[^}]*method="GET"[^}]*\} 1/);
  });

  test('the client closing mid-body aborts the backend request', async () => {
    const c = client();
    const before = seen.length;
    c.send('GET /stream HTTP/1.1\r\nHost: a.test\r\n\r\n');
    await waitFor('first piece arrives', () => c.text.includes('first piece'));
    const s = seen.slice(before).find((x) => x.url === '/stream')!;
    assert.equal(s.aborted, false);
    c.destroy();
    await waitFor('backend sees its request closed', () => s.aborted);
  });
});

describe('fast path: graceful stop', () => {
  const seen: Seen[] = [];
  const release: { fn: (() => void) | undefined } = { fn: undefined };
  let be: Backendsrv;
  let p: ProxyUnderTest;
  const clients: Raw[] = [];

  before(async () => {
    be = await startBackend('g', backendHandler(seen, release));
    p = await startProxy(new TestTable([route('', '/', backend('default/g:80', [endpoint(be.port)]))]), {
      timeouts: { keepAliveMs: 30_000 },
    });
  });
  after(async () => {
    for (const c of clients) c.destroy();
    await p?.close();
    await be?.close();
  });

  test('an in-flight request completes (with connection: close), an idle connection is closed', async () => {
    const idle = new Raw(p.port);
    const busy = new Raw(p.port);
    clients.push(idle, busy);
    idle.send('GET /idle HTTP/1.1\r\nHost: g.test\r\n\r\n');
    await idle.responses(1);
    busy.send('GET /slow HTTP/1.1\r\nHost: g.test\r\n\r\n');
    await waitFor('backend holds /slow', () => release.fn);
    const stopped = p.proxy.stop(10_000);
    let done = false;
    void stopped.then(() => (done = true));
    await idle.waitClosed();
    assert.equal(busy.closed, false);
    assert.equal(done, false, 'stop waits for the in-flight request');
    release.fn!();
    const [r] = await busy.responses(1);
    assert.equal(r!.status, 200);
    assert.equal(r!.body, 'slow');
    assert.equal(r!.headers.connection, 'close');
    await busy.waitClosed();
    await stopped;
    // No new connections once stopped.
    const late = new Raw(p.port);
    clients.push(late);
    await late.waitClosed();
    assert.equal(late.text, '');
  });
});

describe('fast path: a connection it is done with', () => {
  const seen: Seen[] = [];
  let be: Backendsrv;
  let p: ProxyUnderTest;

  before(async () => {
    be = await startBackend('d', backendHandler(seen, { fn: undefined }));
    p = await startProxy(new TestTable([route('', '/', backend('default/d:80', [endpoint(be.port)]))]));
  });
  after(async () => {
    await p?.close();
    await be?.close();
  });

  const openConnections = async (): Promise<number> => {
    const m = (await p.registry.metrics()).match(/^gangplank_open_connections\{entrypoint="web"\} (\d+)$/m);
    return Number(m?.[1] ?? 0);
  };

  test('after a Connection: close response the proxy drops the socket without waiting for the client', async () => {
    // A client that keeps its own side open after the proxy's FIN (allowHalfOpen).
    const s = connect({ port: p.port, host: '127.0.0.1', allowHalfOpen: true });
    let text = '';
    let ended = false;
    s.on('data', (d: Buffer) => (text += d.toString('latin1')));
    s.on('end', () => (ended = true));
    s.on('error', () => undefined);
    try {
      s.write('GET /first HTTP/1.1\r\nHost: d.test\r\nConnection: close\r\n\r\n');
      await waitFor('the response and the proxy\'s FIN', () => ended);
      assert.equal(parseRawResponse(text).headers.connection, 'close');
      await waitFor('the proxy has no open connection left', async () => (await openConnections()) === 0);
      assert.deepEqual(seen.map((x) => x.url), ['/first']);
      assert.equal(text.match(/HTTP\/1.1 /g)?.length, 1);
    } finally {
      s.destroy();
    }
  });
});

describe('fast path: the idle limit between requests', () => {
  let be: Backendsrv;
  let p: ProxyUnderTest;
  const KEEP_ALIVE_MS = 1_000;

  before(async () => {
    be = await startBackend('k', backendHandler([], { fn: undefined }));
    p = await startProxy(new TestTable([route('', '/', backend('default/k:80', [endpoint(be.port)]))]), {
      timeouts: { headersMs: 10_000, requestMs: 5_000, keepAliveMs: KEEP_ALIVE_MS },
    });
  });
  after(async () => {
    await p?.close();
    await be?.close();
  });

  test('a keep-alive connection left idle is closed after keepAliveMs (a deadline, at most two sweeps late), not before', async () => {
    const c = new Raw(p.port);
    try {
      c.send('GET /one HTTP/1.1\r\nHost: k.test\r\n\r\n');
      await c.responses(1);
      assert.match(c.text, FAST);
      const t0 = performance.now();
      // A second request half-way keeps it alive: the limit starts over after each response.
      await delay(KEEP_ALIVE_MS / 2);
      c.send('GET /two HTTP/1.1\r\nHost: k.test\r\n\r\n');
      await c.responses(2);
      const t1 = performance.now();
      await c.waitClosed(5_000);
      const idle = performance.now() - t1;
      assert.ok(idle >= KEEP_ALIVE_MS - 50, `closed after ${Math.round(idle)} ms idle, before the ${KEEP_ALIVE_MS} ms limit`);
      assert.ok(idle <= KEEP_ALIVE_MS + 2 * 125 + 200, `closed ${Math.round(idle)} ms after the last response (limit ${KEEP_ALIVE_MS} ms + two sweeps of 125 ms)`);
      assert.ok(t1 - t0 < KEEP_ALIVE_MS, 'the second request came within the limit');
    } finally {
      c.destroy();
    }
  });
});
