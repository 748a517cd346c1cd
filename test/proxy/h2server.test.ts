/**
 * gangplank's HTTP/2 server (src/proxy/h2) end to end: websecure HttpProxy, real HTTP/1.1
 * backends, and two kinds of client: node:http2 (nghttp2, which checks flow control and framing
 * on its side) and a raw one that writes frames itself, for what a well-behaved client never sends.
 * Covers flow control both ways, the limits of connection.ts (header list, concurrency, clients that
 * do not read, idle connections), malformed requests, and what HTTP/2 to HTTP/1.1 translation owes
 * the backend (one Cookie header, Expect answered by us, header blocks over CONTINUATION).
 * RFC conformance as such is h2spec's (test/proxy/h2spec.test.ts).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect as h2connect, constants as h2constants, type ClientHttp2Session, type OutgoingHttpHeaders, type Settings } from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { Registry } from 'prom-client';
import { createProxyMetrics } from '../../src/proxy/metrics.js';
import { HttpProxy, type Http2Limits, type ProxyTimeouts, type TlsCertificates } from '../../src/proxy/proxy.js';
import { HpackDecoder, HpackEncoder } from '../../src/proxy/h2/hpack.js';
import { silentLogger } from '../../src/runtime/logger.js';
import { buildContext } from '../../src/tls/options.js';
import { newTicketKeys } from '../../src/tls/ticket-keys.js';
import { h2frame } from '../harness/h2frames.js';
import { waitFor } from '../harness/wait.js';
import { backend, endpoint, route, startBackend, TestTable, type Backendsrv } from './helpers.js';
import { makeCert, type TestCert } from './tls-helpers.js';

// RFC 9113 numbers, written out here rather than imported from the implementation under test.
const DATA = 0x0;
const HEADERS = 0x1;
const RST_STREAM = 0x3;
const SETTINGS = 0x4;
const PING = 0x6;
const GOAWAY = 0x7;
const WINDOW_UPDATE = 0x8;
const CONTINUATION = 0x9;
const END_STREAM = 0x1;
const ACK = 0x1;
const END_HEADERS = 0x4;
const NO_ERROR = 0x0;
const PROTOCOL_ERROR = 0x1;
const REFUSED_STREAM = 0x7;
const CANCEL = 0x8;
const ENHANCE_YOUR_CALM = 0xb;
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

// --- the proxy and node:http2 clients ---

async function startSecure(table: TestTable, cert: TestCert, opts: { timeouts?: Partial<ProxyTimeouts>; h2?: Partial<Http2Limits> } = {}): Promise<HttpProxy> {
  const keys = newTicketKeys();
  const ctx = buildContext(cert.cert, cert.key, keys);
  const certs: TlsCertificates = { defaultCert: { certPem: cert.cert, keyPem: cert.key }, sniCallback: (_n, cb) => cb(null, ctx), contextFor: () => ctx };
  const p = new HttpProxy({
    entrypoint: 'websecure',
    bind: '127.0.0.1',
    port: 0,
    trustedProxies: [],
    logger: silentLogger(),
    metrics: createProxyMetrics(new Registry()),
    accessLog: null,
    tls: { certs, ticketKeys: keys, ...(opts.h2 ? { h2: opts.h2 } : {}) },
    ...(opts.timeouts ? { timeouts: opts.timeouts } : {}),
  });
  p.setTable(table);
  await p.start();
  return p;
}

function h2session(port: number, cert: TestCert, extra: { settings?: Settings; maxSendHeaderBlockLength?: number } = {}): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = h2connect(`https://127.0.0.1:${port}`, { servername: 'app.test', ca: cert.cert, ...extra });
    s.once('remoteSettings', () => resolve(s));
    s.once('error', reject);
  });
}

interface H2Result {
  status: number;
  headers: Record<string, unknown>;
  body: Buffer;
}

/** One exchange on a node:http2 session; fails after `timeoutMs` rather than hanging (a stalled window would). */
function h2fetch(s: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: Buffer, timeoutMs = 10_000): Promise<H2Result> {
  return new Promise((resolve, reject) => {
    const req = s.request({ ':authority': 'app.test', ...headers }, { endStream: body === undefined });
    let status = 0;
    let got: Record<string, unknown> = {};
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      req.close(h2constants.NGHTTP2_CANCEL);
      reject(new Error(`no complete response to ${String(headers[':path'])} within ${timeoutMs} ms (status ${status}, ${Buffer.concat(chunks).length} body bytes)`));
    }, timeoutMs);
    req.on('response', (h) => {
      status = Number(h[':status']);
      got = h;
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      clearTimeout(timer);
      resolve({ status, headers: got, body: Buffer.concat(chunks) });
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    if (body !== undefined) req.end(body);
  });
}

// --- a raw HTTP/2 client ---

interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
  /** HEADERS: the decoded block (name, value, ...), once its last CONTINUATION arrived. */
  fields?: string[];
}

const frame = h2frame;

const request = (path: string, method = 'GET', extra: string[] = []): string[] => [':method', method, ':scheme', 'https', ':authority', 'app.test', ':path', path, ...extra];

/**
 * TLS with ALPN h2, the preface and an empty SETTINGS; every frame the server sends is parsed into
 * `frames` (header blocks decoded in order, SETTINGS acknowledged, DATA given back its window).
 */
class RawClient {
  readonly frames: Frame[] = [];
  closed = false;
  /** Set when a header block from the server could not be decoded (a COMPRESSION_ERROR). */
  decodeError: string | undefined;
  private buf: Buffer = Buffer.alloc(0);
  private readonly enc = new HpackEncoder();
  private readonly dec = new HpackDecoder({ maxHeaderListSize: 1 << 20, maxFields: 10_000 });
  private open: { head: Frame; parts: Buffer[] } | undefined;

  private constructor(readonly sock: TLSSocket) {
    sock.on('data', (d: Buffer) => this.onData(d));
    sock.on('close', () => (this.closed = true));
    sock.on('error', () => undefined);
  }

  static async connect(port: number, cert: TestCert, preface = true): Promise<RawClient> {
    const sock = tlsConnect({ host: '127.0.0.1', port, servername: 'app.test', ca: cert.cert, ALPNProtocols: ['h2'] });
    sock.on('error', () => undefined);
    await once(sock, 'secureConnect');
    assert.equal(sock.alpnProtocol, 'h2');
    const c = new RawClient(sock);
    if (preface) c.sock.write(Buffer.concat([PREFACE, frame(SETTINGS, 0, 0)]));
    return c;
  }

  send(type: number, flags: number, stream: number, payload?: Buffer): void {
    this.sock.write(frame(type, flags, stream, payload));
  }

  /** A header block of `fields` (a copy: the encoder's buffer is reused). */
  block(fields: string[]): Buffer {
    return Buffer.from(this.enc.encode(fields));
  }

  /** HEADERS with END_HEADERS, and END_STREAM unless a body follows. */
  headers(stream: number, fields: string[], endStream = true): void {
    this.send(HEADERS, END_HEADERS | (endStream ? END_STREAM : 0), stream, this.block(fields));
  }

  until<T>(what: string, check: (frames: Frame[]) => T, timeoutMs = 5_000): Promise<NonNullable<T>> {
    return waitFor(what, () => check(this.frames), { timeoutMs, intervalMs: 5 });
  }

  /** The error code of a RST_STREAM the server sent on `stream`. */
  rst(stream: number): number | undefined {
    const f = this.frames.find((x) => x.type === RST_STREAM && x.stream === stream);
    return f?.payload.readUInt32BE(0);
  }

  goaway(): { last: number; code: number } | undefined {
    const f = this.frames.find((x) => x.type === GOAWAY);
    return f === undefined ? undefined : { last: f.payload.readUInt32BE(0) & 0x7fffffff, code: f.payload.readUInt32BE(4) };
  }

  /** Waits until the server ended or reset `stream`; its final head, body, and the reset code if any. */
  async response(stream: number, timeoutMs = 5_000): Promise<{ status: number; fields: string[]; body: Buffer; rst: number | undefined; interim: number[] }> {
    await this.until(
      `the end of stream ${stream}`,
      (fs) => fs.some((f) => f.stream === stream && (f.type === RST_STREAM || ((f.type === DATA || f.type === HEADERS) && (f.flags & END_STREAM) !== 0 && (f.type === DATA || f.fields !== undefined || this.decodeError !== undefined)))),
      timeoutMs,
    );
    const mine = this.frames.filter((f) => f.stream === stream);
    const heads = mine.filter((f) => f.type === HEADERS && f.fields !== undefined).map((f) => f.fields!);
    const statusOf = (fl: string[]) => Number(fl[fl.indexOf(':status') + 1]);
    const final = heads.find((fl) => statusOf(fl) >= 200);
    return {
      status: final === undefined ? 0 : statusOf(final),
      fields: final ?? [],
      body: Buffer.concat(mine.filter((f) => f.type === DATA).map((f) => f.payload)),
      rst: this.rst(stream),
      interim: heads.map(statusOf).filter((s) => s < 200),
    };
  }

  close(): void {
    this.sock.destroy();
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    while (this.buf.length >= 9) {
      const len = this.buf.readUIntBE(0, 3);
      if (this.buf.length < 9 + len) break;
      const f: Frame = { type: this.buf[3]!, flags: this.buf[4]!, stream: this.buf.readUInt32BE(5) & 0x7fffffff, payload: Buffer.from(this.buf.subarray(9, 9 + len)) };
      this.buf = this.buf.subarray(9 + len);
      this.frames.push(f);
      if (f.type === SETTINGS && (f.flags & ACK) === 0) this.send(SETTINGS, ACK, 0);
      else if (f.type === DATA && len > 0) {
        const inc = Buffer.alloc(4);
        inc.writeUInt32BE(len);
        this.sock.write(Buffer.concat([frame(WINDOW_UPDATE, 0, 0, inc), frame(WINDOW_UPDATE, 0, f.stream, inc)]));
      } else if (f.type === HEADERS) {
        // The server sends neither padding nor priorities.
        this.open = { head: f, parts: [f.payload] };
      } else if (f.type === CONTINUATION && this.open !== undefined) {
        this.open.parts.push(f.payload);
      }
      if ((f.type === HEADERS || f.type === CONTINUATION) && (f.flags & END_HEADERS) !== 0 && this.open !== undefined) {
        const block = Buffer.concat(this.open.parts);
        const out: string[] = [];
        try {
          this.dec.decode(block, 0, block.length, out);
          this.open.head.fields = out;
        } catch (err) {
          this.decodeError ??= `stream ${this.open.head.stream}: ${(err as Error).message}`;
        }
        this.open = undefined;
      }
    }
  }
}

/**
 * Pauses the client's socket (it reads nothing from now on) and writes `batch()` (1,000 frames)
 * until the connection closes, `maxFrames` went out or ~8 s passed. A write after the server
 * dropped the connection is answered by a reset: that is how a client that does not read learns it.
 */
async function floodUnread(c: RawClient, batch: () => Buffer, maxFrames: number): Promise<{ sent: number; ms: number }> {
  c.sock.pause();
  let sent = 0;
  const t0 = Date.now();
  while (!c.closed && sent < maxFrames && Date.now() - t0 < 8_000) {
    if (c.sock.writableLength < 1 << 20) {
      c.sock.write(batch());
      sent += 1_000;
    }
    await new Promise((r) => setImmediate(r));
  }
  // Past the limit: give a server that is closing the connection a moment to do so (still writing
  // the same frames, or a client that reads nothing would never notice).
  const closed = () => {
    if (!c.closed) c.sock.write(batch());
    return c.closed;
  };
  if (!c.closed) await waitFor('the connection closed', closed, { timeoutMs: 1_500, intervalMs: 20 }).catch(() => undefined);
  return { sent, ms: Date.now() - t0 };
}

/** The fields of a decoded block as a record (last value wins). */
function record(fields: string[]): Record<string, string> {
  const r: Record<string, string> = {};
  for (let i = 0; i < fields.length; i += 2) r[fields[i]!] = fields[i + 1]!;
  return r;
}

// --- backends ---

/** 2 MiB of random bytes: what /big and /bytes/<i> serve and what uploads send. */
const BIG = randomBytes(2 * 1024 * 1024);
const QUARTER = 256 * 1024;

/**
 * A response head whose HTTP/1.1 form fits gangplank's 16 KiB limit for backend heads (h1parse
 * MAX_HEAD_BYTES) but whose HPACK form does not fit one 16 KiB frame: long names and values of
 * characters Huffman codes in more than 8 bits, so the encoder sends them as is, each field two
 * bytes longer than in HTTP/1.1 (a 1-byte representation type and 2+3 length bytes against ": "
 * and CRLF). Returns the fields and the raw HTTP/1.1 response.
 */
function oversizedHead(): { fields: [string, string][]; raw: string } {
  const fields: [string, string][] = [];
  const fixed = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n';
  let size = fixed.length;
  const rare = '~^|';
  const odd = '{}<>\\^~|';
  const full = 150 + 2 + 300 + 2;
  const n = Math.floor((16 * 1024 - size) / full);
  for (let i = 0; i < n; i++) {
    const name = `x-${String(i).padStart(3, '0')}-` + Array.from({ length: 144 }, (_, k) => rare[(i + k) % rare.length]).join('');
    // The last field fills the head up to exactly 16 KiB.
    const len = i < n - 1 ? 300 : 16 * 1024 - size - name.length - 4;
    fields.push([name, Array.from({ length: len }, (_, k) => odd[(i * 7 + k) % odd.length]).join('')]);
    size += name.length + 2 + len + 2;
  }
  const raw = 'HTTP/1.1 200 OK\r\n' + fields.map(([n, v]) => `${n}: ${v}\r\n`).join('') + 'content-length: 2\r\n\r\nok';
  return { fields, raw };
}

interface AppBackend {
  srv: Backendsrv;
  /** Request targets in arrival order. */
  urls: string[];
  /** Requests that arrived with an X-Injected header (which no test sends as a field of its own). */
  injected: number;
  /** /hold requests waiting for release(). */
  held: ServerResponse[];
  release(): void;
  /** /drip responses whose connection closed. */
  dripClosed: number;
}

async function startApp(): Promise<AppBackend> {
  const app: AppBackend = {
    srv: undefined as unknown as Backendsrv,
    urls: [],
    injected: 0,
    held: [],
    dripClosed: 0,
    release() {
      for (const r of this.held.splice(0)) r.end('released');
    },
  };
  const hashBody = (req: IncomingMessage, res: ServerResponse, slow: boolean) => {
    const h = createHash('sha256');
    let n = 0;
    const read = () => {
      req.on('data', (c: Buffer) => {
        h.update(c);
        n += c.length;
        if (slow) {
          req.pause();
          setTimeout(() => req.resume(), 3);
        }
      });
      // After an explicit pause() a 'data' listener alone does not start the flow.
      req.resume();
    };
    req.on('end', () => res.end(`${n} ${h.digest('hex')}`));
    // The slow reader reads nothing at first: the proxy must hold the client's window meanwhile.
    if (slow) {
      req.pause();
      setTimeout(read, 300);
    } else read();
  };
  app.srv = await startBackend('app', (req, res) => {
    const url = req.url ?? '';
    app.urls.push(url);
    if (req.headers['x-injected'] !== undefined) app.injected++;
    if (url === '/big') {
      res.writeHead(200, { 'content-length': 1024 * 1024 });
      res.end(BIG.subarray(0, 1024 * 1024));
    } else if (url.startsWith('/bytes/')) {
      const i = Number(url.slice(7));
      res.end(BIG.subarray(i * QUARTER, (i + 1) * QUARTER));
    } else if (url === '/hash') hashBody(req, res, false);
    else if (url === '/slowread') hashBody(req, res, true);
    else if (url === '/hold') app.held.push(res);
    else if (url.startsWith('/delay/')) setTimeout(() => res.end(`delayed ${url}`), Number(url.slice(7)));
    else if (url === '/drip') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(16 * 1024, 7);
      const t = setInterval(() => res.write(chunk), 10);
      res.on('close', () => {
        clearInterval(t);
        app.dripClosed++;
      });
    } else {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ method: req.method, url, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks).toString() }));
      });
    }
  });
  return app;
}

/** A raw TCP backend answering every request with `response` (keep-alive). */
async function startRawBackend(response: string): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const srv: NetServer = createNetServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    let buf = '';
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (let i = buf.indexOf('\r\n\r\n'); i >= 0; i = buf.indexOf('\r\n\r\n')) {
        buf = buf.slice(i + 4);
        sock.write(response, 'latin1');
      }
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        srv.close(() => r());
      }),
  };
}

// --- the tests ---

describe('HTTP/2 server (websecure) end to end', () => {
  let cert: TestCert;
  let app: AppBackend;
  let heads: Awaited<ReturnType<typeof startRawBackend>>;
  const head = oversizedHead();
  let table: TestTable;
  let p: HttpProxy;
  let port = 0;

  before(async () => {
    cert = await makeCert(['app.test']);
    app = await startApp();
    heads = await startRawBackend(head.raw);
    table = new TestTable([
      route('app.test', '/', backend('default/app:80', [endpoint(app.srv.port)])),
      route('app.test', '/heads', backend('default/heads:80', [endpoint(heads.port)])),
    ]);
    p = await startSecure(table, cert);
    port = p.address().port;
  });
  after(async () => {
    app?.release();
    await p?.stop(500);
    await app?.srv.close();
    await heads?.close();
  });

  /** After a connection was cut off, the server still serves a new one. */
  async function servesNewSessions(): Promise<void> {
    const s = await h2session(port, cert);
    try {
      assert.equal((await h2fetch(s, { ':path': '/echo' })).status, 200);
    } finally {
      s.destroy();
    }
  }

  test('flow control down: 1 MiB to a client with a 16 KiB stream window, and 8 concurrent 256 KiB responses on one session, all intact', async () => {
    const s = await h2session(port, cert, { settings: { initialWindowSize: 16_384 } });
    try {
      const r = await h2fetch(s, { ':path': '/big' });
      assert.equal(r.status, 200);
      assert.equal(r.body.length, 1024 * 1024);
      assert.equal(sha(r.body), sha(BIG.subarray(0, 1024 * 1024)));
      // 2 MiB at once: more than the connection window nghttp2 starts with (64 KiB), shared by all eight.
      const rs = await Promise.all(Array.from({ length: 8 }, (_, i) => h2fetch(s, { ':path': `/bytes/${i}` })));
      rs.forEach((x, i) => {
        assert.equal(x.status, 200, `stream ${i}`);
        assert.equal(x.body.length, QUARTER, `stream ${i} length`);
        assert.equal(sha(x.body), sha(BIG.subarray(i * QUARTER, (i + 1) * QUARTER)), `stream ${i} content`);
      });
    } finally {
      s.destroy();
    }
  });

  test('flow control up: a 2 MiB upload arrives whole (our WINDOW_UPDATEs), also at a backend that reads slowly', async () => {
    const s = await h2session(port, cert);
    try {
      const r = await h2fetch(s, { ':method': 'POST', ':path': '/hash' }, BIG);
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), `${BIG.length} ${sha(BIG)}`);
      const slow = await h2fetch(s, { ':method': 'POST', ':path': '/slowread' }, BIG.subarray(0, 1024 * 1024));
      assert.equal(slow.status, 200);
      assert.equal(slow.body.toString(), `${1024 * 1024} ${sha(BIG.subarray(0, 1024 * 1024))}`);
    } finally {
      s.destroy();
    }
  });

  test('a request body with Content-Length (as curl -d and HTML forms send it) reaches the backend', async () => {
    const s = await h2session(port, cert);
    try {
      // One DATA frame, then many.
      for (const body of [Buffer.from('hello world'), BIG]) {
        const r = await h2fetch(s, { ':method': 'POST', ':path': '/hash', 'content-length': String(body.length) }, body).catch((err: Error) => err);
        assert.ok(!(r instanceof Error), `a ${body.length}-byte body with Content-Length: ${r instanceof Error ? r.message : ''}`);
        assert.equal(r.status, 200);
        assert.equal(r.body.toString(), `${body.length} ${sha(body)}`);
      }
    } finally {
      s.destroy();
    }
  });

  test('a header list beyond 16 KiB (size or pairs) is answered 431 and the session serves the next request', async () => {
    const s = await h2session(port, cert, { maxSendHeaderBlockLength: 1 << 20 });
    try {
      const big = await h2fetch(s, { ':path': '/echo', 'x-big': 'a'.repeat(17_000) });
      assert.equal(big.status, 431);
      const many: OutgoingHttpHeaders = { ':path': '/echo' };
      for (let i = 0; i < 200; i++) many[`x-h${i}`] = String(i);
      assert.equal((await h2fetch(s, many)).status, 431, '200 fields, beyond the 128 allowed');
      const next = await h2fetch(s, { ':path': '/echo' });
      assert.equal(next.status, 200);
      assert.equal(JSON.parse(next.body.toString()).url, '/echo');
    } finally {
      s.destroy();
    }
  });

  test('a large cookie spread over CONTINUATION frames is answered 431, the session stays usable', async () => {
    // 24 KiB of base64: Huffman makes ~18 KiB of it, a HEADERS frame and a CONTINUATION. A browser
    // with a cookie jar this large should get 431, not lose every stream of its connection.
    const s = await h2session(port, cert, { maxSendHeaderBlockLength: 1 << 20 });
    let goaway: number | undefined;
    s.on('goaway', (code: number) => (goaway = code));
    s.on('error', () => undefined);
    try {
      const r = await h2fetch(s, { ':path': '/echo', cookie: `big=${randomBytes(18 * 1024).toString('base64')}` }).catch((err: Error) => err);
      assert.equal(goaway, undefined, `the server sent GOAWAY (code ${goaway}) instead of answering the request`);
      assert.ok(!(r instanceof Error), `the request failed: ${r instanceof Error ? r.message : ''}`);
      assert.equal(r.status, 431);
      assert.equal((await h2fetch(s, { ':path': '/echo' })).status, 200);
    } finally {
      s.destroy();
    }
  });

  test('CONNECT is answered 405; malformed requests get RST_STREAM PROTOCOL_ERROR and the connection stays usable', async () => {
    const c = await RawClient.connect(port, cert);
    try {
      c.headers(1, [':method', 'CONNECT', ':authority', 'app.test:443']);
      const connect = await c.response(1);
      assert.equal(connect.status, 405);
      const smuggled = 'GET /smuggled HTTP/1.1\r\nhost: app.test\r\nx-injected: 1\r\n\r\nGET';
      const cases: [string, string[], boolean?][] = [
        ['upper-case header name', request('/m', 'GET', ['X-Upper', '1'])],
        ['connection: keep-alive', request('/m', 'GET', ['connection', 'keep-alive'])],
        ['a pseudo-header after a regular one', [':method', 'GET', ':scheme', 'https', 'x-a', '1', ':path', '/m', ':authority', 'app.test']],
        ['missing :path', [':method', 'GET', ':scheme', 'https', ':authority', 'app.test']],
        ['te: gzip', request('/m', 'GET', ['te', 'gzip'])],
        ['unknown pseudo-header :foo', [':method', 'GET', ':scheme', 'https', ':authority', 'app.test', ':path', '/m', ':foo', 'bar']],
        ['content-length 5 with END_STREAM on HEADERS', request('/m', 'POST', ['content-length', '5'])],
        ['CR LF in a header value', request('/m', 'GET', ['x-a', 'a\r\nx-injected: 1'])],
        // RFC 9113 8.2.1: a field value, pseudo-header fields' too, with CR, LF or NUL is malformed.
        // Passed on, this :method writes a second request into the HTTP/1.1 connection to the backend.
        ['CR LF in :method (request smuggling)', request('/m', smuggled)],
        ['a space in :method (not a token)', request('/m', 'GET /smuggled')],
      ];
      let sid = 3;
      const wrong: string[] = [];
      for (const [what, fields] of cases) {
        c.headers(sid, fields);
        const r = await c.response(sid);
        if (r.rst !== PROTOCOL_ERROR || r.status !== 0) wrong.push(`${what}: got status ${r.status}, RST_STREAM code ${r.rst}`);
        sid += 2;
      }
      // CR LF in :path or :authority: ProxyHandler's own checks may answer 400 first; never forwarded.
      for (const [what, fields] of [
        ['CR LF in :path', request('/m\r\nx-injected: 1')],
        ['CR LF in :authority', [':method', 'GET', ':scheme', 'https', ':authority', 'app.test\r\nx-injected: 1', ':path', '/m']],
      ] as [string, string[]][]) {
        c.headers(sid, fields);
        const r = await c.response(sid);
        if (r.rst !== PROTOCOL_ERROR && r.status !== 400) wrong.push(`${what}: got status ${r.status}, RST_STREAM code ${r.rst}`);
        sid += 2;
      }
      assert.deepEqual(wrong, [], 'each malformed request gets RST_STREAM PROTOCOL_ERROR and no response');
      c.headers(sid, request('/after'));
      const ok = await c.response(sid);
      assert.equal(ok.status, 200);
      assert.equal(JSON.parse(ok.body.toString()).url, '/after');
      assert.equal(c.goaway(), undefined);
      assert.equal(c.closed, false);
      assert.ok(!app.urls.includes('/smuggled'), 'no smuggled request reached the backend');
      assert.equal(app.injected, 0, 'no injected header reached the backend');
      assert.ok(!app.urls.includes('/m'), 'no malformed request reached the backend');
    } finally {
      c.close();
    }
  });

  test('request trailers follow the rules of header fields: an upper-case name, a CR LF in a value or a pseudo-header gets RST_STREAM PROTOCOL_ERROR', async () => {
    const c = await RawClient.connect(port, cert);
    try {
      const wrong: string[] = [];
      let sid = 1;
      for (const [what, trailers] of [
        ['upper-case trailer name', ['X-Sum', '1']],
        ['CR LF in a trailer value', ['x-sum', '1\r\nx-injected: 1']],
        ['a pseudo-header in trailers', [':path', '/x']],
      ] as [string, string[]][]) {
        c.headers(sid, request('/trailers-bad', 'POST'), false);
        c.send(0x0, 0, sid, Buffer.from('ab'));
        c.headers(sid, trailers, true);
        const r = await c.response(sid);
        if (r.rst !== PROTOCOL_ERROR) wrong.push(`${what}: got status ${r.status}, RST_STREAM code ${r.rst}`);
        sid += 2;
      }
      assert.deepEqual(wrong, [], 'each malformed trailer section resets its stream');
      assert.equal(c.goaway(), undefined);
      assert.equal(app.injected, 0, 'no injected header reached the backend');
    } finally {
      c.close();
    }
  });

  test('two cookie fields reach the HTTP/1.1 backend as one Cookie header joined with "; "', async () => {
    const c = await RawClient.connect(port, cert);
    try {
      c.headers(1, request('/cookies', 'GET', ['cookie', 'a=1', 'x-other', 'o', 'cookie', 'b=2']));
      const r = await c.response(1);
      assert.equal(r.status, 200);
      const raw: string[] = JSON.parse(r.body.toString()).rawHeaders;
      const cookies = raw.filter((n, i) => i % 2 === 0 && n.toLowerCase() === 'cookie');
      assert.equal(cookies.length, 1, `one Cookie header (got ${JSON.stringify(raw)})`);
      assert.equal(raw[raw.findIndex((n, i) => i % 2 === 0 && n.toLowerCase() === 'cookie') + 1], 'a=1; b=2');
    } finally {
      c.close();
    }
  });

  test('Expect: 100-continue gets an interim 100 before the body is sent, then the final answer', async () => {
    const c = await RawClient.connect(port, cert);
    try {
      const body = Buffer.from('hello world');
      c.headers(1, request('/hash', 'POST', ['expect', '100-continue']), false);
      await c.until('HEADERS :status 100', (fs) => fs.some((f) => f.stream === 1 && f.type === HEADERS && f.fields !== undefined && record(f.fields)[':status'] === '100'));
      assert.ok(!c.frames.some((f) => f.stream === 1 && f.type === DATA), 'nothing but the interim response before the body');
      c.send(DATA, END_STREAM, 1, body);
      const r = await c.response(1);
      assert.deepEqual(r.interim, [100]);
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), `${body.length} ${sha(body)}`);
    } finally {
      c.close();
    }
  });

  test('concurrency: the 251st open stream is refused (REFUSED_STREAM); more than 100 refused streams end the connection (ENHANCE_YOUR_CALM)', async () => {
    const c = await RawClient.connect(port, cert);
    try {
      const heads: Buffer[] = [];
      for (let i = 0; i < 250; i++) heads.push(frame(HEADERS, END_HEADERS | END_STREAM, 2 * i + 1, c.block(request('/hold'))));
      c.sock.write(Buffer.concat(heads));
      await waitFor('250 requests in flight at the backend', () => app.held.length === 250);
      c.headers(501, request('/hold'));
      await c.until('RST_STREAM on stream 501', () => c.rst(501) !== undefined);
      assert.equal(c.rst(501), REFUSED_STREAM);
      assert.ok(!c.frames.some((f) => f.type === RST_STREAM && f.stream < 501), 'the first 250 streams were served');
      // 99 more refused (100 in all) is still within the limit: the PING is answered, no GOAWAY.
      const more: Buffer[] = [];
      for (let i = 0; i < 99; i++) more.push(frame(HEADERS, END_HEADERS | END_STREAM, 503 + 2 * i, c.block(request('/hold'))));
      more.push(frame(PING, 0, 0, Buffer.from('refused!')));
      c.sock.write(Buffer.concat(more));
      await c.until('the PING ack', (fs) => fs.some((f) => f.type === PING && (f.flags & ACK) !== 0));
      assert.equal(c.goaway(), undefined, 'no GOAWAY after 100 refused streams');
      assert.equal(c.frames.filter((f) => f.type === RST_STREAM && f.payload.readUInt32BE(0) === REFUSED_STREAM).length, 100);
      c.headers(701, request('/hold'));
      const g = await c.until('GOAWAY', () => c.goaway());
      assert.equal(g.code, ENHANCE_YOUR_CALM);
      await c.until('the connection closed', () => c.closed);
      assert.equal(app.held.length, 250, 'no refused request reached the backend');
    } finally {
      c.close();
      app.release();
    }
  });

  test('Rapid Reset: a burst of 900 streams reset while served is tolerated; 1,000 more end the connection (ENHANCE_YOUR_CALM); others are served', async () => {
    // CVE-2023-44487: each stream is opened (its request reaches the handler) and reset by the
    // client at once, so the server does work the client never waits for.
    const c = await RawClient.connect(port, cert);
    const cancel = Buffer.alloc(4);
    cancel.writeUInt32BE(CANCEL);
    let next = 1;
    const openAndReset = (n: number): Buffer[] => {
      const out: Buffer[] = [];
      for (let i = 0; i < n; i++, next += 2) out.push(frame(HEADERS, END_HEADERS | END_STREAM, next, c.block(request('/delay/10000'))), frame(RST_STREAM, 0, next, cancel));
      return out;
    };
    try {
      c.sock.write(Buffer.concat([...openAndReset(900), frame(PING, 0, 0, Buffer.from('reset900'))]));
      await c.until('the PING ack', (fs) => fs.some((f) => f.type === PING && (f.flags & ACK) !== 0));
      assert.equal(c.goaway(), undefined, 'no GOAWAY after 900 resets');
      c.sock.write(Buffer.concat(openAndReset(1_000)));
      const g = await c.until('GOAWAY', () => c.goaway());
      assert.equal(g.code, ENHANCE_YOUR_CALM);
      assert.ok(g.last < next, `GOAWAY names a stream the client opened (${g.last})`);
      await c.until('the connection closed', () => c.closed);
      await servesNewSessions();
    } finally {
      c.close();
    }
  });

  test('20,000 PINGs sent at once are each acknowledged with their own payload, in order', async () => {
    // More acks in one turn than the server's 16 KiB output buffer holds: it grows meanwhile.
    const reader = await RawClient.connect(port, cert);
    try {
      const payload = (i: number) => Buffer.from(`p${String(i).padStart(7, '0')}`);
      const pings = Buffer.concat(Array.from({ length: 20_000 }, (_, i) => frame(PING, 0, 0, payload(i))));
      reader.sock.write(pings);
      await reader.until('20,000 PING acks', (fs) => fs.filter((f) => f.type === PING && (f.flags & ACK) !== 0).length === 20_000);
      assert.equal(reader.closed, false);
      // Each ack carries its PING's payload (RFC 9113 6.7), in order.
      const acks = reader.frames.filter((f) => f.type === PING && (f.flags & ACK) !== 0).map((f) => f.payload.toString('latin1'));
      const wrong = acks.findIndex((a, i) => a !== payload(i).toString('latin1'));
      assert.equal(wrong, -1, `ack ${wrong} carries ${JSON.stringify(acks[wrong])}, not ${JSON.stringify(payload(wrong).toString('latin1'))}`);
    } finally {
      reader.close();
    }
  });

  test('a client that sends PINGs without reading the acks is disconnected once 4 MiB wait for it; others are served', async () => {
    // A control: a client that reads gets all of 20,000 PINGs acknowledged and keeps its connection.
    const reader = await RawClient.connect(port, cert);
    try {
      reader.sock.write(Buffer.concat(Array.from({ length: 20_000 }, () => frame(PING, 0, 0, Buffer.alloc(8)))));
      await reader.until('20,000 PING acks', (fs) => fs.filter((f) => f.type === PING && (f.flags & ACK) !== 0).length === 20_000);
      assert.equal(reader.closed, false);
    } finally {
      reader.close();
    }
    const c = await RawClient.connect(port, cert);
    try {
      const batch = Buffer.concat(Array.from({ length: 1_000 }, (_, i) => frame(PING, 0, 0, Buffer.alloc(8, i & 0xff))));
      const { sent, ms } = await floodUnread(c, () => batch, 1_000_000);
      assert.ok(c.closed, `the server did not close the connection of a client that does not read (${sent} PINGs sent in ${ms} ms)`);
      // Its acks: at least the 4 MiB limit (17 bytes each) were owed before the server gave up.
      assert.ok(sent * 17 > 4 * 1024 * 1024, `closed after only ${sent} PINGs`);
    } finally {
      c.close();
    }
    await servesNewSessions();
  });

  test('a client that sends requests answered without the handler (CONNECT: 405) and does not read the answers is disconnected too', async () => {
    // 1,000,000 answers of ~15 bytes each: 15 MB owed to a client that reads nothing.
    const c = await RawClient.connect(port, cert);
    try {
      let sid = 1;
      const { sent, ms } = await floodUnread(
        c,
        () => {
          const bs: Buffer[] = [];
          for (let i = 0; i < 1_000; i++, sid += 2) bs.push(frame(HEADERS, END_HEADERS | END_STREAM, sid, c.block([':method', 'CONNECT', ':authority', 'app.test:443'])));
          return Buffer.concat(bs);
        },
        1_000_000,
      );
      assert.ok(c.closed, `the server still buffers answers for a client that reads none (${sent} CONNECT requests in ${ms} ms)`);
    } finally {
      c.close();
    }
    await servesNewSessions();
  });

  test('a client that is not HTTP/2 on ALPN h2 gets GOAWAY PROTOCOL_ERROR and the connection closed; a TLS client without ALPN speaks HTTP/1.1', async () => {
    const c = await RawClient.connect(port, cert, false);
    try {
      c.sock.write('GET /echo HTTP/1.1\r\nhost: app.test\r\n\r\n');
      await c.until('the connection closed', () => c.closed);
      assert.equal(c.goaway()?.code, PROTOCOL_ERROR);
    } finally {
      c.close();
    }
    const sock = tlsConnect({ host: '127.0.0.1', port, servername: 'app.test', ca: cert.cert });
    try {
      sock.on('error', () => undefined);
      await once(sock, 'secureConnect');
      assert.equal(sock.alpnProtocol, false);
      let text = '';
      sock.on('data', (d: Buffer) => (text += d.toString('latin1')));
      sock.write('GET /plain HTTP/1.1\r\nhost: app.test\r\nconnection: close\r\n\r\n');
      await once(sock, 'close');
      assert.match(text, /^HTTP\/1\.1 200 /);
      assert.match(text, /"url":"\/plain"/);
    } finally {
      sock.destroy();
    }
    // And the server still serves HTTP/2.
    await servesNewSessions();
  });

  test('a stream the client cancels while its response streams aborts the upstream request; the session serves further requests', async () => {
    const s = await h2session(port, cert);
    try {
      const before = app.dripClosed;
      const req = s.request({ ':path': '/drip', ':authority': 'app.test' });
      req.on('error', () => undefined);
      let got = 0;
      req.on('data', (c: Buffer) => (got += c.length));
      await waitFor('64 KiB of the response', () => got >= 64 * 1024);
      req.close(h2constants.NGHTTP2_CANCEL);
      await waitFor('the backend sees its request closed', () => app.dripClosed > before, { timeoutMs: 2_000 });
      const r = await h2fetch(s, { ':path': '/echo' });
      assert.equal(r.status, 200);
    } finally {
      s.destroy();
    }
  });

  test('a response head longer than one frame goes out as HEADERS + CONTINUATION, intact', async () => {
    const c = await RawClient.connect(port, cert);
    try {
      c.headers(1, request('/heads'));
      const r = await c.response(1);
      assert.equal(c.decodeError, undefined, 'the header block decodes');
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), 'ok');
      const mine = c.frames.filter((f) => f.stream === 1 && (f.type === HEADERS || f.type === CONTINUATION));
      assert.ok(mine.length >= 2 && mine[0]!.type === HEADERS && (mine[0]!.flags & END_HEADERS) === 0, 'the block does not fit one frame (the test head is too small)');
      assert.ok(mine.slice(1).every((f) => f.type === CONTINUATION), 'CONTINUATION frames follow the HEADERS');
      assert.ok((mine.at(-1)!.flags & END_HEADERS) !== 0);
      assert.ok(mine.every((f) => f.payload.length <= 16_384));
      const got = record(r.fields);
      for (const [n, v] of head.fields) assert.equal(got[n], v, n);
    } finally {
      c.close();
    }
    // nghttp2 reassembles it too.
    const s = await h2session(port, cert, { settings: { maxHeaderListSize: 1 << 20 } });
    try {
      const r = await h2fetch(s, { ':path': '/heads' });
      assert.equal(r.status, 200);
      for (const [n, v] of head.fields) assert.equal(r.headers[n], v, n);
    } finally {
      s.destroy();
    }
  });
});

describe('HTTP/2 deadlines (keepAliveMs 300, requestMs 1500)', () => {
  let cert: TestCert;
  let app: AppBackend;
  let p: HttpProxy;

  before(async () => {
    cert = await makeCert(['app.test']);
    app = await startApp();
    p = await startSecure(new TestTable([route('app.test', '/', backend('default/app:80', [endpoint(app.srv.port)]))]), cert, { timeouts: { keepAliveMs: 300, requestMs: 1_500 } });
  });
  after(async () => {
    await p?.stop(500);
    await app?.srv.close();
  });

  test('an idle session gets GOAWAY NO_ERROR and is closed, not before keepAliveMs', async () => {
    const s = await h2session(p.address().port, cert);
    let goaway: number | undefined;
    let goawayAt = 0;
    s.on('goaway', (code: number) => {
      goaway = code;
      goawayAt = Date.now();
    });
    try {
      assert.equal((await h2fetch(s, { ':path': '/echo' })).status, 200);
      const idleFrom = Date.now();
      await waitFor('GOAWAY and close', () => goaway !== undefined && s.closed, { timeoutMs: 3_000 });
      assert.equal(goaway, NO_ERROR);
      assert.ok(goawayAt - idleFrom >= 250, `GOAWAY came ${goawayAt - idleFrom} ms after the last response`);
    } finally {
      s.destroy();
    }
  });

  test('a request body not finished within requestMs: its stream is reset (CANCEL), the session serves on', async () => {
    const s = await h2session(p.address().port, cert);
    try {
      const t0 = Date.now();
      const slow = s.request({ ':method': 'POST', ':path': '/hash' });
      slow.on('error', () => undefined);
      slow.write('the first part of a body that never ends');
      const keepOpen = setInterval(() => slow.write('.'), 200);
      await new Promise<void>((resolve) => slow.on('close', resolve));
      clearInterval(keepOpen);
      const ms = Date.now() - t0;
      assert.equal(slow.rstCode, h2constants.NGHTTP2_CANCEL);
      assert.ok(ms >= 1_400 && ms < 4_000, `reset after ${ms} ms`);
      // A body sent in time on the same session is served.
      const r = await h2fetch(s, { ':method': 'POST', ':path': '/hash' }, Buffer.from('whole'));
      assert.equal(r.status, 200);
    } finally {
      s.destroy();
    }
  });

  test('a session with a request in flight longer than keepAliveMs is kept until the response arrives', async () => {
    const s = await h2session(p.address().port, cert);
    let goawayAt = 0;
    s.on('goaway', () => (goawayAt = Date.now()));
    try {
      const r = await h2fetch(s, { ':path': '/delay/1000' });
      const doneAt = Date.now();
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), 'delayed /delay/1000');
      assert.ok(goawayAt === 0 || goawayAt >= doneAt, 'no GOAWAY while the request was in flight');
      // Idle afterwards: then it goes.
      await waitFor('GOAWAY once idle', () => goawayAt !== 0 && s.closed, { timeoutMs: 3_000 });
    } finally {
      s.destroy();
    }
  });
});
