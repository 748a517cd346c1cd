/**
 * One behaviour contract for every DnsProvider, run against each real backend (BIND 9 for
 * rfc2136, moto for aws, the embedded server). Each case uses its own names, so cases do not
 * depend on each other's leftovers.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DnsProviderError, emptyChangeSet, type ChangeSet, type DnsProvider, type DnsRecord } from '../../../src/controllers/dns/types.js';
import { OWNED_RECORD_LABEL } from '../../../src/controllers/dns/providers/batch.js';

export interface ContractBackend {
  provider: DnsProvider;
  /** The zone the provider manages (fqdn, no trailing dot). */
  zone: string;
  teardown(): Promise<void>;
  /** Writes a record straight into the backend, around the provider (someone else's record). */
  addForeignRecord(r: DnsRecord): Promise<void>;
  /** The provider's configured batch size; the batching case sends more changes than this. */
  batchChangeSize: number;
  /**
   * What the backend does with a create of an existing record set and a delete of a missing
   * one: `rejects` = applyChanges throws a non-retryable DnsProviderError; `accepted` = the
   * backend takes it (documented per provider).
   */
  createExisting: 'rejects' | 'accepted';
  deleteMissing: 'rejects' | 'accepted';
}

const TXT_VALUES = [
  'heritage=external-dns,external-dns/owner=default,external-dns/resource=ingress/default/web',
  'say "hello", then \\ leave; with spaces',
  'x'.repeat(300) + '-long',
];

function cs(part: Partial<ChangeSet>): ChangeSet {
  return { ...emptyChangeSet(), ...part };
}

function find(records: DnsRecord[], name: string, type: string): DnsRecord | undefined {
  return records.find((r) => r.name === name && r.type === type && !r.setIdentifier);
}

/** The fields a provider must give back exactly as written. */
function view(r: DnsRecord | undefined): { name: string; type: string; ttl: number; targets: string[] } | undefined {
  return r && { name: r.name, type: r.type, ttl: r.ttl, targets: [...r.targets].sort() };
}

function rec(name: string, type: DnsRecord['type'], ttl: number, targets: string[], labels?: Record<string, string>): DnsRecord {
  return labels ? { name, type, ttl, targets, labels } : { name, type, ttl, targets };
}

export function providerContract(name: string, setup: () => Promise<ContractBackend>): void {
  describe(`DnsProvider contract: ${name}`, () => {
    let b: ContractBackend;
    let p: DnsProvider;
    let z: string;
    const n = (label: string) => `${label}.${z}`;
    const list = async () => p.records(z);

    before(async () => {
      b = await setup();
      p = b.provider;
      z = b.zone;
    });
    after(async () => {
      await b?.teardown();
    });

    it('lists the zone it manages', async () => {
      assert.ok((await p.zones()).includes(z), `zones() should include ${z}`);
    });

    it('creates A, AAAA, CNAME and TXT records and lists them back exactly', async () => {
      const want = [
        rec(n('a.create'), 'A', 300, ['192.0.2.1', '192.0.2.2']),
        rec(n('aaaa.create'), 'AAAA', 120, ['2001:db8::1']),
        rec(n('cname.create'), 'CNAME', 60, ['target.example.net']),
        rec(n('txt.create'), 'TXT', 300, TXT_VALUES),
        rec(`*.${n('wild.create')}`, 'A', 300, ['192.0.2.9']),
      ];
      await p.applyChanges(cs({ create: want }));
      const got = await list();
      for (const w of want) assert.deepEqual(view(find(got, w.name, w.type)), view(w), `${w.name} ${w.type}`);
    });

    it('updates targets and TTL of a record', async () => {
      const old = rec(n('update'), 'A', 300, ['192.0.2.10']);
      await p.applyChanges(cs({ create: [old] }));
      const listedOld = find(await list(), old.name, 'A');
      assert.ok(listedOld, 'the record to update is listed');
      const next = rec(n('update'), 'A', 60, ['192.0.2.11', '192.0.2.12']);
      await p.applyChanges(cs({ updateOld: [listedOld], updateNew: [next] }));
      assert.deepEqual(view(find(await list(), old.name, 'A')), view(next));
    });

    it('deletes a record', async () => {
      const r = rec(n('delete'), 'TXT', 300, ['bye']);
      await p.applyChanges(cs({ create: [r] }));
      const listed = find(await list(), r.name, 'TXT');
      assert.ok(listed);
      await p.applyChanges(cs({ delete: [listed] }));
      assert.equal(find(await list(), r.name, 'TXT'), undefined);
    });

    it('applies a record and its ownership TXT together', async () => {
      const a = rec(n('owned'), 'A', 300, ['192.0.2.20']);
      const txt = rec(n('a-owned'), 'TXT', 300, [TXT_VALUES[0]!], { [OWNED_RECORD_LABEL]: a.name });
      await p.applyChanges(cs({ create: [a, txt] }));
      const got = await list();
      assert.deepEqual(view(find(got, a.name, 'A')), view(a));
      assert.deepEqual(view(find(got, txt.name, 'TXT')), view(txt));
    });

    it('applies more changes than one batch holds', async () => {
      const count = b.batchChangeSize * 2 + 3;
      const records: DnsRecord[] = [];
      for (let i = 0; i < count; i++) {
        const a = rec(n(`batch${i}`), 'A', 300, [`198.51.100.${i % 250}`]);
        records.push(a, rec(n(`a-batch${i}`), 'TXT', 300, [`owner-${i}`], { [OWNED_RECORD_LABEL]: a.name }));
      }
      await p.applyChanges(cs({ create: records }));
      const got = await list();
      for (const r of records) assert.deepEqual(view(find(got, r.name, r.type)), view(r), `${r.name} ${r.type}`);
    });

    it('lists a record written by someone else and leaves it alone when changing others', async () => {
      const foreign = rec(n('foreign'), 'A', 300, ['203.0.113.7']);
      await b.addForeignRecord(foreign);
      assert.deepEqual(view(find(await list(), foreign.name, 'A')), view(foreign));
      const mine = rec(n('mine'), 'A', 300, ['203.0.113.8']);
      await p.applyChanges(cs({ create: [mine] }));
      const listedMine = find(await list(), mine.name, 'A')!;
      await p.applyChanges(cs({ updateOld: [listedMine], updateNew: [{ ...mine, targets: ['203.0.113.9'] }] }));
      await p.applyChanges(cs({ delete: [{ ...mine, targets: ['203.0.113.9'] }] }));
      const got = await list();
      assert.deepEqual(view(find(got, foreign.name, 'A')), view(foreign));
      assert.equal(find(got, mine.name, 'A'), undefined);
    });

    it('deleting a record that is not there: rejected or accepted as the backend declares', async () => {
      const ghost = rec(n('ghost'), 'A', 300, ['192.0.2.99']);
      const attempt = p.applyChanges(cs({ delete: [ghost] }));
      if (b.deleteMissing === 'rejects') {
        await assert.rejects(attempt, (err: unknown) => {
          assert.ok(err instanceof DnsProviderError, `expected DnsProviderError, got ${String(err)}`);
          assert.equal(err.retryable, false);
          assert.match(err.message, /ghost/);
          return true;
        });
      } else {
        await attempt;
      }
      assert.equal(find(await list(), ghost.name, 'A'), undefined);
    });

    it('creating a record that already exists: rejected or accepted as the backend declares', async () => {
      const r = rec(n('twice'), 'A', 300, ['192.0.2.30']);
      await p.applyChanges(cs({ create: [r] }));
      const again = rec(n('twice'), 'A', 300, ['192.0.2.31']);
      const attempt = p.applyChanges(cs({ create: [again] }));
      if (b.createExisting === 'rejects') {
        await assert.rejects(attempt, (err: unknown) => {
          assert.ok(err instanceof DnsProviderError, `expected DnsProviderError, got ${String(err)}`);
          assert.equal(err.retryable, false);
          assert.match(err.message, /twice/);
          return true;
        });
        // A rejected batch changes nothing.
        assert.deepEqual(view(find(await list(), r.name, 'A')), view(r));
      } else {
        await attempt;
      }
    });

    it('a refused batch changes nothing, also not the good record in it', async () => {
      if (b.deleteMissing !== 'rejects') return; // only meaningful where a batch can be refused
      const good = rec(n('atomic'), 'A', 300, ['192.0.2.40']);
      const txt = rec(n('a-atomic'), 'TXT', 300, ['x'], { [OWNED_RECORD_LABEL]: good.name });
      const ghost = { ...rec(n('atomic'), 'AAAA', 300, ['2001:db8::40']) };
      await assert.rejects(p.applyChanges(cs({ create: [good, txt], delete: [ghost] })), DnsProviderError);
      const got = await list();
      assert.equal(find(got, good.name, 'A'), undefined);
      assert.equal(find(got, txt.name, 'TXT'), undefined);
    });
  });
}
