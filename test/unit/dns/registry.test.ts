import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { toRegistryView, withOwnershipRecords, type RegistryConfig } from '../../../src/controllers/dns/registry.js';
import { emptyChangeSet, type DnsRecord } from '../../../src/controllers/dns/types.js';
import { names, rec } from './helpers.js';

const V = (owner: string, resource = 'ingress/default/web') =>
  `heritage=external-dns,external-dns/owner=${owner},external-dns/resource=${resource}`;
const txt = (name: string, value: string, extra: Partial<DnsRecord> = {}) => rec(name, 'TXT', [value], extra);

describe('reading a zone through the TXT registry', () => {
  const cases: { name: string; cfg?: RegistryConfig; zone: DnsRecord[]; owned: string[]; foreign: string[]; force?: string[] }[] = [
    {
      name: 'ExternalDNS record with our owner id is adopted',
      zone: [rec('www.example.com', 'A', ['1.1.1.1']), txt('a-www.example.com', V('default'))],
      owned: ['A www.example.com'],
      foreign: [],
    },
    {
      name: 'quoted TXT value (as some servers return it) is read too',
      zone: [rec('www.example.com', 'A', ['1.1.1.1']), txt('a-www.example.com', `"${V('default')}"`)],
      owned: ['A www.example.com'],
      foreign: [],
    },
    {
      name: 'another owner id is foreign',
      zone: [rec('www.example.com', 'A', ['1.1.1.1']), txt('a-www.example.com', V('cluster-b'))],
      owned: [],
      foreign: ['A www.example.com'],
    },
    {
      name: 'no TXT at all is foreign (not owned)',
      zone: [rec('www.example.com', 'A', ['1.1.1.1'])],
      owned: [],
      foreign: ['A www.example.com'],
    },
    {
      name: 'a TXT of another type does not give ownership',
      zone: [rec('www.example.com', 'A', ['1.1.1.1']), txt('aaaa-www.example.com', V('default'))],
      owned: [],
      foreign: ['A www.example.com'],
    },
    {
      name: 'old-format TXT (no type) is read for A and CNAME, and the typed TXT is then written',
      zone: [rec('www.example.com', 'A', ['1.1.1.1']), txt('www.example.com', V('default'))],
      owned: ['A www.example.com'],
      foreign: [],
      force: ['www.example.com|A|'],
    },
    {
      name: 'old-format TXT is not read for AAAA',
      zone: [rec('www.example.com', 'AAAA', ['fd00::1']), txt('www.example.com', V('default'))],
      owned: [],
      foreign: ['AAAA www.example.com'],
    },
    {
      name: 'A alias record adopts a legacy cname- TXT',
      zone: [rec('www.example.com', 'A', ['lb.elb.amazonaws.com'], { providerSpecific: { alias: 'true' } }), txt('cname-www.example.com', V('default'))],
      owned: ['A www.example.com'],
      foreign: [],
      force: ['www.example.com|A|'],
    },
    {
      name: 'plain A does not adopt a cname- TXT',
      zone: [rec('www.example.com', 'A', ['1.1.1.1']), txt('cname-www.example.com', V('default'))],
      owned: [],
      foreign: ['A www.example.com'],
    },
    {
      name: 'wildcard record found through the wildcard replacement',
      cfg: { wildcardReplacement: 'star' },
      zone: [rec('*.example.com', 'A', ['1.1.1.1']), txt('a-star.example.com', V('default'))],
      owned: ['A *.example.com'],
      foreign: [],
    },
    {
      name: 'prefix configured: TXT under the prefix',
      cfg: { prefix: 'reg.' },
      zone: [rec('www.example.com', 'CNAME', ['lb.example.net']), txt('reg.cname-www.example.com', V('default'))],
      owned: ['CNAME www.example.com'],
      foreign: [],
    },
    {
      name: 'set identifiers are told apart',
      zone: [
        rec('www.example.com', 'A', ['1.1.1.1'], { setIdentifier: 'eu' }),
        rec('www.example.com', 'A', ['2.2.2.2'], { setIdentifier: 'us' }),
        txt('a-www.example.com', V('default'), { setIdentifier: 'eu' }),
        txt('a-www.example.com', V('other'), { setIdentifier: 'us' }),
      ],
      owned: ['A www.example.com@eu'],
      foreign: ['A www.example.com@us'],
    },
    {
      name: 'ordinary TXT records are foreign records, not registry entries',
      zone: [txt('example.com', 'v=spf1 -all')],
      owned: [],
      foreign: ['TXT example.com'],
    },
    {
      name: 'owner id option',
      cfg: { ownerId: 'cluster-b' },
      zone: [rec('a.example.com', 'A', ['1.1.1.1']), txt('a-a.example.com', V('cluster-b')), rec('b.example.com', 'A', ['1.1.1.1']), txt('a-b.example.com', V('default'))],
      owned: ['A a.example.com'],
      foreign: ['A b.example.com'],
    },
    {
      name: 'migration: the old owner is taken over, others are not',
      cfg: { ownerId: 'new', migrateFromOwner: 'old' },
      zone: [rec('a.example.com', 'A', ['1.1.1.1']), txt('a-a.example.com', V('old')), rec('b.example.com', 'A', ['1.1.1.1']), txt('a-b.example.com', V('third'))],
      owned: ['A a.example.com'],
      foreign: ['A b.example.com'],
      force: ['a.example.com|A|'],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const v = toRegistryView(c.zone, c.cfg);
      assert.deepEqual(names(v.owned), c.owned);
      assert.deepEqual(names(v.foreign), c.foreign);
      assert.deepEqual([...v.forceUpdate.keys()].sort(), c.force ?? []);
      for (const o of v.owned) assert.equal(o.labels?.['owner'], c.cfg?.ownerId ?? 'default');
    });
  }
  test('owned records carry the resource label from the TXT', () => {
    const v = toRegistryView([rec('www.example.com', 'A', ['1.1.1.1']), txt('a-www.example.com', V('default', 'service/shop/api'))]);
    assert.deepEqual(v.owned[0]!.labels, { owner: 'default', resource: 'service/shop/api' });
  });
  test('bad configuration is refused with a clear message', () => {
    assert.throws(() => toRegistryView([], { ownerId: '' }), /--txt-owner-id must not be empty/);
    assert.throws(() => toRegistryView([], { ownerId: 'a', migrateFromOwner: 'a' }), /equals --txt-owner-id/);
    assert.throws(() => toRegistryView([], { prefix: 'a', suffix: 'b' }), /mutually exclusive/);
  });
});

describe('ownership TXT changes travel with record changes', () => {
  test('create: TXT create with the exact ExternalDNS value', () => {
    const v = toRegistryView([]);
    const c = emptyChangeSet();
    c.create.push(rec('www.example.com', 'A', ['1.1.1.1'], { labels: { resource: 'ingress/default/web' } }));
    const out = withOwnershipRecords(c, v);
    assert.deepEqual(out.create.map((r) => [r.type, r.name, r.targets]), [
      ['A', 'www.example.com', ['1.1.1.1']],
      ['TXT', 'a-www.example.com', ['heritage=external-dns,external-dns/owner=default,external-dns/resource=ingress/default/web']],
    ]);
    assert.equal(out.create[0]!.labels?.['owner'], 'default');
    assert.equal(c.create.length, 1, 'input change set untouched');
  });
  test('create with set identifier and routing policy: TXT carries both, not alias', () => {
    const v = toRegistryView([], { prefix: 'txt.' });
    const c = emptyChangeSet();
    c.create.push(rec('www.example.com', 'CNAME', ['lb.example.net'], { setIdentifier: 'eu', providerSpecific: { alias: 'true', 'aws/weight': '10', 'aws/evaluate-target-health': 'true' }, labels: { resource: 'ingress/a/b' } }));
    const t = withOwnershipRecords(c, v).create[1]!;
    assert.equal(t.name, 'txt.cname-www.example.com');
    assert.equal(t.setIdentifier, 'eu');
    assert.deepEqual(t.providerSpecific, { 'aws/weight': '10' });
  });
  test('create over a stale TXT of that name rewrites it instead of failing', () => {
    const stale = txt('a-www.example.com', V('default', 'ingress/old/gone'));
    const v = toRegistryView([stale]);
    const c = emptyChangeSet();
    c.create.push(rec('www.example.com', 'A', ['1.1.1.1'], { labels: { resource: 'ingress/default/web' } }));
    const out = withOwnershipRecords(c, v);
    assert.deepEqual(names(out.create), ['A www.example.com']);
    assert.deepEqual(out.updateOld, [stale]);
    assert.deepEqual(out.updateNew[0]!.targets, [V('default')]);
  });
  test('delete: the stored TXT value is deleted (servers match on it)', () => {
    const stored = txt('a-www.example.com', `${V('default')},external-dns/extra=kept`);
    const zone = [rec('www.example.com', 'A', ['1.1.1.1']), stored];
    const v = toRegistryView(zone);
    const c = emptyChangeSet();
    c.delete.push(v.owned[0]!);
    const out = withOwnershipRecords(c, v);
    assert.deepEqual(names(out.delete), ['A www.example.com', 'TXT a-www.example.com']);
    assert.deepEqual(out.delete[1], stored);
  });
  test('delete also removes our old-format TXT when nothing else there needs it', () => {
    const zone = [rec('www.example.com', 'A', ['1.1.1.1']), txt('www.example.com', V('default')), txt('a-www.example.com', V('default'))];
    const v = toRegistryView(zone);
    const c = emptyChangeSet();
    c.delete.push(v.owned[0]!);
    assert.deepEqual(names(withOwnershipRecords(c, v).delete), ['A www.example.com', 'TXT a-www.example.com', 'TXT www.example.com']);
  });
  test('an old-format TXT of another owner is never deleted', () => {
    const zone = [rec('www.example.com', 'A', ['1.1.1.1']), txt('www.example.com', V('other')), txt('a-www.example.com', V('default'))];
    const v = toRegistryView(zone);
    const c = emptyChangeSet();
    c.delete.push(v.owned[0]!);
    assert.deepEqual(names(withOwnershipRecords(c, v).delete), ['A www.example.com', 'TXT a-www.example.com']);
  });
  test('update with a new resource rewrites the TXT; an unchanged label set adds nothing', () => {
    const zone = [rec('www.example.com', 'A', ['1.1.1.1']), txt('a-www.example.com', V('default'))];
    const v = toRegistryView(zone);
    const same = emptyChangeSet();
    same.updateOld.push(v.owned[0]!);
    same.updateNew.push(rec('www.example.com', 'A', ['2.2.2.2'], { labels: { resource: 'ingress/default/web' } }));
    const a = withOwnershipRecords(same, v);
    assert.equal(a.updateNew.length, 1);
    const moved = emptyChangeSet();
    moved.updateOld.push(v.owned[0]!);
    moved.updateNew.push(rec('www.example.com', 'A', ['2.2.2.2'], { labels: { resource: 'service/x/y' } }));
    const b = withOwnershipRecords(moved, v);
    assert.deepEqual(names(b.updateNew), ['A www.example.com', 'TXT a-www.example.com']);
    assert.deepEqual(b.updateNew[1]!.targets, [V('default', 'service/x/y')]);
    assert.deepEqual(b.updateOld[1]!.targets, [V('default')]);
  });
});
