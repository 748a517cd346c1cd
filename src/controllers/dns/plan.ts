/**
 * The DNS planner: desired records (from objects) against current records (read through the
 * TXT registry) -> the change set to apply, with ExternalDNS's semantics:
 *
 * - a name+set identifier with no current records gets its desired records created;
 * - a record we own is updated when its targets, TTL (when one is asked for) or
 *   provider-specific settings differ, and deleted when nothing asks for it (policy sync only);
 * - a record of a new type is added beside current ones only when we own all of them;
 * - records of other owners, or of none, are never updated or deleted;
 * - policies: sync (everything), upsert-only (no deletes), create-only (creates only);
 * - domain filter and exclusions as ExternalDNS, unmanaged record types ignored.
 *
 * The ownership TXT changes are added to the same change set (see registry.ts), so a record
 * and its TXT travel in one batch. Providers must apply deletes before creates.
 */
import { resolveConflicts, type Conflict } from './conflicts.js';
import { domainFilter, domainFilterMiss } from './domain-filter.js';
import type { DnsEndpoint } from './endpoints.js';
import { OWNER_LABEL, RESOURCE_LABEL } from './labels.js';
import {
  cloneRecord,
  describeRecord,
  nodeKey,
  recordKey,
  sameProviderSpecific,
  sameTargets,
} from './records.js';
import { DEFAULT_MANAGED_TYPES, ownershipOf, withOwnershipRecords, type RegistryView } from './registry.js';
import { emptyChangeSet, type ChangeSet, type DnsRecord, type RecordType } from './types.js';

export type Policy = 'sync' | 'upsert-only' | 'create-only';

export interface PlanInput {
  desired: readonly DnsEndpoint[];
  /** The zone's records as seen through the TXT registry (toRegistryView). */
  current: RegistryView;
  /** Default sync. */
  policy?: Policy;
  domainFilter?: readonly string[];
  excludeDomains?: readonly string[];
  /** Default A, AAAA, CNAME. */
  managedTypes?: readonly RecordType[];
  /** Must match the registry view's owner id when given. */
  ownerId?: string;
  /**
   * Lets a provider bring a desired record into the form it stores (drop settings it does not
   * keep, clamp TTLs), as ExternalDNS's AdjustEndpoints; without it, a setting the provider
   * drops would be "changed" on every plan.
   */
  adjustDesired?: (r: DnsRecord) => DnsRecord;
}

export interface Skipped {
  record: DnsRecord;
  reason: string;
}

export interface PlanResult {
  /** Record changes and their ownership TXT changes, in one batch. */
  changes: ChangeSet;
  skipped: Skipped[];
  /** Desired records refused because an older object claims the name. */
  conflicts: Conflict[];
}

function toRecord(e: DnsEndpoint): DnsRecord {
  const r: DnsRecord = { name: e.name, type: e.type, ttl: e.ttl, targets: [...e.targets] };
  if (e.setIdentifier !== undefined) r.setIdentifier = e.setIdentifier;
  if (e.providerSpecific && Object.keys(e.providerSpecific).length) r.providerSpecific = { ...e.providerSpecific };
  r.labels = { ...(e.labels ?? {}), [RESOURCE_LABEL]: e.owner };
  return r;
}

interface Row {
  current: Map<RecordType, DnsRecord>;
  desired: Map<RecordType, DnsRecord>;
}

function rowFor(rows: Map<string, Row>, key: string): Row {
  let row = rows.get(key);
  if (!row) {
    row = { current: new Map(), desired: new Map() };
    rows.set(key, row);
  }
  return row;
}

/** A CNAME and any other type cannot share a name (RFC 1034). */
function clash(a: RecordType, b: RecordType): boolean {
  return a !== b && (a === 'CNAME' || b === 'CNAME');
}

function foreignReason(cur: DnsRecord, ownerId: string): string {
  const o = ownershipOf(cur);
  const detail = o === 'not owned' ? 'it has no ownership TXT record' : `our owner id is ${ownerId}`;
  return `${o}: ${describeRecord(cur)} exists and is left alone (${detail})`;
}

function needsUpdate(want: DnsRecord, cur: DnsRecord): string | undefined {
  if (!sameTargets(want.targets, cur.targets)) return 'targets differ';
  if (want.ttl !== 0 && want.ttl !== cur.ttl) return 'ttl differs';
  if (!sameProviderSpecific(want.providerSpecific, cur.providerSpecific)) return 'provider-specific settings differ';
  return undefined;
}

/** Plans the changes that bring the zone to the desired records. Pure: same input, same output. */
export function plan(input: PlanInput): PlanResult {
  const view = input.current;
  const ownerId = view.cfg.ownerId;
  if (input.ownerId !== undefined && input.ownerId !== ownerId) {
    throw new Error(`DNS plan: owner id "${input.ownerId}" differs from the registry view's "${ownerId}"; build the view with the same --txt-owner-id`);
  }
  const policy = input.policy ?? 'sync';
  const managed = input.managedTypes ?? DEFAULT_MANAGED_TYPES;
  const filter = domainFilter(input.domainFilter ?? [], input.excludeDomains ?? []);
  const skipped: Skipped[] = [];

  const { endpoints, conflicts } = resolveConflicts(input.desired);

  const rows = new Map<string, Row>();
  for (const e of endpoints) {
    let r = toRecord(e);
    const miss = domainFilterMiss(filter, r.name);
    if (miss) {
      skipped.push({ record: r, reason: miss });
      continue;
    }
    if (!managed.includes(r.type)) {
      skipped.push({ record: r, reason: `record type ${r.type} is not managed (--managed-record-types ${managed.join(',')})` });
      continue;
    }
    if (input.adjustDesired) r = input.adjustDesired(r);
    rowFor(rows, nodeKey(r)).desired.set(r.type, r);
  }
  for (const cur of [...view.owned, ...view.foreign]) {
    if (!managed.includes(cur.type) || domainFilterMiss(filter, cur.name)) continue;
    rowFor(rows, nodeKey(cur)).current.set(cur.type, cur);
  }

  const changes = emptyChangeSet();
  const isOwned = (r: DnsRecord): boolean => r.labels?.[OWNER_LABEL] === ownerId;

  for (const key of [...rows.keys()].sort()) {
    const row = rows.get(key)!;
    const currents = [...row.current.values()];
    const foreign = currents.filter((c) => !isOwned(c));
    const kept: DnsRecord[] = []; // current records that stay after this plan
    const creates: DnsRecord[] = [];

    for (const cur of currents) {
      const want = row.desired.get(cur.type);
      if (!want) {
        if (!isOwned(cur)) {
          kept.push(cur);
        } else if (policy === 'sync') {
          changes.delete.push(cloneRecord(cur));
        } else {
          kept.push(cur);
          skipped.push({ record: cur, reason: `policy ${policy}: ${describeRecord(cur)} is no longer wanted but is not deleted` });
        }
        continue;
      }
      kept.push(cur);
      if (!isOwned(cur)) {
        skipped.push({ record: want, reason: foreignReason(cur, ownerId) });
        continue;
      }
      const why = needsUpdate(want, cur) ?? view.forceUpdate.get(recordKey(cur));
      if (!why) continue;
      if (policy === 'create-only') {
        skipped.push({ record: want, reason: `policy create-only: ${describeRecord(cur)} is not updated (${why})` });
        continue;
      }
      const next = cloneRecord(want);
      if (next.ttl === 0) next.ttl = cur.ttl; // no TTL asked for: keep the one the record has
      changes.updateOld.push(cloneRecord(cur));
      changes.updateNew.push(next);
    }

    for (const want of row.desired.values()) {
      if (row.current.has(want.type)) continue;
      if (foreign.length > 0) {
        // ExternalDNS adds a type at a taken name only when it owns everything there.
        skipped.push({ record: want, reason: foreignReason(foreign[0]!, ownerId) });
        continue;
      }
      const blocker = kept.find((k) => clash(k.type, want.type));
      if (blocker) {
        skipped.push({
          record: want,
          reason: `policy ${policy}: ${describeRecord(blocker)} stays, and a CNAME cannot share a name with other records`,
        });
        continue;
      }
      creates.push(cloneRecord(want));
    }
    changes.create.push(...creates);
  }

  return { changes: withOwnershipRecords(changes, view), skipped, conflicts };
}
