import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signMessage, verifyMessage, verifyWith, signWith, parseTsigKeySpec, parseTsig, type TsigAlgorithm, type TsigKey } from '../../src/dnsserver/tsig.js';
import { encodeUpdate, encodeQuery, decodeMessage, RCODE, TYPE } from '../../src/dnsserver/wire.js';
import { startNamed, udpExchange, tcpExchange, axfrDone, run, DIG, type Named } from './helpers.js';

const ALGS: TsigAlgorithm[] = ['hmac-md5', 'hmac-sha1', 'hmac-sha224', 'hmac-sha256', 'hmac-sha384', 'hmac-sha512'];
const secret = Buffer.from('c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ=', 'base64');

function update(): Buffer {
  return encodeUpdate('example.test', [], [{ name: 'www.example.test', type: 'A', class: 'IN', ttl: 60, data: '192.0.2.1' }], 4242);
}

describe('tsig sign and verify', () => {
  for (const algorithm of ALGS) {
    test(`round trip with ${algorithm}`, () => {
      const key: TsigKey = { name: 'gp-key', algorithm, secret };
      const msg = update();
      const signed = signMessage(msg, key);
      assert.equal(signed.wire.readUInt16BE(10), 1, 'ARCOUNT counts the TSIG record');
      const r = verifyMessage(signed.wire, (n) => (n === 'gp-key' ? key : undefined));
      assert.ok(r.ok, r.ok ? '' : r.message);
      assert.deepEqual(r.unsigned, msg);
      assert.deepEqual(r.mac, signed.mac);
      const parsed = parseTsig(signed.wire);
      assert.equal(parsed?.algorithm, algorithm === 'hmac-md5' ? 'hmac-md5.sig-alg.reg.int' : algorithm);
    });
  }

  const key: TsigKey = { name: 'gp-key.', algorithm: 'hmac-sha256', secret };
  const lookup = (n: string) => (n === 'gp-key' ? key : undefined);

  test('a changed octet anywhere in the message is BADSIG', () => {
    const { wire } = signMessage(update(), key);
    for (const at of [2, 13, 30, 40]) {
      const bad = Buffer.from(wire);
      bad[at] = bad[at]! ^ 0x01;
      const r = verifyMessage(bad, lookup);
      assert.equal(r.ok, false);
      if (!r.ok) assert.ok(['BADSIG', 'FORMERR'].includes(r.rcode), `octet ${at}: ${r.rcode}`);
    }
    const bad = Buffer.from(wire);
    bad[bad.length - 10] ^= 0xff; // inside the MAC
    const r = verifyMessage(bad, lookup);
    assert.equal(r.ok ? 'ok' : r.rcode, 'BADSIG');
  });

  test('a wrong secret is BADSIG, an unknown key BADKEY, no TSIG NOTSIGNED', () => {
    const { wire } = signMessage(update(), { ...key, secret: Buffer.from('other') });
    const r1 = verifyMessage(wire, lookup);
    assert.equal(r1.ok ? 'ok' : r1.rcode, 'BADSIG');
    const r2 = verifyMessage(signMessage(update(), { ...key, name: 'nobody' }).wire, lookup);
    assert.equal(r2.ok ? 'ok' : r2.rcode, 'BADKEY');
    assert.equal(r2.ok ? '' : r2.keyName, 'nobody');
    const r3 = verifyMessage(signMessage(update(), { ...key, algorithm: 'hmac-sha512' }).wire, lookup);
    assert.equal(r3.ok ? 'ok' : r3.rcode, 'BADKEY');
    const r4 = verifyMessage(update(), lookup);
    assert.equal(r4.ok ? 'ok' : r4.rcode, 'NOTSIGNED');
    const r5 = verifyMessage(Buffer.from([1, 2, 3]), lookup);
    assert.equal(r5.ok ? 'ok' : r5.rcode, 'FORMERR');
  });

  test('time outside the fudge is BADTIME, inside is fine', () => {
    const now = 1_800_000_000;
    const { wire } = signMessage(update(), key, { time: now - 400, fudge: 300 });
    const r = verifyMessage(wire, lookup, { now });
    assert.equal(r.ok ? 'ok' : r.rcode, 'BADTIME');
    const ok = verifyMessage(signMessage(update(), key, { time: now + 299, fudge: 300 }).wire, lookup, { now });
    assert.ok(ok.ok);
  });

  test('a response verifies only against the MAC of its request', () => {
    const req = signMessage(update(), key);
    const resp = signMessage(update(), key, { requestMac: req.mac });
    assert.ok(verifyMessage(resp.wire, lookup, { requestMac: req.mac }).ok);
    const r = verifyMessage(resp.wire, lookup, { requestMac: Buffer.alloc(32) });
    assert.equal(r.ok ? 'ok' : r.rcode, 'BADSIG');
  });

  test('continuation messages (AXFR) cover the previous MAC and the timers', () => {
    const first = signMessage(update(), key);
    const next = signWith(update(), key, { requestMac: first.mac, timersOnly: true });
    assert.ok(verifyWith(next.wire, lookup, { requestMac: first.mac, timersOnly: true }).ok);
    assert.equal(verifyWith(next.wire, lookup, { requestMac: first.mac }).ok, false);
  });
});

describe('parseTsigKeySpec', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gp-tsig-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const plain = join(dir, 'plain');
  const bindFile = join(dir, 'bind.key');
  writeFileSync(plain, secret.toString('base64') + '\n');
  writeFileSync(bindFile, `key "x" {\n  algorithm hmac-sha256;\n  secret "${secret.toString('base64')}";\n};\n`);
  const cases: Array<[string, TsigKey | RegExp]> = [
    [`GP-Key.:hmac-sha256:${plain}`, { name: 'gp-key', algorithm: 'hmac-sha256', secret }],
    [`k:HMAC-MD5.SIG-ALG.REG.INT:${plain}`, { name: 'k', algorithm: 'hmac-md5', secret }],
    [`k:hmac-sha512:${bindFile}`, { name: 'k', algorithm: 'hmac-sha512', secret }],
    [`k:hmac-sha999:${plain}`, /unknown algorithm/],
    [`k:hmac-sha256`, /NAME:ALGORITHM:SECRET_FILE/],
    [`k:hmac-sha256:${join(dir, 'missing')}`, /cannot read secret file/],
  ];
  for (const [spec, want] of cases) {
    test(spec.replace(dir, '<dir>'), () => {
      if (want instanceof RegExp) assert.throws(() => parseTsigKeySpec(spec), want);
      else assert.deepEqual(parseTsigKeySpec(spec), want);
    });
  }
});

describe('interoperates with BIND named', () => {
  let named: Named;
  const key: TsigKey = { name: 'gp-key', algorithm: 'hmac-sha256', secret };
  before(async () => {
    named = await startNamed('example.test', { name: 'gp-key', algorithm: 'hmac-sha256', secretB64: secret.toString('base64') });
  });
  after(async () => {
    await named?.stop();
  });

  test('named accepts an update signed by signMessage and its signed answer verifies', async () => {
    const req = signMessage(encodeUpdate('example.test', [], [{ name: 'www.example.test', type: 'TXT', class: 'IN', ttl: 60, data: 'hello world' }]), key);
    const answer = await udpExchange(named.port, req.wire);
    const v = verifyMessage(answer, (n) => (n === 'gp-key' ? key : undefined), { requestMac: req.mac });
    assert.ok(v.ok, v.ok ? '' : v.message);
    assert.equal(decodeMessage(v.unsigned).rcode, RCODE.NOERROR);
    const dig = await run(DIG, ['+short', '-p', String(named.port), '@127.0.0.1', 'www.example.test', 'TXT']);
    assert.equal(dig.stdout.trim(), '"hello world"');
  });

  test('named answers a wrong secret with BADSIG, and verifyMessage reports it', async () => {
    const req = signMessage(update(), { ...key, secret: Buffer.from('wrong') });
    const answer = await udpExchange(named.port, req.wire);
    assert.equal(decodeMessage(answer).rcode, RCODE.NOTAUTH);
    const v = verifyMessage(answer, (n) => (n === 'gp-key' ? key : undefined), { requestMac: req.mac });
    assert.equal(v.ok ? 'ok' : v.rcode, 'BADSIG');
  });

  test('a signed AXFR from named verifies message by message', async () => {
    const req = signMessage(encodeQuery('example.test', 'AXFR'), key);
    const answers = await tcpExchange(named.port, req.wire, { timeoutMs: 5000, until: axfrDone });
    assert.ok(answers.length >= 1);
    let prior = req.mac;
    let names: string[] = [];
    for (let i = 0; i < answers.length; i++) {
      const v = verifyWith(answers[i]!, (n) => (n === 'gp-key' ? key : undefined), { requestMac: prior, timersOnly: i > 0 });
      assert.ok(v.ok, v.ok ? '' : v.message);
      prior = v.mac;
      names = names.concat(decodeMessage(v.unsigned).answers.filter((a) => a.type !== TYPE.SOA).map((a) => a.name));
    }
    assert.ok(names.includes('ns1.example.test'));
  });
});
