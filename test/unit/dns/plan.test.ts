import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { desiredFromIngress, type DnsEndpoint } from '../../../src/controllers/dns/endpoints.js';
import { plan, type PlanInput, type Policy } from '../../../src/controllers/dns/plan.js';
import { toRegistryView, type RegistryConfig } from '../../../src/controllers/dns/registry.js';
import { changeCount, type ChangeSet, type DnsRecord, type RecordType } from '../../../src/controllers/dns/types.js';
import { applyChangeSet, ingress, rec } from './helpers.js';

const V = (owner: string, resource = 'ingress/default/web') =>
  `heritage=external-dns,external-dns/owner=${owner},external-dns/resource=${resource}`;
const txt = (name: string, value: string, extra: Partial<DnsRecord> = {}) => rec(name, 'TXT', [value], extra);
const OLD = '2024-01-01T00:00:00Z';

function want(name: string, type: RecordType, targets: string[], extra: Partial<DnsEndpoint> = {}): DnsEndpoint {
  const owner = extra.owner ?? 'ingress/default/web';
  const [, namespace = '', n = ''] = owner.split('/');
  return {
    name,
    type,
    ttl: 0,
    targets,
    owner,
    labels: { resource: owner },
    source: { metadata: { name: n, namespace, creationTimestamp: OLD } },
    ...extra,
  };
}

/** `+A www`, `~A www`, `-A www` lines for creates, updates (new side) and deletes, sorted. */
function summary(c: ChangeSet): string[] {
  const fmt = (p: string, r: DnsRecord) => `${p}${r.type} ${r.name}${r.setIdentifier ? '@' + r.setIdentifier : ''}`;
  return [...c.create.map((r) => fmt('+', r)), ...c.updateNew.map((r) => fmt('~', r)), ...c.delete.map((r) => fmt('-', r))].sort();
}

function run(zone: DnsRecord[], desired: DnsEndpoint[], opts: Partial<PlanInput> = {}, cfg: RegistryConfig = {}) {
  return plan({ desired, current: toRegistryView(zone, cfg), ...opts });
}

/** Applies the plan to the zone, plans again, and asserts nothing is left to do. */
function assertConverges(zone: DnsRecord[], desired: DnsEndpoint[], opts: Partial<PlanInput> = {}, cfg: RegistryConfig = {}): DnsRecord[] {
  const first = run(zone, desired, opts, cfg);
  const after = applyChangeSet(zone, first.changes);
  const second = run(after, desired, opts, cfg);
  assert.equal(changeCount(second.changes), 0, `second plan not empty: ${summary(second.changes).join(', ')}`);
  return after;
}

const ownedA = [rec('www.example.com', 'A', ['1.1.1.1']), txt('a-www.example.com', V('default'))];

describe('plan: creates, updates, deletes, ownership', () => {
  const cases: {
    name: string;
    zone: DnsRecord[];
    desired: DnsEndpoint[];
    policy?: Policy;
    cfg?: RegistryConfig;
    want: string[];
    skipped?: RegExp[];
  }[] = [
    { name: 'empty zone: create record and TXT', zone: [], desired: [want('www.example.com', 'A', ['1.1.1.1'])], want: ['+A www.example.com', '+TXT a-www.example.com'] },
    { name: 'owned and equal: nothing', zone: ownedA, desired: [want('www.example.com', 'A', ['1.1.1.1'])], want: [] },
    { name: 'owned, targets changed: update (TXT unchanged)', zone: ownedA, desired: [want('www.example.com', 'A', ['2.2.2.2'])], want: ['~A www.example.com'] },
    { name: 'owned, ttl asked and different: update', zone: ownedA, desired: [want('www.example.com', 'A', ['1.1.1.1'], { ttl: 60 })], want: ['~A www.example.com'] },
    { name: 'owned, no ttl asked: provider ttl kept, no update', zone: ownedA, desired: [want('www.example.com', 'A', ['1.1.1.1'], { ttl: 0 })], want: [] },
    { name: 'owned, provider-specific added: update', zone: ownedA, desired: [want('www.example.com', 'A', ['1.1.1.1'], { providerSpecific: { 'aws/weight': '5' } })], want: ['~A www.example.com'] },
    { name: 'owned, resource moved to another object: record and TXT updated', zone: ownedA, desired: [want('www.example.com', 'A', ['2.2.2.2'], { owner: 'ingress/other/site' })], want: ['~A www.example.com', '~TXT a-www.example.com'] },
    { name: 'owned, no longer desired: delete with TXT', zone: ownedA, desired: [], want: ['-A www.example.com', '-TXT a-www.example.com'] },
    { name: 'upsert-only keeps it', zone: ownedA, desired: [], policy: 'upsert-only', want: [], skipped: [/policy upsert-only: www\.example\.com A \[1\.1\.1\.1\] is no longer wanted/] },
    { name: 'upsert-only still updates', zone: ownedA, desired: [want('www.example.com', 'A', ['2.2.2.2'])], policy: 'upsert-only', want: ['~A www.example.com'] },
    { name: 'create-only does not update', zone: ownedA, desired: [want('www.example.com', 'A', ['2.2.2.2'])], policy: 'create-only', want: [], skipped: [/policy create-only: .* is not updated \(targets differ\)/] },
    { name: 'create-only creates', zone: ownedA, desired: [want('www.example.com', 'A', ['1.1.1.1']), want('new.example.com', 'A', ['3.3.3.3'])], policy: 'create-only', want: ['+A new.example.com', '+TXT a-new.example.com'] },
    { name: 'create-only does not delete', zone: ownedA, desired: [], policy: 'create-only', want: [], skipped: [/policy create-only: .* is no longer wanted but is not deleted/] },
    {
      name: 'foreign (another owner): never updated',
      zone: [rec('www.example.com', 'A', ['1.1.1.1']), txt('a-www.example.com', V('cluster-b'))],
      desired: [want('www.example.com', 'A', ['2.2.2.2'])],
      want: [],
      skipped: [/^owned by cluster-b: www\.example\.com A \[1\.1\.1\.1\] exists and is left alone/],
    },
    {
      name: 'foreign (no TXT): never updated',
      zone: [rec('www.example.com', 'A', ['1.1.1.1'])],
      desired: [want('www.example.com', 'A', ['2.2.2.2'])],
      want: [],
      skipped: [/^not owned: /],
    },
    {
      name: 'foreign records are never deleted under sync',
      zone: [rec('www.example.com', 'A', ['1.1.1.1']), rec('mail.example.com', 'CNAME', ['mx.example.net']), txt('cname-mail.example.com', V('other'))],
      desired: [],
      want: [],
    },
    {
      name: 'new type beside a foreign record at the name: refused',
      zone: [rec('www.example.com', 'A', ['1.1.1.1']), txt('a-www.example.com', V('other'))],
      desired: [want('www.example.com', 'AAAA', ['fd00::1'])],
      want: [],
      skipped: [/^owned by other/],
    },
    {
      name: 'new type beside our own record: added',
      zone: ownedA,
      desired: [want('www.example.com', 'A', ['1.1.1.1']), want('www.example.com', 'AAAA', ['fd00::1'])],
      want: ['+AAAA www.example.com', '+TXT aaaa-www.example.com'],
    },
    {
      name: 'A -> CNAME on our own name: delete A, create CNAME (one batch)',
      zone: ownedA,
      desired: [want('www.example.com', 'CNAME', ['lb.example.net'])],
      want: ['+CNAME www.example.com', '+TXT cname-www.example.com', '-A www.example.com', '-TXT a-www.example.com'],
    },
    {
      name: 'A -> CNAME under upsert-only: the A stays, so the CNAME is refused',
      zone: ownedA,
      desired: [want('www.example.com', 'CNAME', ['lb.example.net'])],
      policy: 'upsert-only',
      want: [],
      skipped: [/no longer wanted/, /a CNAME cannot share a name/],
    },
    {
      name: 'set identifiers are separate record sets',
      zone: [rec('www.example.com', 'A', ['1.1.1.1'], { setIdentifier: 'eu' }), txt('a-www.example.com', V('default'), { setIdentifier: 'eu' })],
      desired: [want('www.example.com', 'A', ['1.1.1.1'], { setIdentifier: 'eu' }), want('www.example.com', 'A', ['2.2.2.2'], { setIdentifier: 'us' })],
      want: ['+A www.example.com@us', '+TXT a-www.example.com@us'],
    },
    {
      name: 'old-format ownership only: the typed TXT is written',
      zone: [rec('www.example.com', 'A', ['1.1.1.1']), txt('www.example.com', V('default'))],
      desired: [want('www.example.com', 'A', ['1.1.1.1'])],
      want: ['+TXT a-www.example.com', '~A www.example.com'],
    },
    {
      name: 'migration: records of the old owner are taken over (TXT rewritten)',
      zone: [rec('www.example.com', 'A', ['1.1.1.1']), txt('a-www.example.com', V('old'))],
      desired: [want('www.example.com', 'A', ['1.1.1.1'])],
      cfg: { ownerId: 'default', migrateFromOwner: 'old' },
      want: ['~A www.example.com', '~TXT a-www.example.com'],
    },
    {
      name: 'migration: records of a third owner stay untouched',
      zone: [rec('www.example.com', 'A', ['1.1.1.1']), txt('a-www.example.com', V('third'))],
      desired: [want('www.example.com', 'A', ['2.2.2.2'])],
      cfg: { ownerId: 'default', migrateFromOwner: 'old' },
      want: [],
      skipped: [/^owned by third/],
    },
    {
      name: 'unmanaged types are ignored (current and desired)',
      zone: [rec('example.com', 'MX', ['10 mail.example.com']), txt('mx-example.com', V('default'))],
      desired: [],
      want: [],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const r = run(c.zone, c.desired, { policy: c.policy ?? 'sync' }, c.cfg);
      assert.deepEqual(summary(r.changes), c.want);
      const reasons = r.skipped.map((s) => s.reason);
      for (const re of c.skipped ?? []) assert.ok(reasons.some((x) => re.test(x)), `skipped: ${reasons.join(' | ')}`);
      if (!c.skipped) assert.deepEqual(reasons, []);
      assertConverges(c.zone, c.desired, { policy: c.policy ?? 'sync' }, c.cfg);
    });
  }
  test('the migrated TXT names our owner id, and a second plan is empty', () => {
    const zone = [rec('www.example.com', 'A', ['1.1.1.1']), txt('a-www.example.com', V('old'))];
    const cfg = { ownerId: 'new', migrateFromOwner: 'old' };
    const r = run(zone, [want('www.example.com', 'A', ['1.1.1.1'])], {}, cfg);
    const t = r.changes.updateNew.find((x) => x.type === 'TXT')!;
    assert.deepEqual(t.targets, [V('new')]);
    const after = assertConverges(zone, [want('www.example.com', 'A', ['1.1.1.1'])], {}, cfg);
    assert.deepEqual(after.find((x) => x.type === 'TXT')!.targets, [V('new')]);
  });
  test('an update with no ttl asked keeps the current ttl', () => {
    const r = run(ownedA, [want('www.example.com', 'A', ['2.2.2.2'])]);
    assert.equal(r.changes.updateNew[0]!.ttl, 300);
  });
  test('owner id mismatch between plan and view is refused', () => {
    assert.throws(() => plan({ desired: [], current: toRegistryView([]), ownerId: 'x' }), /differs from the registry view's "default"/);
  });
});

describe('plan: domain filter and exclusions', () => {
  const desired = ['example.com', 'www.example.com', '*.apps.example.com', 'www.other.org', 'a.internal.example.com', 'badexample.com'].map((n) =>
    want(n, 'A', ['1.1.1.1']),
  );
  const cases: { name: string; include: string[]; exclude: string[]; created: string[] }[] = [
    { name: 'no filter: everything', include: [], exclude: [], created: ['*.apps.example.com', 'a.internal.example.com', 'badexample.com', 'example.com', 'www.example.com', 'www.other.org'] },
    { name: 'suffix filter matches apex, subdomains and wildcards, not lookalikes', include: ['example.com'], exclude: [], created: ['*.apps.example.com', 'a.internal.example.com', 'example.com', 'www.example.com'] },
    { name: 'leading dot: subdomains only', include: ['.example.com'], exclude: [], created: ['*.apps.example.com', 'a.internal.example.com', 'www.example.com'] },
    { name: 'trailing dot and case ignored', include: ['Example.COM.'], exclude: [], created: ['*.apps.example.com', 'a.internal.example.com', 'example.com', 'www.example.com'] },
    { name: 'exclusion wins over inclusion', include: ['example.com'], exclude: ['internal.example.com'], created: ['*.apps.example.com', 'example.com', 'www.example.com'] },
    { name: 'exclusion only', include: [], exclude: ['example.com'], created: ['badexample.com', 'www.other.org'] },
    { name: 'several filters', include: ['other.org', 'apps.example.com'], exclude: [], created: ['*.apps.example.com', 'www.other.org'] },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const r = run([], desired, { domainFilter: c.include, excludeDomains: c.exclude });
      assert.deepEqual(r.changes.create.filter((x) => x.type === 'A').map((x) => x.name).sort(), c.created);
      assert.equal(r.skipped.length, desired.length - c.created.length);
      for (const s of r.skipped) assert.match(s.reason, /^(outside --domain-filter|excluded by --exclude-domains)/);
    });
  }
  test('records outside the filter are never deleted, even when owned', () => {
    const zone = [rec('www.other.org', 'A', ['1.1.1.1']), txt('a-www.other.org', V('default'))];
    assert.equal(changeCount(run(zone, [], { domainFilter: ['example.com'] }).changes), 0);
  });
  test('managed types: AAAA not managed -> skipped with a reason', () => {
    const r = run([], [want('www.example.com', 'AAAA', ['fd00::1'])], { managedTypes: ['A', 'CNAME'] });
    assert.equal(changeCount(r.changes), 0);
    assert.match(r.skipped[0]!.reason, /record type AAAA is not managed/);
  });
});

describe('plan: conflicts and idempotency end to end', () => {
  test('two ingresses claim one name: the older wins, the newer is reported, plan converges', () => {
    const a = desiredFromIngress(ingress({ name: 'a', created: '2024-01-01T00:00:00Z', hosts: ['www.example.com'], lb: [{ ip: '10.0.0.1' }] }));
    const b = desiredFromIngress(ingress({ name: 'b', created: '2024-02-01T00:00:00Z', hosts: ['www.example.com'], lb: [{ ip: '10.0.0.2' }] }));
    const desired = [...b.endpoints, ...a.endpoints];
    const r = run([], desired);
    assert.deepEqual(r.changes.create.find((x) => x.type === 'A')!.targets, ['10.0.0.1']);
    assert.equal(r.conflicts.length, 1);
    assert.equal(r.conflicts[0]!.loser.owner, 'ingress/default/b');
    assertConverges([], desired);
  });
  test('a zone written by ExternalDNS with the same owner is adopted without changes', () => {
    const zone = [
      rec('www.example.com', 'A', ['10.0.0.1']),
      txt('a-www.example.com', '"heritage=external-dns,external-dns/owner=default,external-dns/resource=ingress/default/web"'),
      txt('www.example.com', '"heritage=external-dns,external-dns/owner=default,external-dns/resource=ingress/default/web"'),
      rec('api.example.com', 'CNAME', ['lb.example.net']),
      txt('cname-api.example.com', 'heritage=external-dns,external-dns/owner=default,external-dns/resource=ingress/default/web'),
    ];
    const d = desiredFromIngress(ingress({ hosts: ['www.example.com'], lb: [{ ip: '10.0.0.1' }] })).endpoints;
    const d2 = desiredFromIngress(ingress({ hosts: ['api.example.com'], lb: [{ hostname: 'lb.example.net' }] })).endpoints;
    const r = run(zone, [...d, ...d2]);
    assert.deepEqual(summary(r.changes), []);
  });
  test('a full lifecycle converges at every step', () => {
    let zone: DnsRecord[] = [rec('foreign.example.com', 'A', ['9.9.9.9']), txt('example.com', 'v=spf1 -all')];
    const steps: DnsEndpoint[][] = [
      desiredFromIngress(ingress({ hosts: ['www.example.com', '*.apps.example.com'], lb: [{ ip: '10.0.0.2' }, { ip: '10.0.0.1' }] })).endpoints,
      desiredFromIngress(ingress({ hosts: ['www.example.com'], lb: [{ ip: '10.0.0.1' }, { ip: 'fd00::1' }], annotations: { 'external-dns.kubernetes.io/ttl': '60' } })).endpoints,
      desiredFromIngress(ingress({ hosts: ['www.example.com'], lb: [{ hostname: 'lb.example.net' }] })).endpoints,
      [],
    ];
    for (const d of steps) zone = assertConverges(zone, d, {}, { wildcardReplacement: 'wildcard' });
    assert.deepEqual(zone.map((r) => `${r.type} ${r.name}`).sort(), ['A foreign.example.com', 'TXT example.com']);
  });
  test('plan is pure: same input, same output, inputs untouched', () => {
    const zone = ownedA.map((r) => ({ ...r }));
    const desired = [want('www.example.com', 'A', ['2.2.2.2']), want('new.example.com', 'A', ['3.3.3.3'])];
    const snapshot = JSON.stringify({ zone, desired });
    const a = JSON.stringify(run(zone, desired));
    const b = JSON.stringify(run(zone, desired));
    assert.equal(a, b);
    assert.equal(JSON.stringify({ zone, desired }), snapshot);
  });
});
