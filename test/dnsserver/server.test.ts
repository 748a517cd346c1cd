import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DnsServer } from '../../src/dnsserver/server.js';
import { silentLogger } from '../../src/runtime/logger.js';
import { emptyChangeSet, DnsProviderError, type DnsRecord } from '../../src/controllers/dns/types.js';
import type { TsigKey } from '../../src/dnsserver/tsig.js';
import { run, DIG, NSUPDATE, needBindTools } from './helpers.js';

const SECRET = 'c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ=';
const OTHER_SECRET = 'b3RoZXItb3RoZXItb3RoZXItb3RoZXItb3RoZXItMTI=';
const key: TsigKey = { name: 'gp-key', algorithm: 'hmac-sha256', secret: Buffer.from(SECRET, 'base64') };
const ALGS = ['hmac-md5', 'hmac-sha1', 'hmac-sha224', 'hmac-sha256', 'hmac-sha384', 'hmac-sha512'] as const;
const algKeys: TsigKey[] = ALGS.map((algorithm) => ({ name: `k-${algorithm}`, algorithm, secret: Buffer.from(OTHER_SECRET, 'base64') }));

const seed: DnsRecord[] = [
  { name: 'www.example.test', type: 'A', ttl: 60, targets: ['192.0.2.10', '192.0.2.11'] },
  { name: 'www.example.test', type: 'TXT', ttl: 60, targets: ['hello world', 'second'] },
  { name: 'v6.example.test', type: 'AAAA', ttl: 60, targets: ['2001:db8:0:0:0:0:0:1'] },
  { name: 'alias.example.test', type: 'CNAME', ttl: 60, targets: ['www.example.test'] },
  { name: 'chain.example.test', type: 'CNAME', ttl: 60, targets: ['alias.example.test'] },
  { name: 'cross.example.test', type: 'CNAME', ttl: 60, targets: ['app.other.test'] },
  { name: 'app.other.test', type: 'A', ttl: 60, targets: ['198.51.100.7'] },
  { name: 'out.example.test', type: 'CNAME', ttl: 60, targets: ['target.elsewhere.invalid'] },
  { name: 'long.example.test', type: 'TXT', ttl: 60, targets: ['a'.repeat(300)] },
  { name: 'leaf.ent.example.test', type: 'A', ttl: 60, targets: ['192.0.2.20'] },
  { name: 'big.example.test', type: 'A', ttl: 60, targets: Array.from({ length: 60 }, (_, i) => `10.0.${i >> 8}.${i & 255}`) },
];

/** dig against the server under test; returns stdout. */
async function dig(port: number, ...args: string[]): Promise<string> {
  const r = await run(DIG, ['-p', String(port), '@127.0.0.1', '+time=2', '+tries=1', ...args]);
  return r.stdout;
}

function status(out: string): string | undefined {
  return /status: (\w+)/.exec(out)?.[1];
}

function flags(out: string): string[] {
  return (/;; flags: ([^;]*);/.exec(out)?.[1] ?? '').trim().split(/\s+/);
}

/** The records of one section as [owner, ttl, type, data] rows. */
function section(out: string, name: 'ANSWER' | 'AUTHORITY'): string[][] {
  const m = new RegExp(`;; ${name} SECTION:\\n([\\s\\S]*?)(\\n\\n|$)`).exec(out);
  if (!m) return [];
  return m[1]!.split('\n').filter(Boolean).map((l) => {
    const [owner, ttl, , type, ...rest] = l.split(/\s+/);
    return [owner!, ttl!, type!, rest.join(' ')];
  });
}

async function nsupdate(port: number, keyArg: string | undefined, commands: string[]): Promise<{ code: number; out: string }> {
  const script = [`server 127.0.0.1 ${port}`, 'zone example.test', ...commands, 'send', ''].join('\n');
  const args = keyArg ? ['-y', keyArg] : [];
  const r = await run(NSUPDATE, ['-t', '5', ...args], script);
  return { code: r.code, out: r.stdout + r.stderr };
}

describe('embedded DNS server with BIND clients', () => {
  let dir: string;
  let server: DnsServer;
  let port: number;
  const stateFile = () => join(dir, 'dns', 'state.json');
  const make = () =>
    new DnsServer({ bind: '127.0.0.1', port: 0, zones: ['example.test', 'other.test'], tsigKeys: [key, ...algKeys], stateFile: stateFile(), logger: silentLogger() });

  before(async () => {
    needBindTools();
    dir = mkdtempSync(join(tmpdir(), 'gp-dnsserver-'));
    server = make();
    server.apply({ ...emptyChangeSet(), create: seed });
    await server.start();
    port = server.address().udp;
    assert.equal(server.address().tcp, port);
  });
  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('A and AAAA answers are authoritative', async () => {
    const out = await dig(port, 'www.example.test', 'A');
    assert.equal(status(out), 'NOERROR');
    assert.ok(flags(out).includes('aa'));
    assert.deepEqual(section(out, 'ANSWER').map((r) => r[3]).sort(), ['192.0.2.10', '192.0.2.11']);
    assert.equal(section(out, 'ANSWER')[0]![1], '60');
    assert.equal((await dig(port, '+short', 'v6.example.test', 'AAAA')).trim(), '2001:db8::1');
  });

  test('the answer keeps the case of the question', async () => {
    const out = await dig(port, 'WwW.ExAmPlE.TeSt', 'A');
    assert.equal(section(out, 'ANSWER')[0]![0], 'WwW.ExAmPlE.TeSt.');
  });

  test('a CNAME chain is followed inside the served zones', async () => {
    const rows = section(await dig(port, 'chain.example.test', 'A'), 'ANSWER');
    assert.deepEqual(rows.map((r) => [r[0], r[2], r[3]]), [
      ['chain.example.test.', 'CNAME', 'alias.example.test.'],
      ['alias.example.test.', 'CNAME', 'www.example.test.'],
      ['www.example.test.', 'A', '192.0.2.10'],
      ['www.example.test.', 'A', '192.0.2.11'],
    ]);
    const cross = section(await dig(port, 'cross.example.test', 'A'), 'ANSWER');
    assert.deepEqual(cross.map((r) => r[3]), ['app.other.test.', '198.51.100.7']);
    const out = section(await dig(port, 'out.example.test', 'A'), 'ANSWER');
    assert.deepEqual(out.map((r) => r[3]), ['target.elsewhere.invalid.']);
    const asked = section(await dig(port, 'alias.example.test', 'CNAME'), 'ANSWER');
    assert.deepEqual(asked.map((r) => r[3]), ['www.example.test.']);
  });

  test('TXT: several values, long text split into 255-octet strings', async () => {
    const txt = (await dig(port, '+short', 'www.example.test', 'TXT')).trim().split('\n').sort();
    assert.deepEqual(txt, ['"hello world"', '"second"']);
    const long = (await dig(port, '+short', 'long.example.test', 'TXT')).trim();
    assert.equal(long, `"${'a'.repeat(255)}" "${'a'.repeat(45)}"`);
  });

  test('SOA and NS at the apex', async () => {
    const soa = (await dig(port, '+short', 'example.test', 'SOA')).trim().split(' ');
    assert.equal(soa[0], 'ns1.example.test.');
    assert.equal(soa[1], 'hostmaster.example.test.');
    assert.ok(Number(soa[2]) > 0);
    assert.equal((await dig(port, '+short', 'example.test', 'NS')).trim(), 'ns1.example.test.');
  });

  test('NXDOMAIN vs NODATA (also for empty non-terminals), with the SOA in authority', async () => {
    const cases: Array<[string, string, string]> = [
      ['nope.example.test', 'A', 'NXDOMAIN'],
      ['www.example.test', 'AAAA', 'NOERROR'],
      ['ent.example.test', 'A', 'NOERROR'],
      ['below.leaf.ent.example.test', 'A', 'NXDOMAIN'],
    ];
    for (const [name, type, want] of cases) {
      const out = await dig(port, name, type);
      assert.equal(status(out), want, `${name} ${type}`);
      assert.equal(section(out, 'ANSWER').length, 0, `${name} ${type} has no answer`);
      const auth = section(out, 'AUTHORITY');
      assert.equal(auth[0]?.[2], 'SOA', `${name} ${type} carries the SOA`);
      assert.equal(auth[0]?.[1], '60', 'negative TTL is the SOA minimum');
      assert.ok(flags(out).includes('aa'));
    }
  });

  test('names outside the served zones are REFUSED', async () => {
    const out = await dig(port, 'example.org', 'A');
    assert.equal(status(out), 'REFUSED');
    assert.ok(!flags(out).includes('aa'));
  });

  test('TCP answers, several queries on one connection', async () => {
    const out = await dig(port, '+tcp', '+keepopen', 'www.example.test', 'A', 'v6.example.test', 'AAAA');
    assert.match(out, /192\.0\.2\.10/);
    assert.match(out, /2001:db8::1/);
    assert.equal((out.match(/\(TCP\)/g) ?? []).length, 2);
  });

  test('an answer too big for the UDP size sets TC, and the full answer comes over TCP', async () => {
    const udp = await dig(port, '+bufsize=512', '+ignore', 'big.example.test', 'A');
    assert.ok(flags(udp).includes('tc'), 'TC set');
    assert.equal(section(udp, 'ANSWER').length, 0);
    const noEdns = await dig(port, '+noedns', '+ignore', 'big.example.test', 'A');
    assert.ok(flags(noEdns).includes('tc'), 'TC set without EDNS (512 octets)');
    const retried = await dig(port, '+bufsize=512', 'big.example.test', 'A');
    assert.ok(!flags(retried).includes('tc'));
    assert.equal(section(retried, 'ANSWER').length, 60);
    assert.match(retried, /\(TCP\)/);
    const large = await dig(port, '+bufsize=4096', '+notcp', '+ignore', 'big.example.test', 'A');
    assert.ok(!flags(large).includes('tc'), 'fits in 1232 octets');
    assert.equal(section(large, 'ANSWER').length, 60);
    assert.match(large, /udp: 1232/, 'advertises its own EDNS size');
  });

  test('nsupdate with the key adds and deletes records', async () => {
    const serialBefore = Number((await dig(port, '+short', 'example.test', 'SOA')).split(' ')[2]);
    const add = await nsupdate(port, `hmac-sha256:gp-key:${SECRET}`, [
      'update add new.example.test 120 A 203.0.113.5',
      'update add new.example.test 120 A 203.0.113.6',
      'update add new.example.test 120 TXT "owned by gangplank"',
    ]);
    assert.equal(add.code, 0, add.out);
    assert.deepEqual((await dig(port, '+short', 'new.example.test', 'A')).trim().split('\n').sort(), ['203.0.113.5', '203.0.113.6']);
    const serialAfter = Number((await dig(port, '+short', 'example.test', 'SOA')).split(' ')[2]);
    assert.ok(serialAfter > serialBefore, 'serial increases');
    const delOne = await nsupdate(port, `hmac-sha256:gp-key:${SECRET}`, ['update delete new.example.test A 203.0.113.5']);
    assert.equal(delOne.code, 0, delOne.out);
    assert.equal((await dig(port, '+short', 'new.example.test', 'A')).trim(), '203.0.113.6');
    const delSet = await nsupdate(port, `hmac-sha256:gp-key:${SECRET}`, ['update delete new.example.test A']);
    assert.equal(delSet.code, 0, delSet.out);
    assert.equal(status(await dig(port, 'new.example.test', 'A')), 'NOERROR');
    assert.equal((await dig(port, '+short', 'new.example.test', 'TXT')).trim(), '"owned by gangplank"');
    const delName = await nsupdate(port, `hmac-sha256:gp-key:${SECRET}`, ['update delete new.example.test']);
    assert.equal(delName.code, 0, delName.out);
    assert.equal(status(await dig(port, 'new.example.test', 'TXT')), 'NXDOMAIN');
  });

  test('prerequisites gate an update as a whole', async () => {
    const k = `hmac-sha256:gp-key:${SECRET}`;
    const fails = await nsupdate(port, k, ['prereq nxdomain www.example.test', 'update add pre.example.test 60 A 192.0.2.99']);
    assert.notEqual(fails.code, 0);
    assert.match(fails.out, /YXDOMAIN/);
    assert.equal(status(await dig(port, 'pre.example.test', 'A')), 'NXDOMAIN', 'nothing applied');
    const nx = await nsupdate(port, k, ['prereq yxrrset www.example.test AAAA', 'update add pre.example.test 60 A 192.0.2.99']);
    assert.match(nx.out, /NXRRSET/);
    const ok = await nsupdate(port, k, [
      'prereq nxdomain pre.example.test',
      'prereq yxdomain www.example.test',
      'prereq yxrrset www.example.test A',
      'prereq nxrrset www.example.test AAAA',
      'update add pre.example.test 60 A 192.0.2.99',
    ]);
    assert.equal(ok.code, 0, ok.out);
    assert.equal((await dig(port, '+short', 'pre.example.test', 'A')).trim(), '192.0.2.99');
    const outside = await nsupdate(port, k, ['update add x.example.org 60 A 192.0.2.1']);
    assert.notEqual(outside.code, 0);
  });

  test('a wrong secret is refused (BADSIG), an unknown key BADKEY, an unsigned update REFUSED', async () => {
    const bad = await nsupdate(port, `hmac-sha256:gp-key:${OTHER_SECRET}`, ['update add evil.example.test 60 A 192.0.2.66']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.out, /BADSIG|tsig verify failure|NOTAUTH/i, bad.out);
    const unknown = await nsupdate(port, `hmac-sha256:stranger:${SECRET}`, ['update add evil.example.test 60 A 192.0.2.66']);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.out, /BADKEY/);
    const unsigned = await nsupdate(port, undefined, ['update add evil.example.test 60 A 192.0.2.66']);
    assert.notEqual(unsigned.code, 0);
    assert.match(unsigned.out, /REFUSED/);
    assert.equal(status(await dig(port, 'evil.example.test', 'A')), 'NXDOMAIN');
  });

  test('AXFR signed with the key lists the zone; unsigned is refused', async () => {
    const out = await dig(port, '-y', `hmac-sha256:gp-key:${SECRET}`, 'example.test', 'AXFR');
    const lines = out.split('\n').filter((l) => l && !l.startsWith(';'));
    const types = lines.map((l) => l.split(/\s+/)[3]);
    assert.equal(types[0], 'SOA');
    assert.equal(types.filter((t) => t === 'SOA').length, 2);
    assert.ok(lines.some((l) => l.startsWith('leaf.ent.example.test.')));
    assert.ok(!lines.some((l) => l.startsWith('app.other.test.')), 'only the asked zone');
    assert.equal(types[types.length - 1], 'TSIG', 'the answer is signed');
    assert.doesNotMatch(out, /failed/i);
    const unsigned = await dig(port, 'example.test', 'AXFR');
    assert.match(unsigned, /Transfer failed/);
  });

  test('signed queries get signed answers', async () => {
    const out = await dig(port, '-y', `hmac-sha256:gp-key:${SECRET}`, 'www.example.test', 'A');
    assert.equal(status(out), 'NOERROR');
    assert.match(out, /TSIG\s+hmac-sha256\./);
    assert.doesNotMatch(out, /failure|expected a TSIG/i);
    const wrong = await dig(port, '-y', `hmac-sha256:gp-key:${OTHER_SECRET}`, 'www.example.test', 'A');
    assert.match(wrong, /NOTAUTH|BADSIG|failure/i);
  });

  test('every TSIG algorithm works with nsupdate and dig -y', async () => {
    for (const alg of ALGS) {
      const y = `${alg}:k-${alg}:${OTHER_SECRET}`;
      const up = await nsupdate(port, y, [`update add ${alg}.example.test 60 TXT "${alg}"`]);
      assert.equal(up.code, 0, `${alg}: ${up.out}`);
      const out = await dig(port, '-y', y, `${alg}.example.test`, 'TXT');
      assert.equal(status(out), 'NOERROR', alg);
      assert.equal(section(out, 'ANSWER')[0]?.[3], `"${alg}"`);
      assert.doesNotMatch(out, /failure/i, alg);
    }
  });

  test('records persist across a restart, and the serial keeps counting', async () => {
    const file = stateFile();
    assert.ok(statSync(file).isFile());
    const stored = JSON.parse(readFileSync(file, 'utf8')) as { zones: Record<string, { serial: number }> };
    const serial = Number((await dig(port, '+short', 'example.test', 'SOA')).split(' ')[2]);
    assert.equal(stored.zones['example.test']!.serial, serial);
    await server.stop();
    await server.stop(); // twice is safe
    server = make();
    await server.start();
    port = server.address().udp;
    assert.equal((await dig(port, '+short', 'pre.example.test', 'A')).trim(), '192.0.2.99');
    assert.deepEqual((await dig(port, '+short', 'www.example.test', 'A')).trim().split('\n').sort(), ['192.0.2.10', '192.0.2.11']);
    assert.equal(Number((await dig(port, '+short', 'example.test', 'SOA')).split(' ')[2]), serial);
    const k = `hmac-sha256:gp-key:${SECRET}`;
    assert.equal((await nsupdate(port, k, ['update add after.example.test 60 A 192.0.2.77'])).code, 0);
    assert.equal(Number((await dig(port, '+short', 'example.test', 'SOA')).split(' ')[2]), serial + 1);
  });

  test('apply() is atomic and names the record it rejects', async () => {
    const before = server.records('example.test');
    assert.throws(
      () =>
        server.apply({
          ...emptyChangeSet(),
          create: [
            { name: 'ok.example.test', type: 'A', ttl: 60, targets: ['192.0.2.1'] },
            { name: 'www.example.test', type: 'CNAME', ttl: 60, targets: ['elsewhere.example.test'] },
          ],
        }),
      (err: unknown) => err instanceof DnsProviderError && err.code === 'Conflict' && /www\.example\.test/.test(err.message),
    );
    assert.throws(
      () => server.apply({ ...emptyChangeSet(), create: [{ name: 'bad.example.test', type: 'A', ttl: 60, targets: ['not-an-ip'] }] }),
      (err: unknown) => err instanceof DnsProviderError && err.code === 'InvalidRecord' && /bad\.example\.test/.test(err.message),
    );
    assert.throws(
      () => server.apply({ ...emptyChangeSet(), create: [{ name: 'x.example.org', type: 'A', ttl: 60, targets: ['192.0.2.1'] }] }),
      (err: unknown) => err instanceof DnsProviderError && err.code === 'ZoneNotFound',
    );
    assert.deepEqual(server.records('example.test'), before);
    assert.equal(status(await dig(port, 'ok.example.test', 'A')), 'NXDOMAIN');
    server.apply({
      ...emptyChangeSet(),
      updateOld: [{ name: 'www.example.test', type: 'A', ttl: 60, targets: ['192.0.2.10', '192.0.2.11'] }],
      updateNew: [{ name: 'www.example.test', type: 'A', ttl: 30, targets: ['192.0.2.12'] }],
      delete: [{ name: 'v6.example.test', type: 'AAAA', ttl: 60, targets: ['2001:db8::1'] }],
    });
    assert.equal((await dig(port, '+short', 'www.example.test', 'A')).trim(), '192.0.2.12');
    assert.equal(status(await dig(port, 'v6.example.test', 'AAAA')), 'NXDOMAIN');
  });
});
