/** Protocol details checked with raw messages: TSIG errors, EDNS, TCP limits, the embedded provider. */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { DnsServer } from '../../src/dnsserver/server.js';
import { EmbeddedDnsProvider } from '../../src/controllers/dns/providers/embedded.js';
import { silentLogger } from '../../src/runtime/logger.js';
import { emptyChangeSet } from '../../src/controllers/dns/types.js';
import { signMessage, verifyMessage, parseTsig, type TsigKey } from '../../src/dnsserver/tsig.js';
import { decodeMessage, encodeQuery, encodeUpdate, frameTcp, TcpFrameReader, RCODE, TYPE } from '../../src/dnsserver/wire.js';
import { waitFor } from '../harness/wait.js';
import { udpExchange } from './helpers.js';

const key: TsigKey = { name: 'proto-key', algorithm: 'hmac-sha512', secret: Buffer.from('proto-secret-proto-secret-proto') };
const lookup = (n: string) => (n === 'proto-key' ? key : undefined);

function withOpt(q: Buffer, udpSize: number, version = 0): Buffer {
  const opt = Buffer.from([0, 0, 41, udpSize >> 8, udpSize & 255, 0, version, 0, 0, 0, 0]);
  const out = Buffer.concat([q, opt]);
  out.writeUInt16BE(out.readUInt16BE(10) + 1, 10);
  return out;
}

describe('protocol details', () => {
  let server: DnsServer;
  let port: number;
  before(async () => {
    server = new DnsServer({
      bind: '127.0.0.1',
      port: 0,
      zones: ['proto.test'],
      tsigKeys: [key],
      logger: silentLogger(),
      tcpIdleTimeoutMs: 300,
      maxTcpConnections: 3,
    });
    server.apply({ ...emptyChangeSet(), create: [{ name: 'big.proto.test', type: 'TXT', ttl: 60, targets: Array.from({ length: 20 }, (_, i) => `${i}-${'t'.repeat(100)}`) }] });
    await server.start();
    port = server.address().udp;
  });
  after(() => server?.stop());

  test('a request signed outside the fudge gets a signed NOTAUTH/BADTIME answer', async () => {
    const upd = encodeUpdate('proto.test', [], [{ name: 'late.proto.test', type: 'A', class: 'IN', ttl: 60, data: '192.0.2.1' }]);
    const req = signMessage(upd, key, { time: Math.floor(Date.now() / 1000) - 3600, fudge: 300 });
    const answer = await udpExchange(port, req.wire);
    assert.equal(decodeMessage(answer).rcode, RCODE.NOTAUTH);
    const t = parseTsig(answer)!;
    assert.equal(t.error, 18);
    assert.equal(t.other.length, 6, 'carries the server clock');
    // Its MAC verifies against our request's MAC; the time it reports is the request's, hence BADTIME.
    const v = verifyMessage(answer, lookup, { requestMac: req.mac });
    assert.equal(v.ok ? 'ok' : v.rcode, 'BADTIME');
    assert.equal(server.records('proto.test').some((r) => r.name === 'late.proto.test'), false);
  });

  test('a signed update for a zone it does not serve is NOTAUTH, signed', async () => {
    const req = signMessage(encodeUpdate('other.test', [], [{ name: 'a.other.test', type: 'A', class: 'IN', ttl: 60, data: '192.0.2.1' }]), key);
    const answer = await udpExchange(port, req.wire);
    const v = verifyMessage(answer, lookup, { requestMac: req.mac });
    assert.ok(v.ok, v.ok ? '' : v.message);
    assert.equal(decodeMessage(v.unsigned).rcode, RCODE.NOTAUTH);
  });

  test('EDNS: the answer carries OPT, honours the client size, BADVERS for version 1', async () => {
    const small = decodeMessage(await udpExchange(port, withOpt(encodeQuery('big.proto.test', 'TXT'), 100)));
    assert.ok(small.tc, 'a size below 512 counts as 512, and 2 KB of TXT does not fit');
    assert.equal(small.additionals[0]?.type, TYPE.OPT);
    const big = await udpExchange(port, withOpt(encodeQuery('big.proto.test', 'TXT'), 4096));
    const m = decodeMessage(big);
    assert.ok(m.tc, 'capped at 1232 octets even when the client offers 4096');
    assert.ok(big.length <= 1232);
    assert.equal(m.additionals[0]?.class, 1232);
    const bv = decodeMessage(await udpExchange(port, withOpt(encodeQuery('big.proto.test', 'TXT'), 1232, 1)));
    assert.equal(bv.rcode, 0);
    assert.equal(bv.additionals[0]!.ttl >>> 24, 1, 'extended rcode BADVERS (16)');
  });

  async function open(): Promise<Socket> {
    const s = connect(port, '127.0.0.1');
    s.on('error', () => {});
    await once(s, 'connect');
    return s;
  }

  test('TCP: pipelined queries on one connection are answered in order', async () => {
    const s = await open();
    const reader = new TcpFrameReader();
    const got: Buffer[] = [];
    s.on('data', (d) => got.push(...reader.push(d)));
    const ids = [11, 12, 13];
    s.write(Buffer.concat(ids.map((id) => frameTcp(encodeQuery('big.proto.test', 'TXT', { id })))));
    await waitFor('three answers', () => got.length === 3);
    assert.deepEqual(got.map((g) => decodeMessage(g).id), ids);
    assert.equal(decodeMessage(got[0]!).answers.length, 20, 'the full answer over TCP');
    s.destroy();
  });

  test('TCP: idle connections are closed, and connections beyond the limit are refused', async () => {
    const idle = await open();
    const closed = once(idle, 'close');
    await waitFor('the idle connection to be closed', async () => idle.destroyed || idle.readableEnded, { timeoutMs: 5000 });
    await closed;
    const held = [await open(), await open(), await open()];
    const extra = connect(port, '127.0.0.1');
    extra.on('error', () => {});
    const reader = new TcpFrameReader();
    let answered = false;
    extra.on('data', (d) => (answered = reader.push(d).length > 0 || answered));
    extra.on('connect', () => extra.write(frameTcp(encodeQuery('big.proto.test', 'TXT'))));
    await once(extra, 'close');
    assert.equal(answered, false, 'the fourth connection got no answer');
    for (const h of held) h.destroy();
  });

  test('the embedded provider lists and applies through the server', async () => {
    const p = new EmbeddedDnsProvider(server);
    assert.equal(p.name, 'embedded');
    assert.deepEqual(await p.zones(), ['proto.test']);
    await p.applyChanges({ ...emptyChangeSet(), create: [{ name: 'app.proto.test', type: 'A', ttl: 0, targets: ['192.0.2.80'] }] });
    const recs = await p.records('proto.test');
    const app = recs.find((r) => r.name === 'app.proto.test');
    assert.deepEqual(app, { name: 'app.proto.test', type: 'A', ttl: 300, targets: ['192.0.2.80'] });
    assert.deepEqual(p.adjust({ name: 'App.Proto.Test.', type: 'A', ttl: 0, targets: ['192.0.2.80'] }), app, 'adjust matches what is listed');
    assert.ok(recs.some((r) => r.type === 'SOA') && recs.some((r) => r.type === 'NS'));
    const a = decodeMessage(await udpExchange(port, encodeQuery('app.proto.test', 'A')));
    assert.equal(a.answers[0]?.data, '192.0.2.80');
    await assert.rejects(
      p.applyChanges({ ...emptyChangeSet(), create: [{ name: 'proto.test', type: 'NS', ttl: 0, targets: ['x.proto.test'] }] }),
      { code: 'ManagedRecord' },
    );
  });

  test('it serves on the IPv6 loopback too', async () => {
    const v6 = new DnsServer({ bind: '::1', port: 0, zones: ['proto.test'], tsigKeys: [], logger: silentLogger() });
    v6.apply({ ...emptyChangeSet(), create: [{ name: 'v6.proto.test', type: 'A', ttl: 60, targets: ['192.0.2.6'] }] });
    await v6.start();
    try {
      const a = decodeMessage(await udpExchange(v6.address().udp, encodeQuery('v6.proto.test', 'A'), 2000, '::1'));
      assert.equal(a.answers[0]?.data, '192.0.2.6');
    } finally {
      await v6.stop();
    }
  });
});
