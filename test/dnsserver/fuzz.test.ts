import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { once } from 'node:events';
import { DnsServer } from '../../src/dnsserver/server.js';
import { silentLogger } from '../../src/runtime/logger.js';
import { emptyChangeSet } from '../../src/controllers/dns/types.js';
import { signMessage, type TsigKey } from '../../src/dnsserver/tsig.js';
import { decodeMessage, encodeQuery, encodeUpdate, RCODE } from '../../src/dnsserver/wire.js';
import { waitFor } from '../harness/wait.js';
import { udpExchange, tcpExchange } from './helpers.js';

const key: TsigKey = { name: 'fuzz-key', algorithm: 'hmac-sha256', secret: Buffer.from('fuzz-secret-fuzz-secret') };

/** A small seeded PRNG (mulberry32) so a failing run can be repeated. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function seeds(): Buffer[] {
  const q = encodeQuery('www.example.test', 'A', { id: 1 });
  const withOpt = Buffer.concat([q, Buffer.from([0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0])]);
  withOpt.writeUInt16BE(1, 10);
  const upd = encodeUpdate('example.test', [{ name: 'a.example.test', type: 'ANY', class: 'NONE', ttl: 0 }], [
    { name: 'a.example.test', type: 'TXT', class: 'IN', ttl: 60, data: 'x' },
    { name: 'b.example.test', type: 'A', class: 'ANY', ttl: 0 },
    { name: 'c.example.test', type: 'A', class: 'NONE', ttl: 0, data: '192.0.2.1' },
  ]);
  return [q, withOpt, upd, signMessage(upd, key).wire, signMessage(encodeQuery('example.test', 'AXFR'), key).wire];
}

/** Random bytes, or a valid message with bytes flipped, cut, duplicated or counts inflated. */
function mutant(r: () => number, base: Buffer[]): Buffer {
  const pick = r();
  if (pick < 0.2) {
    const b = Buffer.alloc(Math.floor(r() * 600));
    for (let i = 0; i < b.length; i++) b[i] = Math.floor(r() * 256);
    return b;
  }
  const b = Buffer.from(base[Math.floor(r() * base.length)]!);
  b[2] = b[2]! & 0x7f; // keep QR clear so the server does not just drop it
  const flips = 1 + Math.floor(r() * 6);
  for (let i = 0; i < flips; i++) {
    const at = Math.floor(r() * b.length);
    const mode = r();
    if (mode < 0.5) b[at] = Math.floor(r() * 256);
    else if (mode < 0.7) b[at] = 0xc0 | Math.floor(r() * 4); // compression pointers, loops
    else if (mode < 0.85 && b.length > 12) b.writeUInt16BE(Math.floor(r() * 65536), 4 + 2 * Math.floor(r() * 4));
    else b[at] = 63;
  }
  if (r() < 0.3) return b.subarray(0, Math.floor(r() * b.length));
  if (r() < 0.1) return Buffer.concat([b, b.subarray(12)]);
  return b;
}

describe('malformed packets never take the server down', () => {
  let server: DnsServer;
  let port: number;
  before(async () => {
    server = new DnsServer({ bind: '127.0.0.1', port: 0, zones: ['example.test'], tsigKeys: [key], logger: silentLogger() });
    server.apply({ ...emptyChangeSet(), create: [{ name: 'www.example.test', type: 'A', ttl: 60, targets: ['192.0.2.1'] }] });
    await server.start();
    port = server.address().udp;
  });
  after(() => server?.stop());

  test('every mutant gets a well-formed answer or is dropped (in process, 50,000 cases)', () => {
    const r = rng(20261126);
    const base = seeds();
    for (let i = 0; i < 50_000; i++) {
      const m = mutant(r, base);
      const out = server.handle(m, r() < 0.5 ? 'udp' : 'tcp');
      for (const o of out ?? []) {
        const d = decodeMessage(o);
        assert.ok(d.qr, 'answers have QR set');
        if (m.length >= 2) assert.equal(d.id, m.readUInt16BE(0), 'answers echo the id');
      }
    }
  });

  test('thousands of random and mutated packets over UDP and TCP, then it still answers', async () => {
    const r = rng(7);
    const base = seeds();
    const sock = createSocket('udp4');
    await new Promise<void>((res) => sock.bind(0, '127.0.0.1', () => res()));
    for (let i = 0; i < 5000; i++) {
      sock.send(mutant(r, base), port, '127.0.0.1');
      if (i % 200 === 0) await new Promise((res) => setImmediate(res));
    }
    sock.close();

    for (let c = 0; c < 20; c++) {
      const s = connect(port, '127.0.0.1');
      await once(s, 'connect');
      s.on('error', () => {});
      const chunks: Buffer[] = [];
      for (let i = 0; i < 100; i++) {
        const m = mutant(r, base);
        const len = Buffer.alloc(2);
        // Sometimes a lying length prefix: the stream must not wedge the server.
        len.writeUInt16BE(r() < 0.1 ? Math.floor(r() * 65536) : m.length);
        chunks.push(len, m);
      }
      s.end(Buffer.concat(chunks));
      s.destroy();
    }

    const ok = await waitFor('an answer after the fuzzing', async () => {
      const a = decodeMessage(await udpExchange(port, encodeQuery('www.example.test', 'A'), 500));
      return a.rcode === RCODE.NOERROR && a.answers[0]?.data === '192.0.2.1';
    });
    assert.ok(ok);
    const tcp = await tcpExchange(port, encodeQuery('www.example.test', 'A'), { count: 1 });
    assert.equal(decodeMessage(tcp[0]!).answers[0]?.data, '192.0.2.1');
  });

  test('a header-only or empty datagram is dropped, a response is never answered', () => {
    assert.equal(server.handle(Buffer.alloc(0), 'udp'), undefined);
    assert.equal(server.handle(Buffer.alloc(11), 'udp'), undefined);
    const resp = Buffer.from(encodeQuery('www.example.test', 'A'));
    resp[2] |= 0x80;
    assert.equal(server.handle(resp, 'udp'), undefined);
    const junk = Buffer.concat([encodeQuery('www.example.test', 'A'), Buffer.from([1, 2, 3])]);
    assert.equal(decodeMessage(server.handle(junk, 'udp')![0]!).rcode, RCODE.FORMERR);
  });
});
