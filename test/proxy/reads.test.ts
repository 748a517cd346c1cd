/**
 * Reading accepted sockets into the shared buffer (src/proxy/reads.ts), on real TCP sockets.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { waitFor } from '../harness/wait.js';
import { pushCopy, readInto, sharedClientReads } from '../../src/proxy/reads.js';

describe('shared reads for accepted sockets', () => {
  let server: Server;
  let port: number;
  const accepted: Socket[] = [];
  let onAccept: (s: Socket) => void = () => undefined;

  before(async () => {
    server = createServer((s) => {
      accepted.push(s);
      onAccept(s);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    for (const s of accepted) s.destroy();
    server.close();
  });

  async function pair(setup: (s: Socket) => void): Promise<Socket> {
    onAccept = setup;
    const c = connect(port, '127.0.0.1');
    await once(c, 'connect');
    await waitFor('accepted', () => accepted.length > 0 && accepted.at(-1)!.remotePort === c.localPort);
    return c;
  }

  test('this Node has net\'s user-buffer reads (the fast path relies on them; fails when an upgrade drops them)', () => {
    assert.equal(sharedClientReads, true);
  });

  test('every read arrives in the same buffer, byte for byte; no data events; end and close as usual', async () => {
    const reads: string[] = [];
    const buffers = new Set<Buffer>();
    let dataEvents = 0;
    let ended = false;
    let closed = false;
    let installed = false;
    const c = await pair((s) => {
      installed = readInto(s, (n, b) => {
        buffers.add(b);
        reads.push(b.toString('latin1', 0, n));
        return true;
      });
      s.on('data', () => dataEvents++);
      s.on('end', () => (ended = true));
      s.on('close', () => (closed = true));
    });
    assert.equal(installed, true);
    const parts = ['first', 'second'.repeat(100), 'x'.repeat(200_000)];
    for (const p of parts) {
      c.write(p);
      await waitFor(`read of ${p.length} bytes`, () => reads.join('').length >= parts.slice(0, parts.indexOf(p) + 1).join('').length);
    }
    assert.equal(reads.join(''), parts.join(''));
    assert.equal(buffers.size, 1, 'one shared buffer');
    assert.ok(reads.length >= 4, 'a 200 kB write takes several reads');
    assert.equal(dataEvents, 0);
    c.end();
    await waitFor('end on the accepted socket', () => ended);
    // Not half-open: the accepted side ends and closes by itself, as it does without shared reads.
    await waitFor('close of the accepted socket', () => closed);
  });

  test('returning false stops reading until resume(); nothing is lost', async () => {
    let got = '';
    let stopAfterFirst = true;
    const c = await pair((s) => {
      readInto(s, (n, b) => {
        got += b.toString('latin1', 0, n);
        if (stopAfterFirst) {
          stopAfterFirst = false;
          return false;
        }
        return true;
      });
    });
    const s = accepted.at(-1)!;
    c.write('one');
    await waitFor('first read', () => got === 'one');
    c.write('two');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(got, 'one', 'no read while stopped');
    s.resume();
    await waitFor('reading again', () => got === 'onetwo');
    c.destroy();
  });

  test('pushCopy hands reads to a stream reader (a new owner of the socket), as copies', async () => {
    let shared: Buffer | undefined;
    const c = await pair((s) => {
      readInto(s, (n, b) => {
        shared = b;
        return pushCopy(s, n, b);
      });
    });
    const s = accepted.at(-1)!;
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    c.write('hello ');
    await waitFor('first chunk', () => chunks.length === 1);
    c.write('world');
    await waitFor('second chunk', () => chunks.length === 2);
    assert.equal(Buffer.concat(chunks).toString(), 'hello world');
    for (const ch of chunks) assert.notEqual(ch.buffer, shared!.buffer, 'a copy, not a view of the shared buffer');
    c.destroy();
  });

  test('a socket already set up cannot be switched twice', async () => {
    let second: boolean | undefined;
    const c = await pair((s) => {
      readInto(s, () => true);
      second = readInto(s, () => true);
    });
    assert.equal(second, false);
    c.destroy();
  });
});
