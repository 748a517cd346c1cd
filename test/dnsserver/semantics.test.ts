/** Table-driven tests of the pure parts: wire codec, RFC 2136 update semantics, query resolution. */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  CLASS,
  RCODE,
  TYPE,
  TcpFrameReader,
  decodeMessage,
  encodeMessage,
  encodeUpdate,
  emptyMessage,
  frameTcp,
  ipv6ToString,
  parseIPv6,
  type WireRR,
} from '../../src/dnsserver/wire.js';
import { Zone, type ZoneNode } from '../../src/dnsserver/zone.js';
import { applyUpdate } from '../../src/dnsserver/update.js';
import { resolve } from '../../src/dnsserver/answer.js';
import { toRRset } from '../../src/dnsserver/records.js';
import type { DnsRecord } from '../../src/controllers/dns/types.js';

describe('wire codec', () => {
  const v6: Array<[string, string]> = [
    ['2001:db8:0:0:0:0:0:1', '2001:db8::1'],
    ['::', '::'],
    ['::1', '::1'],
    ['fe80::1:0:0:1', 'fe80::1:0:0:1'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['::ffff:192.0.2.1', '::ffff:c000:201'],
    ['2001:DB8::AB', '2001:db8::ab'],
  ];
  for (const [input, want] of v6) {
    test(`IPv6 ${input} -> ${want}`, () => assert.equal(ipv6ToString(parseIPv6(input)), want));
  }
  for (const bad of ['1::2::3', '12345::', '1:2:3:4:5:6:7:8:9', 'g::1', '1.2.3.4', '']) {
    test(`IPv6 "${bad}" is rejected`, () => assert.throws(() => parseIPv6(bad), /not an IPv6 address/));
  }

  test('update sections carry class NONE and ANY with empty RDATA', () => {
    const wire = encodeUpdate('example.test', [{ name: 'a.example.test', type: 'ANY', class: 'NONE', ttl: 0 }], [
      { name: 'b.example.test', type: 'A', class: 'ANY', ttl: 0 },
      { name: 'c.example.test', type: 'TXT', class: 'NONE', ttl: 0, data: 'gone' },
      { name: 'd.example.test', type: 'AAAA', class: 'IN', ttl: 60, data: '2001:db8::5' },
    ], 77);
    const m = decodeMessage(wire);
    assert.equal(m.opcode, 5);
    assert.deepEqual(m.questions, [{ name: 'example.test', type: TYPE.SOA, class: CLASS.IN }]);
    assert.deepEqual(m.answers, [{ name: 'a.example.test', type: TYPE.ANY, class: CLASS.NONE, ttl: 0 }]);
    assert.deepEqual(m.authorities, [
      { name: 'b.example.test', type: TYPE.A, class: CLASS.ANY, ttl: 0 },
      { name: 'c.example.test', type: TYPE.TXT, class: CLASS.NONE, ttl: 0, data: ['gone'] },
      { name: 'd.example.test', type: TYPE.AAAA, class: CLASS.IN, ttl: 60, data: '2001:db8::5' },
    ]);
  });

  test('names are compressed and decode back; SOA, MX, SRV round trip', () => {
    const rrs: WireRR[] = [
      { name: 'example.test', type: TYPE.SOA, class: CLASS.IN, ttl: 1, data: { mname: 'ns1.example.test', rname: 'hostmaster.example.test', serial: 7, refresh: 1, retry: 2, expire: 3, minimum: 4 } },
      { name: 'example.test', type: TYPE.MX, class: CLASS.IN, ttl: 1, data: { preference: 10, exchange: 'mail.example.test' } },
      { name: '_x._tcp.example.test', type: TYPE.SRV, class: CLASS.IN, ttl: 1, data: { priority: 1, weight: 2, port: 443, target: 'www.example.test' } },
      { name: 'www.example.test', type: TYPE.TXT, class: CLASS.IN, ttl: 1, data: ['a', 'b c'] },
    ];
    const wire = encodeMessage(emptyMessage({ id: 9, qr: true, answers: rrs }));
    assert.deepEqual(decodeMessage(wire).answers, rrs);
    assert.ok(wire.length < 200, `compressed (${wire.length} octets, 234 without compression)`);
  });

  const malformed: Array<[string, number[]]> = [
    ['short header', [0, 1, 2]],
    ['pointer loop', [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]],
    ['label past the end', [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 5, 97]],
    ['count larger than content', [0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1]],
    ['trailing octets', [0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9]],
  ];
  for (const [what, bytes] of malformed) {
    test(`decode rejects ${what}`, () => assert.throws(() => decodeMessage(Buffer.from(bytes)), { name: 'WireError' }));
  }

  test('TCP frames are reassembled across chunk boundaries', () => {
    const a = frameTcp(Buffer.from('hello'));
    const b = frameTcp(Buffer.from('world!'));
    const all = Buffer.concat([a, b]);
    const r = new TcpFrameReader();
    const got: string[] = [];
    for (let i = 0; i < all.length; i++) got.push(...r.push(all.subarray(i, i + 1)).map((m) => m.toString()));
    assert.deepEqual(got, ['hello', 'world!']);
    assert.equal(r.buffered(), 0);
  });
});

function zone(records: DnsRecord[], origin = 'example.test'): Zone {
  const nodes = new Map<string, Map<number, ReturnType<typeof toRRset>['rrset']>>();
  for (const r of records) {
    const { name, rrset } = toRRset(r);
    if (!nodes.has(name)) nodes.set(name, new Map());
    nodes.get(name)!.set(rrset.type, rrset);
  }
  return new Zone({ origin, nameservers: [`ns1.${origin}`], soa: {} }, 100, nodes as Map<string, ZoneNode>);
}

const base = (): Zone =>
  zone([
    { name: 'www.example.test', type: 'A', ttl: 60, targets: ['192.0.2.1', '192.0.2.2'] },
    { name: 'alias.example.test', type: 'CNAME', ttl: 60, targets: ['www.example.test'] },
    { name: 'deep.ent.example.test', type: 'TXT', ttl: 60, targets: ['x'] },
  ]);

const rr = (name: string, type: number, cls: number, ttl = 0, data?: WireRR['data']): WireRR => (data === undefined ? { name, type, class: cls, ttl } : { name, type, class: cls, ttl, data });

describe('RFC 2136 update semantics', () => {
  const cases: Array<{ name: string; pre?: WireRR[]; up?: WireRR[]; rcode: number; check?: (z: Zone) => void }> = [
    { name: 'name in use: yes', pre: [rr('www.example.test', TYPE.ANY, CLASS.ANY)], rcode: RCODE.NOERROR },
    { name: 'name in use: no', pre: [rr('nope.example.test', TYPE.ANY, CLASS.ANY)], rcode: RCODE.NXDOMAIN },
    { name: 'name in use: an empty non-terminal is not in use', pre: [rr('ent.example.test', TYPE.ANY, CLASS.ANY)], rcode: RCODE.NXDOMAIN },
    { name: 'name not in use: fails when used', pre: [rr('www.example.test', TYPE.ANY, CLASS.NONE)], rcode: RCODE.YXDOMAIN },
    { name: 'RRset exists', pre: [rr('www.example.test', TYPE.A, CLASS.ANY)], rcode: RCODE.NOERROR },
    { name: 'RRset exists: no', pre: [rr('www.example.test', TYPE.AAAA, CLASS.ANY)], rcode: RCODE.NXRRSET },
    { name: 'RRset does not exist: it does', pre: [rr('www.example.test', TYPE.A, CLASS.NONE)], rcode: RCODE.YXRRSET },
    {
      name: 'RRset exists with exactly these values',
      pre: [rr('www.example.test', TYPE.A, CLASS.IN, 0, '192.0.2.2'), rr('www.example.test', TYPE.A, CLASS.IN, 0, '192.0.2.1')],
      rcode: RCODE.NOERROR,
    },
    { name: 'RRset values differ', pre: [rr('www.example.test', TYPE.A, CLASS.IN, 0, '192.0.2.1')], rcode: RCODE.NXRRSET },
    { name: 'prerequisite with TTL is FORMERR', pre: [rr('www.example.test', TYPE.A, CLASS.ANY, 5)], rcode: RCODE.FORMERR },
    { name: 'prerequisite outside the zone', pre: [rr('www.example.org', TYPE.A, CLASS.ANY)], rcode: RCODE.NOTZONE },
    { name: 'update outside the zone', up: [rr('www.example.org', TYPE.A, CLASS.IN, 60, '192.0.2.1')], rcode: RCODE.NOTZONE },
    { name: 'delete with TTL is FORMERR', up: [rr('www.example.test', TYPE.A, CLASS.ANY, 60)], rcode: RCODE.FORMERR },
    {
      name: 'add joins the RRset and takes the new TTL',
      up: [rr('www.example.test', TYPE.A, CLASS.IN, 30, '192.0.2.3'), rr('www.example.test', TYPE.A, CLASS.IN, 30, '192.0.2.1')],
      rcode: RCODE.NOERROR,
      check: (z) => {
        const s = z.nodes.get('www.example.test')!.get(TYPE.A)!;
        assert.deepEqual([...s.data].sort(), ['192.0.2.1', '192.0.2.2', '192.0.2.3']);
        assert.equal(s.ttl, 30);
      },
    },
    {
      name: 'delete one RR, then the RRset, then the name',
      up: [rr('www.example.test', TYPE.A, CLASS.NONE, 0, '192.0.2.1'), rr('alias.example.test', TYPE.ANY, CLASS.ANY), rr('deep.ent.example.test', TYPE.TXT, CLASS.ANY)],
      rcode: RCODE.NOERROR,
      check: (z) => {
        assert.deepEqual(z.nodes.get('www.example.test')!.get(TYPE.A)!.data, ['192.0.2.2']);
        assert.equal(z.nodes.has('alias.example.test'), false);
        assert.equal(z.exists('ent.example.test'), false, 'the empty non-terminal went with its child');
      },
    },
    {
      name: 'CNAME next to other data is ignored, other data next to a CNAME too',
      up: [rr('www.example.test', TYPE.CNAME, CLASS.IN, 60, 'x.example.test'), rr('alias.example.test', TYPE.A, CLASS.IN, 60, '192.0.2.9')],
      rcode: RCODE.NOERROR,
      check: (z) => {
        assert.equal(z.nodes.get('www.example.test')!.has(TYPE.CNAME), false);
        assert.equal(z.nodes.get('alias.example.test')!.has(TYPE.A), false);
      },
    },
    {
      name: 'the apex SOA and NS cannot be deleted',
      up: [rr('example.test', TYPE.ANY, CLASS.ANY), rr('example.test', TYPE.NS, CLASS.ANY)],
      rcode: RCODE.NOERROR,
      check: (z) => {
        assert.ok(z.nodes.get('example.test')!.has(TYPE.SOA));
        assert.ok(z.nodes.get('example.test')!.has(TYPE.NS));
      },
    },
    {
      name: 'a failing prerequisite applies nothing',
      pre: [rr('nope.example.test', TYPE.ANY, CLASS.ANY)],
      up: [rr('new.example.test', TYPE.A, CLASS.IN, 60, '192.0.2.1')],
      rcode: RCODE.NXDOMAIN,
    },
    {
      name: 'a bad update late in the list applies nothing',
      up: [rr('new.example.test', TYPE.A, CLASS.IN, 60, '192.0.2.1'), rr('bad.example.test', TYPE.ANY, CLASS.IN, 60, Buffer.from([1]))],
      rcode: RCODE.FORMERR,
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const z = base();
      const r = applyUpdate(z, c.pre ?? [], c.up ?? []);
      assert.equal(r.rcode, c.rcode, r.reason);
      if (r.rcode !== RCODE.NOERROR) assert.equal(r.zone, undefined, 'nothing changes');
      if (r.zone) assert.equal(r.zone.serial, z.serial + 1);
      c.check?.(r.zone ?? z);
      assert.ok(z.nodes.get('www.example.test')!.get(TYPE.A)!.data.length === 2, 'the old snapshot is untouched');
    });
  }

  test('an update that changes nothing keeps the serial', () => {
    const z = base();
    const r = applyUpdate(z, [], [rr('www.example.test', TYPE.A, CLASS.IN, 60, '192.0.2.1'), rr('nope.example.test', TYPE.A, CLASS.ANY)]);
    assert.equal(r.rcode, RCODE.NOERROR);
    assert.equal(r.zone, undefined);
  });
});

describe('query resolution', () => {
  const zones = new Map([
    ['example.test', base()],
    ['sub.example.test', zone([{ name: 'x.sub.example.test', type: 'A', ttl: 5, targets: ['192.0.2.50'] }], 'sub.example.test')],
  ]);
  const cases: Array<[string, number, number, string[], boolean]> = [
    // name, type, rcode, answer owners/types, SOA in authority
    ['www.example.test', TYPE.A, RCODE.NOERROR, ['www.example.test/A'], false],
    ['WWW.EXAMPLE.TEST', TYPE.A, RCODE.NOERROR, ['WWW.EXAMPLE.TEST/A'], false],
    ['alias.example.test', TYPE.A, RCODE.NOERROR, ['alias.example.test/CNAME', 'www.example.test/A'], false],
    ['alias.example.test', TYPE.AAAA, RCODE.NOERROR, ['alias.example.test/CNAME'], true],
    ['alias.example.test', TYPE.CNAME, RCODE.NOERROR, ['alias.example.test/CNAME'], false],
    ['www.example.test', TYPE.TXT, RCODE.NOERROR, [], true],
    ['ent.example.test', TYPE.A, RCODE.NOERROR, [], true],
    ['nope.example.test', TYPE.A, RCODE.NXDOMAIN, [], true],
    ['x.sub.example.test', TYPE.A, RCODE.NOERROR, ['x.sub.example.test/A'], false],
    ['example.org', TYPE.A, RCODE.REFUSED, [], false],
    ['example.test', TYPE.ANY, RCODE.NOERROR, ['example.test/SOA', 'example.test/NS'], false],
  ];
  const tn = (t: number) => Object.entries(TYPE).find(([, v]) => v === t)![0];
  for (const [name, type, rcode, answer, soa] of cases) {
    test(`${name} ${tn(type)}`, () => {
      const r = resolve(zones, name, type);
      assert.equal(r.rcode, rcode);
      assert.deepEqual(r.answer.map((p) => `${p.owner}/${tn(p.rrset.type)}`), answer);
      assert.equal(r.authority.some((p) => p.rrset.type === TYPE.SOA), soa);
    });
  }

  test('a CNAME loop ends', () => {
    const loop = new Map([
      ['loop.test', zone([
        { name: 'a.loop.test', type: 'CNAME', ttl: 5, targets: ['b.loop.test'] },
        { name: 'b.loop.test', type: 'CNAME', ttl: 5, targets: ['a.loop.test'] },
      ], 'loop.test')],
    ]);
    const r = resolve(loop, 'a.loop.test', TYPE.A);
    assert.equal(r.rcode, RCODE.NOERROR);
    assert.ok(r.answer.length <= 8);
  });
});
