import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OWNED_RECORD_LABEL, changesByZone, changesOf, ownershipKey, packBatches, type Change } from '../../../src/controllers/dns/providers/batch.js';
import { emptyChangeSet, type DnsRecord } from '../../../src/controllers/dns/types.js';

const r = (name: string, type: DnsRecord['type'] = 'A', labels?: Record<string, string>): DnsRecord => ({ name, type, ttl: 300, targets: ['x'], ...(labels ? { labels } : {}) });
const create = (rec: DnsRecord): Change => ({ action: 'create', record: rec });

describe('ownershipKey', () => {
  const cases: [string, DnsRecord, string][] = [
    ['plain record groups by its name', r('WWW.Example.com.'), 'www.example.com'],
    ['typed TXT groups with its record', r('a-www.example.com', 'TXT'), 'www.example.com'],
    ['cname- TXT groups with its record', r('cname-api.example.com', 'TXT'), 'api.example.com'],
    ['wildcard TXT groups with the wildcard', r('a-*.apps.example.com', 'TXT'), '*.apps.example.com'],
    ['old-format TXT shares the name already', r('www.example.com', 'TXT'), 'www.example.com'],
    ['the owned-record label wins (custom --txt-prefix)', r('extdns-www.example.com', 'TXT', { [OWNED_RECORD_LABEL]: 'www.example.com' }), 'www.example.com'],
    ['an A record named like a prefix is left alone', r('a-team.example.com', 'A'), 'a-team.example.com'],
  ];
  for (const [name, rec, want] of cases) it(name, () => assert.equal(ownershipKey(rec), want));
});

describe('packBatches', () => {
  it('never splits a record from its TXT and keeps batches within the size', () => {
    const changes: Change[] = [];
    for (let i = 0; i < 7; i++) changes.push(create(r(`h${i}.example.com`)));
    for (let i = 0; i < 7; i++) changes.push(create(r(`a-h${i}.example.com`, 'TXT')));
    const batches = packBatches(changes, 4);
    assert.deepEqual(batches.map((b) => b.length), [4, 4, 4, 2]);
    for (const b of batches) {
      const keys = new Set(b.map((c) => ownershipKey(c.record)));
      for (const k of keys) assert.equal(b.filter((c) => ownershipKey(c.record) === k).length, 2, `${k} travels with its TXT`);
    }
    assert.equal(batches.flat().length, changes.length);
  });

  it('puts a group heavier than the size into a batch of its own', () => {
    const changes = [create(r('a.example.com')), create(r('b.example.com')), create(r('b.example.com', 'AAAA')), create(r('a-b.example.com', 'TXT')), create(r('c.example.com'))];
    assert.deepEqual(packBatches(changes, 2).map((b) => b.map((c) => c.record.name)), [['a.example.com'], ['b.example.com', 'b.example.com', 'a-b.example.com'], ['c.example.com']]);
  });

  it('counts by the given weight', () => {
    const changes = [create(r('a.example.com')), create(r('b.example.com')), create(r('c.example.com'))];
    assert.equal(packBatches(changes, 4, () => 2).length, 2);
  });

  it('rejects a size below 1', () => assert.throws(() => packBatches([], 0), /positive integer/));
});

describe('changesOf / changesByZone', () => {
  it('flattens creates, updates and deletes and assigns the longest zone', () => {
    const cs = { ...emptyChangeSet(), create: [r('x.sub.example.com')], updateOld: [r('y.example.com')], updateNew: [r('y.example.com')], delete: [r('z.other.org')] };
    const { byZone, orphans } = changesByZone(changesOf(cs), ['example.com', 'sub.example.com']);
    assert.deepEqual(byZone.map((z) => [z.zone, z.changes.map((c) => c.action)]), [['sub.example.com', ['create']], ['example.com', ['update']]]);
    assert.deepEqual(orphans.map((c) => c.record.name), ['z.other.org']);
  });

  it('rejects unpaired updates', () => {
    assert.throws(() => changesOf({ ...emptyChangeSet(), updateOld: [r('a.example.com')] }), /must pair up/);
  });
});
