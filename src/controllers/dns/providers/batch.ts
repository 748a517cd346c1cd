/**
 * Splitting a change set into backend batches, shared by the providers that talk to a remote
 * backend. A record and its ownership TXT must land in the same batch: if they were split, a
 * crash or a failed batch could leave a record without its owner marker (then we would never
 * touch it again) or an owner marker without its record.
 */
import { fqdn, zoneFor, type ChangeSet, type DnsRecord } from '../types.js';

import { OWNED_RECORD_LABEL } from '../registry.js';

export { OWNED_RECORD_LABEL };

export type ChangeAction = 'create' | 'update' | 'delete';

export interface Change {
  action: ChangeAction;
  /** The record to create, the new record of an update, or the record to delete. */
  record: DnsRecord;
  /** For updates: the record being replaced. */
  old?: DnsRecord;
}

/** The record types ExternalDNS's TXT registry puts in front of the owned name (`a-www.example.com`). */
const TXT_TYPE_PREFIX = /^(a|aaaa|cname|ns|mx|srv|txt|naptr)-/;

/**
 * The name of the record a change belongs with. Ownership TXT records carry the owned name in
 * a label; without the label, a TXT record named in ExternalDNS's default format
 * (`<type>-<name>`) is grouped with `<name>`; anything else groups by its own name.
 */
export function ownershipKey(r: DnsRecord): string {
  const owned = r.labels?.[OWNED_RECORD_LABEL];
  if (owned) return fqdn(owned);
  const name = fqdn(r.name);
  if (r.type === 'TXT') return name.replace(TXT_TYPE_PREFIX, '');
  return name;
}

/** Flattens a change set into a list of changes, in the order creates, updates, deletes. */
export function changesOf(cs: ChangeSet): Change[] {
  if (cs.updateOld.length !== cs.updateNew.length) {
    throw new Error(
      `change set is malformed: updateOld has ${cs.updateOld.length} records but updateNew has ${cs.updateNew.length}; they must pair up`,
    );
  }
  return [
    ...cs.create.map((record): Change => ({ action: 'create', record })),
    ...cs.updateNew.map((record, i): Change => ({ action: 'update', record, old: cs.updateOld[i] })),
    ...cs.delete.map((record): Change => ({ action: 'delete', record })),
  ];
}

export interface ZoneChanges {
  zone: string;
  changes: Change[];
}

/**
 * Assigns each change to the longest matching zone. Changes outside every zone come back in
 * `orphans` so the caller can report them (a provider never guesses a zone).
 */
export function changesByZone(changes: Change[], zones: readonly string[]): { byZone: ZoneChanges[]; orphans: Change[] } {
  const map = new Map<string, Change[]>();
  const orphans: Change[] = [];
  for (const c of changes) {
    const z = zoneFor(c.record.name, zones);
    if (!z) {
      orphans.push(c);
      continue;
    }
    let list = map.get(z);
    if (!list) map.set(z, (list = []));
    list.push(c);
  }
  return { byZone: [...map].map(([zone, changes]) => ({ zone, changes })), orphans };
}

/**
 * Packs changes into batches of at most `size` units (`weight` per change, 1 by default),
 * never splitting the changes of one ownership key. A single group heavier than `size` goes
 * into a batch of its own (the backend then says whether it accepts it). Order is kept:
 * groups appear in the order of their first change.
 */
export function packBatches(changes: Change[], size: number, weight: (c: Change) => number = () => 1): Change[][] {
  if (!Number.isInteger(size) || size < 1) throw new Error(`batch size must be a positive integer, got ${size}`);
  const groups = new Map<string, Change[]>();
  for (const c of changes) {
    const k = ownershipKey(c.record);
    let g = groups.get(k);
    if (!g) groups.set(k, (g = []));
    g.push(c);
  }
  const batches: Change[][] = [];
  let current: Change[] = [];
  let load = 0;
  for (const g of groups.values()) {
    const w = g.reduce((s, c) => s + weight(c), 0);
    if (current.length > 0 && load + w > size) {
      batches.push(current);
      current = [];
      load = 0;
    }
    current.push(...g);
    load += w;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/** A short human name for a record in error messages: `www.example.com A (set eu)`. */
export function describeRecord(r: DnsRecord): string {
  return `${fqdn(r.name)} ${r.type}${r.setIdentifier ? ` (set ${r.setIdentifier})` : ''}`;
}
