import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import { H1Pool, type H1Handler, type H1PoolOptions, type H1Request } from '../../src/proxy/h1client.js';
import type { ResponseHead } from '../../src/proxy/h1parse.js';
import { isConnectFailure, upstreamErrorKind } from '../../src/proxy/errors.js';
import { freePort } from '../harness/net.js';
import { waitFor } from '../harness/wait.js';

// gangplank's HTTP/1.1 client against real TCP servers on 127.0.0.1 that write raw responses,
// so each test controls exactly which bytes the backend sends and when it closes.

/** One accepted connection: every byte the client sent, and whether it has closed. */
interface Peer {
  sock: Socket;
  got: Buffer;
  closed: boolean;
}

class Backend {
  readonly peers: Peer[] = [];
  port = 0;
  private readonly server: Server;

  /** `onData` sees the peer after each arrival (all bytes so far in `peer.got`). */
  constructor(onData: (peer: Peer, backend: Backend) => void) {
    this.server = createServer((sock) => {
      const peer: Peer = { sock, got: Buffer.alloc(0), closed: false };
      this.peers.push(peer);
      sock.on('data', (d: Buffer) => {
        peer.got = Buffer.concat([peer.got, d]);
        onData(peer, this);
      });
      sock.on('error', () => undefined);
      sock.on('close', () => {
        peer.closed = true;
      });
    });
  }

  async listen(t: TestContext): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const a = this.server.address();
    this.port = typeof a === 'object' && a !== null ? a.port : 0;
    t.after(() => {
      for (const p of this.peers) p.sock.destroy();
      this.server.close();
    });
    return this;
  }
}

/** Complete bodyless requests in what a peer received so far. */
function requestsIn(peer: Peer): string[] {
  return peer.got.toString('latin1').split('\r\n\r\n').slice(0, -1);
}

/** A backend answering each bodyless request with `response(n)` (n counts from 0 over all connections). */
async function scripted(t: TestContext, response: (n: number, req: string, peer: Peer) => string | null): Promise<Backend> {
  let n = 0;
  const answered = new Map<Peer, number>();
  return new Backend((peer) => {
    const reqs = requestsIn(peer);
    for (let i = answered.get(peer) ?? 0; i < reqs.length; i++) {
      answered.set(peer, i + 1);
      const r = response(n++, reqs[i]!, peer);
      if (r !== null) peer.sock.write(r, 'latin1');
    }
  }).listen(t);
}

class Rec implements H1Handler {
  readonly events: string[] = [];
  status = 0;
  reason = '';
  headers: string[] = [];
  readonly chunks: Buffer[] = [];
  trailers: string[] | null = null;
  error: Error | undefined;
  abort: ((err?: Error) => void) | undefined;
  resume: (() => void) | undefined;
  settled = false;
  /** Set by the test to act on each chunk; return false to pause. */
  data: ((chunk: Buffer, rec: Rec) => boolean) | undefined;

  onConnect(abort: (err?: Error) => void): void {
    this.events.push('connect');
    this.abort = abort;
  }
  onHead(head: ResponseHead, resume: () => void): boolean {
    this.events.push('headers');
    this.status = head.status;
    this.headers = head.fields();
    this.reason = head.reason;
    this.resume = resume;
    return true;
  }
  onDataView(chunk: Buffer): boolean {
    this.events.push('data');
    this.chunks.push(Buffer.from(chunk));
    return this.data === undefined ? true : this.data(chunk, this);
  }
  onComplete(trailers: string[] | null): void {
    this.events.push('complete');
    this.trailers = trailers;
    this.settled = true;
  }
  onError(err: Error): void {
    this.events.push('error');
    this.error = err;
    this.settled = true;
  }
  get body(): string {
    return Buffer.concat(this.chunks).toString('latin1');
  }
  /** The event log with consecutive data events folded into one. */
  get shape(): string[] {
    return this.events.filter((e, i) => e !== 'data' || this.events[i - 1] !== 'data');
  }
}

function pool(t: TestContext, port: number, o: Partial<H1PoolOptions> = {}): H1Pool {
  const p = new H1Pool({ host: '127.0.0.1', port, connectMs: 2000, headersMs: 5000, bodyIdleMs: 5000, keepAliveMs: 30_000, ...o });
  t.after(() => p.destroy());
  return p;
}

function get(path = '/', method = 'GET', body: Readable | null = null, headers: string[] = ['host', 'backend']): H1Request {
  return { method, path, headers, body };
}

async function run(p: H1Pool, req: H1Request, rec = new Rec()): Promise<Rec> {
  p.dispatch(req, rec);
  await waitFor(`the exchange for ${req.method} ${req.path} to settle`, () => rec.settled, { intervalMs: 5 });
  return rec;
}

const OK = (body: string, extra = '') => `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n${extra}\r\n${body}`;

test('h1client: keep-alive reuses one connection for consecutive requests', async (t) => {
  const be = await scripted(t, (n) => OK(`r${n}`));
  const p = pool(t, be.port);
  const a = await run(p, get('/a'));
  const b = await run(p, get('/b'));
  assert.deepEqual([a.shape, a.status, a.reason, a.body], [['connect', 'headers', 'data', 'complete'], 200, 'OK', 'r0']);
  assert.deepEqual(a.headers, ['Content-Length', '2']);
  assert.equal(b.body, 'r1');
  assert.equal(be.peers.length, 1, 'one backend connection for both requests');
  assert.equal(requestsIn(be.peers[0]!)[0], 'GET /a HTTP/1.1\r\nhost: backend');
  assert.equal(p.size, 1);
});

test('h1client: Connection: close and HTTP/1.0 responses are not reused', async (t) => {
  const be = await scripted(t, (n) => (n === 0 ? OK('x', 'Connection: close\r\n') : 'HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\ny'));
  const p = pool(t, be.port);
  assert.equal((await run(p, get())).body, 'x');
  assert.equal((await run(p, get())).body, 'y');
  assert.equal((await run(p, get())).body, 'y');
  assert.equal(be.peers.length, 3);
  await waitFor('every backend connection to close', () => be.peers.every((x) => x.closed));
  assert.equal(p.size, 0);
});

test('h1client: a body read until close completes when the backend closes', async (t) => {
  const be = await scripted(t, (_n, _r, peer) => {
    peer.sock.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the very end', 'latin1');
    return null;
  });
  const p = pool(t, be.port);
  const r = await run(p, get());
  assert.deepEqual([r.shape, r.body], [['connect', 'headers', 'data', 'complete'], 'until the very end']);
  await waitFor('the pool to drop the connection', () => p.size === 0);
});

test('h1client: an idle connection the backend closed is not reused', async (t) => {
  const be = await scripted(t, (n, _r, peer) => {
    peer.sock.write(OK(`r${n}`), 'latin1');
    if (n === 0) peer.sock.end(); // the backend's own keep-alive timer, say
    return null;
  });
  const p = pool(t, be.port);
  assert.equal((await run(p, get())).body, 'r0');
  await waitFor('the pool to notice the close', () => p.size === 0);
  const b = await run(p, get());
  assert.deepEqual([b.shape, b.body], [['connect', 'headers', 'data', 'complete'], 'r1']);
  assert.equal(be.peers.length, 2);
});

test('h1client: a kept-alive connection closed as the next request arrives fails with a reset code, before any byte', async (t) => {
  for (const how of ['end', 'reset'] as const) {
    const be = await scripted(t, (n, _r, peer) => {
      if (n === 0) return OK('first');
      if (how === 'end') peer.sock.end();
      else peer.sock.resetAndDestroy();
      return null;
    });
    const p = pool(t, be.port);
    assert.equal((await run(p, get())).body, 'first');
    const r = await run(p, get('/again'));
    assert.deepEqual(r.shape, ['connect', 'error'], how);
    const code = (r.error as NodeJS.ErrnoException).code;
    assert.ok(code === 'ECONNRESET' || code === 'EPIPE', `${how}: code ${code}`);
    // The proxy retries bodyless idempotent requests on exactly this kind.
    assert.equal(upstreamErrorKind(r.error!), 'reset', how);
    assert.equal(be.peers.length, 1, how);
    assert.equal(p.size, 0, how);
  }
});

test('h1client: headers timeout', async (t) => {
  const be = await scripted(t, () => null);
  const p = pool(t, be.port, { headersMs: 200 });
  const r = await run(p, get());
  assert.deepEqual(r.shape, ['connect', 'error']);
  assert.equal((r.error as NodeJS.ErrnoException).code, 'UND_ERR_HEADERS_TIMEOUT');
  assert.equal(upstreamErrorKind(r.error!), 'timeout');
  await waitFor('the backend to see the connection closed', () => be.peers[0]?.closed);
});

test('h1client: body idle timeout', async (t) => {
  const be = await scripted(t, () => 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
  const p = pool(t, be.port, { bodyIdleMs: 200 });
  const r = await run(p, get());
  assert.deepEqual([r.shape, r.body], [['connect', 'headers', 'data', 'error'], 'abc']);
  assert.equal((r.error as NodeJS.ErrnoException).code, 'UND_ERR_BODY_TIMEOUT');
  assert.equal(upstreamErrorKind(r.error!), 'timeout');
  await waitFor('the backend to see the connection closed', () => be.peers[0]?.closed);
});

test('h1client: connection refused', async (t) => {
  const port = await freePort();
  const p = pool(t, port);
  const r = await run(p, get());
  assert.deepEqual(r.shape, ['connect', 'error']);
  assert.equal((r.error as NodeJS.ErrnoException).code, 'ECONNREFUSED');
  assert.equal(isConnectFailure(r.error!), true);
  assert.equal(upstreamErrorKind(r.error!), 'connect');
  assert.equal(p.size, 0);
});

/** A backend that answers once `want` bytes arrived on a connection. */
async function uploadBackend(t: TestContext, want: string): Promise<Backend> {
  return new Backend((peer) => {
    if (peer.got.length >= want.length) peer.sock.write(OK('stored'), 'latin1');
  }).listen(t);
}

test('h1client: a request body with Content-Length is streamed as is', async (t) => {
  const want = 'PUT /up HTTP/1.1\r\nhost: backend\r\ncontent-length: 11\r\n\r\nhello world';
  const be = await uploadBackend(t, want);
  const p = pool(t, be.port);
  const body = Readable.from([Buffer.from('hello'), Buffer.from(' world')]);
  const r = await run(p, get('/up', 'PUT', body, ['host', 'backend', 'content-length', '11']));
  assert.equal(r.body, 'stored');
  assert.equal(be.peers[0]!.got.toString('latin1'), want);
  // Fully sent and fully answered: the connection is reused.
  assert.equal((await run(p, get())).body, 'stored');
  assert.equal(be.peers.length, 1);
});

test('h1client: a request body without Content-Length is sent chunked', async (t) => {
  const want = 'POST /up HTTP/1.1\r\nhost: backend\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n10\r\n and more bytes!\r\n0\r\n\r\n';
  const be = await uploadBackend(t, want);
  const p = pool(t, be.port);
  const body = Readable.from([Buffer.from('hello'), Buffer.alloc(0), Buffer.from(' and more bytes!')]);
  const r = await run(p, get('/up', 'POST', body));
  assert.equal(r.body, 'stored');
  assert.equal(be.peers[0]!.got.toString('latin1'), want);
});

test('h1client: handler backpressure: no data while paused, every byte in order after resumes', async (t) => {
  const size = 4 * 1024 * 1024;
  const payload = Buffer.alloc(size);
  for (let i = 0; i < size; i++) payload[i] = i % 251;
  const be = await scripted(t, (_n, _r, peer) => {
    peer.sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\n\r\n`, 'latin1');
    peer.sock.write(payload);
    return null;
  });
  const p = pool(t, be.port);
  let paused = false;
  let pauses = 0;
  let duringPause = 0;
  const rec = new Rec();
  rec.data = (_c, r) => {
    if (paused) duringPause++;
    // A slow client: every other chunk pauses the exchange until a later turn of the event loop.
    if (pauses++ % 2 === 1) return true;
    paused = true;
    setTimeout(() => {
      paused = false;
      r.resume!();
    }, 1);
    return false;
  };
  await run(p, get(), rec);
  assert.equal(duringPause, 0, 'onData was called while the handler had paused');
  assert.deepEqual(rec.shape, ['connect', 'headers', 'data', 'complete']);
  assert.ok(Buffer.concat(rec.chunks).equals(payload), 'the body arrived whole and in order');
  assert.equal((await run(p, get())).status, 200);
  assert.equal(be.peers.length, 1, 'a paused and resumed exchange leaves a reusable connection');
});

test('h1client: a paused exchange stops reading from the backend, and its idle deadline waits', async (t) => {
  const size = 32 * 1024 * 1024;
  let backlog = false;
  const be = await scripted(t, (_n, _r, peer) => {
    peer.sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\n\r\n`, 'latin1');
    backlog = !peer.sock.write(Buffer.alloc(size, 0x61));
    return null;
  });
  const p = pool(t, be.port, { bodyIdleMs: 300 });
  const rec = new Rec();
  rec.data = () => false;
  p.dispatch(get(), rec);
  await waitFor('the first body chunk', () => rec.chunks.length > 0);
  // The backend's writes back up because nothing reads them; the exchange is still alive after
  // well over bodyIdleMs, since the slow party is our own handler.
  const since = Date.now();
  await waitFor('the backend to see its writes back up for longer than bodyIdleMs', () => backlog && be.peers[0]!.sock.writableLength > 0 && Date.now() - since > 600, { timeoutMs: 5000 });
  assert.equal(rec.chunks.length, 1, 'no data while paused');
  assert.equal(rec.settled, false);
  rec.data = undefined;
  rec.resume!();
  await waitFor('the exchange to complete', () => rec.settled, { timeoutMs: 20_000 });
  assert.equal(rec.shape.at(-1), 'complete');
  assert.equal(Buffer.concat(rec.chunks).length, size);
});

test('h1client: abort() mid-response closes the connection and the handler hears nothing more', async (t) => {
  const be = await scripted(t, () => 'HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nfirst');
  const p = pool(t, be.port);
  const rec = new Rec();
  rec.data = (_c, r) => {
    r.abort!(new Error('client went away'));
    return true;
  };
  p.dispatch(get(), rec);
  await waitFor('the backend to see the connection closed', () => be.peers[0]?.closed);
  assert.deepEqual(rec.shape, ['connect', 'headers', 'data']);
  assert.equal(rec.body, 'first');
  assert.equal(p.size, 0);
  // The pool is still usable.
  assert.equal((await run(p, get())).status, 200);
  assert.equal(be.peers.length, 2);
});

test('h1client: abort() from onHead with body bytes in the same packet', async (t) => {
  const be = await scripted(t, () => 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789');
  const p = pool(t, be.port);
  const rec = new Rec();
  const onHead = rec.onHead.bind(rec);
  rec.onHead = (head, resume) => {
    onHead(head, resume);
    rec.abort!();
    return true;
  };
  p.dispatch(get(), rec);
  await waitFor('the backend to see the connection closed', () => be.peers[0]?.closed);
  assert.deepEqual(rec.shape, ['connect', 'headers']);
  assert.equal(p.size, 0);
});

test('h1client: a response that arrives before the request body was sent leaves the connection unused', async (t) => {
  const be = new Backend((peer) => {
    if (peer.got.includes('\r\n\r\n') && !peer.sock.writableEnded) {
      peer.sock.write('HTTP/1.1 413 Content Too Large\r\nContent-Length: 3\r\n\r\nbig', 'latin1');
    }
  });
  await be.listen(t);
  const p = pool(t, be.port);
  const body = new PassThrough();
  body.write('part of the upload');
  const r = await run(p, get('/up', 'POST', body, ['host', 'backend', 'content-length', '1000000']));
  assert.deepEqual([r.status, r.reason, r.body, r.shape.at(-1)], [413, 'Content Too Large', 'big', 'complete']);
  await waitFor('the backend to see the connection closed', () => be.peers[0]?.closed);
  assert.equal(p.size, 0);
  body.end('more');
});

test('h1client: bytes after a complete response make the connection unusable', async (t) => {
  const be = await scripted(t, (n) => (n === 0 ? OK('a') + 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nsmugg' : OK('b')));
  const p = pool(t, be.port);
  assert.equal((await run(p, get())).body, 'a');
  const b = await run(p, get());
  assert.equal(b.body, 'b', 'the unsolicited response was not taken for the next one');
  assert.equal(be.peers.length, 2);
});

test('h1client: HEAD has no body and leaves the connection reusable', async (t) => {
  const be = await scripted(t, (_n, req) => (req.startsWith('HEAD') ? 'HTTP/1.1 200 OK\r\nContent-Length: 12345\r\n\r\n' : OK('body')));
  const p = pool(t, be.port);
  const h = await run(p, get('/', 'HEAD'));
  assert.deepEqual([h.shape, h.status, h.headers], [['connect', 'headers', 'complete'], 200, ['Content-Length', '12345']]);
  assert.equal((await run(p, get())).body, 'body');
  assert.equal(be.peers.length, 1);
});

test('h1client: interim responses are skipped, trailers are passed on', async (t) => {
  const be = await scripted(t, () => 'HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n');
  const p = pool(t, be.port);
  const r = await run(p, get());
  assert.deepEqual([r.shape, r.status, r.body, r.trailers], [['connect', 'headers', 'data', 'complete'], 200, 'abc', ['X-Sum', '1']]);
  assert.equal((await run(p, get())).body, 'abc');
  assert.equal(be.peers.length, 1);
});

test('h1client: a malformed response is a protocol error and closes the connection', async (t) => {
  const be = await scripted(t, () => 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab');
  const p = pool(t, be.port);
  const r = await run(p, get());
  assert.deepEqual(r.shape, ['connect', 'error']);
  assert.equal((r.error as NodeJS.ErrnoException).code, 'HPE_UPSTREAM_RESPONSE');
  assert.equal(upstreamErrorKind(r.error!), 'protocol');
  await waitFor('the backend to see the connection closed', () => be.peers[0]?.closed);
});

test("h1client: the backend's Keep-Alive timeout shortens how long an idle connection is kept", async (t) => {
  const be = await scripted(t, () => OK('k', 'Keep-Alive: timeout=2\r\n'));
  const p = pool(t, be.port, { keepAliveMs: 30_000 });
  await run(p, get());
  // One second before the backend would close it (timeout=2 s), gangplank does.
  await waitFor('gangplank to close the idle connection', () => be.peers[0]?.closed, { timeoutMs: 5000 });
  assert.equal(p.size, 0);
});

test('h1client: close() closes idle connections, lets busy ones finish, refuses new requests', async (t) => {
  let hold: Peer | undefined;
  const be = await scripted(t, (_n, req, peer) => {
    if (req.startsWith('GET /slow')) {
      hold = peer;
      return null;
    }
    return OK('fast');
  });
  const p = pool(t, be.port);
  const slow = new Rec();
  p.dispatch(get('/slow'), slow);
  await waitFor('the slow request to reach the backend', () => hold !== undefined);
  await run(p, get('/fast')); // on a second connection, idle afterwards
  assert.equal(be.peers.length, 2);
  assert.equal(be.peers[0], hold);
  p.close();
  await waitFor('the idle connection to close', () => be.peers[1]!.closed);
  assert.equal(be.peers[0]!.closed, false, 'the busy connection stays open');
  hold!.sock.write(OK('late'), 'latin1');
  await waitFor('the slow exchange to complete', () => slow.settled);
  assert.equal(slow.body, 'late');
  await waitFor('the busy connection to close after its exchange', () => be.peers[0]!.closed);
  const after = await run(p, get());
  assert.deepEqual(after.shape, ['error']);
  assert.equal((after.error as NodeJS.ErrnoException).code, 'UND_ERR_CLOSED');
  assert.equal(p.size, 0);
});

test('h1client: destroy() closes busy connections too, and their exchanges fail with a reset', async (t) => {
  const be = await scripted(t, () => 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
  const p = pool(t, be.port);
  const r = new Rec();
  p.dispatch(get(), r);
  await waitFor('part of the body', () => r.chunks.length > 0);
  p.destroy();
  await waitFor('the exchange to fail', () => r.settled);
  assert.deepEqual(r.shape, ['connect', 'headers', 'data', 'error']);
  assert.equal(upstreamErrorKind(r.error!), 'reset');
  await waitFor('the backend to see the connection closed', () => be.peers[0]!.closed);
  assert.equal(p.size, 0);
});

test('h1client: body chunks and bytes held over a pause stay intact while other connections read, and the connection reads again after', async (t) => {
  // The whole chunked response in one write: the handler pauses on the first chunk, so the rest
  // (more chunks and the terminator) is held until it resumes.
  const chunked = (n: number) => `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n6\r\nsecond\r\n5\r\nthird\r\n0\r\n\r\n`.replace('first', n === 0 ? 'first' : 'again');
  const be = await scripted(t, (n) => chunked(n));
  const other = await scripted(t, () => OK('z'.repeat(3000)));
  const p = pool(t, be.port);
  const q = pool(t, other.port);
  // A chunk is a view valid during onDataView only (the next read overwrites it): kept as copies.
  // What this checks is the client's own copy of the bytes it holds over the pause.
  const kept: Buffer[] = [];
  const rec = new Rec();
  rec.data = (chunk) => {
    kept.push(Buffer.from(chunk));
    return kept.length !== 1; // pause after the first chunk
  };
  p.dispatch(get('/paused'), rec);
  await waitFor('the first chunk', () => kept.length === 1);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(rec.settled, false, 'paused: the held chunks wait');
  // Another connection reads meanwhile (gangplank's connections share one read buffer).
  assert.equal((await run(q, get('/other'))).body, 'z'.repeat(3000));
  rec.resume!();
  await waitFor('the paused exchange to complete', () => rec.settled);
  assert.deepEqual(rec.shape, ['connect', 'headers', 'data', 'complete']);
  assert.deepEqual(kept.map((c) => c.toString('latin1')), ['first', 'second', 'third']);
  // The connection went back to the pool reading: the next request on it is answered.
  const next = await run(p, get('/next'));
  assert.equal(next.body, 'againsecondthird');
  assert.equal(be.peers.length, 1, 'the same connection served both');
});
