/**
 * ExternalDNS's TXT ownership registry, compatible with the records ExternalDNS writes: which
 * records are ours (their ownership TXT names our owner id), and the TXT creates, updates and
 * deletes that must travel with a change set so that ownership stays true.
 *
 * Read rules (as ExternalDNS): for a record, the TXT named `<type>-<name>` (see txt-name.ts)
 * gives its labels; failing that, the old-format TXT without a type (not for AAAA); for an A
 * record with alias=true, the legacy `cname-` TXT. Write rule: only the typed TXT is written.
 */
import { formatLabels, OWNER_LABEL, parseLabels } from './labels.js';
import { cloneRecord, nodeKey, recordKey } from './records.js';
import { fromTxtName, txtNameFor, type TxtNameConfig } from './txt-name.js';
import type { ChangeSet, DnsRecord, RecordType } from './types.js';

/** Label on an ownership TXT naming the record it owns (batching keeps the two together). */
export const OWNED_RECORD_LABEL = 'owned-record';

export const DEFAULT_OWNER_ID = 'default';
export const DEFAULT_MANAGED_TYPES: readonly RecordType[] = ['A', 'AAAA', 'CNAME'];

export interface RegistryConfig extends TxtNameConfig {
  /** --txt-owner-id; `default` when unset. */
  ownerId?: string;
  /** --migrate-from-txt-owner: records owned by this id are taken over. */
  migrateFromOwner?: string;
  /** --managed-record-types; records of these types get an ownership TXT. */
  managedTypes?: readonly RecordType[];
}

export interface ResolvedRegistryConfig extends TxtNameConfig {
  ownerId: string;
  migrateFromOwner?: string;
  managedTypes: readonly RecordType[];
}

/** One ownership TXT record as read from the zone. */
export interface OwnershipTxt {
  record: DnsRecord;
  labels: Record<string, string>;
  /** The record name and type it stands for; type `''` is the old format. */
  forName: string;
  forType: string;
}

export interface RegistryView {
  cfg: ResolvedRegistryConfig;
  /** Records whose ownership TXT names our owner id (after migration), with labels.owner/resource. */
  owned: DnsRecord[];
  /** Every other non-registry record (another owner, or none): never updated or deleted. */
  foreign: DnsRecord[];
  /** The ownership TXT records of the zone, ours and others'. */
  txt: OwnershipTxt[];
  /**
   * Owned records whose ownership TXT must be rewritten although the record itself is right,
   * keyed by recordKey: taken over from --migrate-from-txt-owner, or lacking the typed TXT.
   */
  forceUpdate: Map<string, string>;
}

export function resolveRegistryConfig(cfg: RegistryConfig = {}): ResolvedRegistryConfig {
  const ownerId = cfg.ownerId ?? DEFAULT_OWNER_ID;
  if (ownerId === '') throw new Error('TXT registry: --txt-owner-id must not be empty');
  if (cfg.migrateFromOwner !== undefined && cfg.migrateFromOwner === ownerId) {
    throw new Error(`TXT registry: --migrate-from-txt-owner "${cfg.migrateFromOwner}" equals --txt-owner-id; give the old owner id`);
  }
  if (cfg.prefix && cfg.suffix) {
    throw new Error('TXT registry: --txt-prefix and --txt-suffix are mutually exclusive; set only one of them');
  }
  const out: ResolvedRegistryConfig = { ...cfg, ownerId, managedTypes: cfg.managedTypes ?? DEFAULT_MANAGED_TYPES };
  if (cfg.migrateFromOwner === '' || cfg.migrateFromOwner === undefined) delete out.migrateFromOwner;
  return out;
}

function txtKey(name: string, setIdentifier: string | undefined): string {
  return `${name}|${setIdentifier ?? ''}`;
}

function labelKey(name: string, type: string, setIdentifier: string | undefined): string {
  return `${name}|${type}|${setIdentifier ?? ''}`;
}

function isAliasA(r: DnsRecord): boolean {
  return r.type === 'A' && r.providerSpecific?.['alias'] === 'true';
}

/** The name a record is looked up under: a leading `*` label becomes the wildcard replacement. */
function lookupName(name: string, cfg: ResolvedRegistryConfig): string {
  if (!cfg.wildcardReplacement) return name;
  return name === '*' || name.startsWith('*.') ? cfg.wildcardReplacement.toLowerCase() + name.slice(1) : name;
}

/**
 * Splits the records of a zone into ours and others', reading the ownership TXT records.
 * TXT records without `heritage=external-dns` are ordinary records (foreign).
 */
export function toRegistryView(records: readonly DnsRecord[], config: RegistryConfig = {}): RegistryView {
  const cfg = resolveRegistryConfig(config);
  const txt: OwnershipTxt[] = [];
  const plain: DnsRecord[] = [];
  const labelsByKey = new Map<string, Record<string, string>>();
  const txtNames = new Set<string>();

  for (const r of records) {
    if (r.type !== 'TXT') {
      plain.push(r);
      continue;
    }
    let labels: Record<string, string> | undefined;
    for (const t of r.targets) {
      labels = parseLabels(t);
      if (labels) break;
    }
    if (!labels) {
      plain.push(r);
      continue;
    }
    const target = fromTxtName(r.name, cfg);
    const forName = target?.name ?? '';
    const forType = target?.type ?? '';
    txt.push({ record: r, labels, forName, forType });
    labelsByKey.set(labelKey(forName, forType, r.setIdentifier), labels);
    txtNames.add(txtKey(r.name, r.setIdentifier));
  }

  const owned: DnsRecord[] = [];
  const foreign: DnsRecord[] = [];
  const forceUpdate = new Map<string, string>();
  for (const r of plain) {
    const rec = cloneRecord(r);
    const name = lookupName(r.name, cfg);
    let labels = labelsByKey.get(labelKey(name, r.type, r.setIdentifier));
    if (!labels && isAliasA(r)) labels = labelsByKey.get(labelKey(name, 'CNAME', r.setIdentifier));
    if (!labels && r.type !== 'AAAA') labels = labelsByKey.get(labelKey(name, '', r.setIdentifier));
    rec.labels = { ...(r.labels ?? {}), ...(labels ?? {}) };

    const key = recordKey(rec);
    if (cfg.migrateFromOwner !== undefined && rec.labels[OWNER_LABEL] === cfg.migrateFromOwner) {
      rec.labels[OWNER_LABEL] = cfg.ownerId;
      forceUpdate.set(key, `taken over from owner ${cfg.migrateFromOwner} (--migrate-from-txt-owner)`);
    }
    if (rec.labels[OWNER_LABEL] !== cfg.ownerId) {
      foreign.push(rec);
      continue;
    }
    owned.push(rec);
    if (cfg.managedTypes.includes(rec.type) && !forceUpdate.has(key)) {
      const want = txtNameFor(rec.name, rec.type, cfg);
      if (!txtNames.has(txtKey(want, rec.setIdentifier))) {
        forceUpdate.set(key, `ownership TXT ${want} is missing (only an older format exists); writing it`);
      }
    }
  }
  return { cfg, owned, foreign, txt, forceUpdate };
}

/** Who owns a record, for messages: `owned by <id>` or `not owned`. */
export function ownershipOf(r: DnsRecord): string {
  const owner = r.labels?.[OWNER_LABEL];
  return owner ? `owned by ${owner}` : 'not owned';
}

/** Provider-specific settings an ownership TXT shares with its record (routing policy, not alias). */
function txtProviderSpecific(r: DnsRecord): Record<string, string> | undefined {
  if (!r.providerSpecific) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.providerSpecific)) {
    if (k === 'alias' || k === 'aws/evaluate-target-health') continue;
    out[k] = v;
  }
  return Object.keys(out).length ? out : undefined;
}

/** The ownership TXT a record should have, with the given labels. */
export function ownershipTxtFor(r: DnsRecord, labels: Record<string, string>, config: RegistryConfig = {}): DnsRecord {
  const cfg = resolveRegistryConfig(config);
  const txt: DnsRecord = {
    name: txtNameFor(r.name, r.type, cfg),
    type: 'TXT',
    ttl: 0,
    targets: [formatLabels(labels)],
  };
  if (r.setIdentifier !== undefined) txt.setIdentifier = r.setIdentifier;
  // Lets batching keep the TXT with its record whatever --txt-prefix/--txt-suffix made of its name.
  txt.labels = { [OWNED_RECORD_LABEL]: r.name };
  const ps = txtProviderSpecific(r);
  if (ps) txt.providerSpecific = ps;
  return txt;
}

/** The labels we write for a record we own: its labels (resource, ...) with our owner id. */
function ownedLabels(r: DnsRecord, cfg: ResolvedRegistryConfig): Record<string, string> {
  const labels = { ...(r.labels ?? {}) };
  labels[OWNER_LABEL] = cfg.ownerId;
  return labels;
}

function txtValue(r: DnsRecord): string {
  return (r.targets[0] ?? '').replace(/^"+|"+$/g, '');
}

/**
 * Adds to a change set of records the ownership TXT changes that must travel with it:
 * a create gets a TXT create (or an update of a stale TXT under that name), an update rewrites
 * the TXT when its labels change (new resource, migrated owner, missing typed TXT), a delete
 * removes the TXT records that described the record (typed, and old-format or legacy `cname-`
 * ones that nothing else still needs). Deletes of TXT use the stored value, which is what
 * servers match on. Returns a new change set; the input is not modified.
 */
export function withOwnershipRecords(changes: ChangeSet, view: RegistryView): ChangeSet {
  const cfg = view.cfg;
  const out: ChangeSet = {
    create: changes.create.map(cloneRecord),
    updateOld: changes.updateOld.map(cloneRecord),
    updateNew: changes.updateNew.map(cloneRecord),
    delete: changes.delete.map(cloneRecord),
  };
  const byName = new Map<string, OwnershipTxt>();
  for (const t of view.txt) byName.set(txtKey(t.record.name, t.record.setIdentifier), t);
  const touched = new Set<string>();
  const txtCreate: DnsRecord[] = [];
  const txtOld: DnsRecord[] = [];
  const txtNew: DnsRecord[] = [];
  const txtDelete: DnsRecord[] = [];

  const put = (r: DnsRecord): void => {
    const want = ownershipTxtFor(r, ownedLabels(r, cfg), cfg);
    const k = txtKey(want.name, want.setIdentifier);
    if (touched.has(k)) return;
    touched.add(k);
    const have = byName.get(k);
    if (!have) {
      txtCreate.push(want);
    } else if (txtValue(have.record) !== want.targets[0]) {
      txtOld.push(cloneRecord(have.record));
      txtNew.push({ ...want, ttl: have.record.ttl });
    }
  };
  const remove = (t: OwnershipTxt | undefined): void => {
    if (!t) return;
    const k = txtKey(t.record.name, t.record.setIdentifier);
    if (touched.has(k)) return;
    touched.add(k);
    txtDelete.push(cloneRecord(t.record));
  };

  for (const r of out.create) {
    r.labels = ownedLabels(r, cfg);
    put(r);
  }
  for (const r of out.updateNew) {
    r.labels = ownedLabels(r, cfg);
    put(r);
  }

  // Records still at a node after this change set, to know whether a shared old-format TXT is still needed.
  const deleted = new Set(out.delete.map(recordKey));
  const remaining = new Set<string>();
  for (const r of [...view.owned, ...view.foreign]) {
    if (!deleted.has(recordKey(r)) && r.type !== 'AAAA') remaining.add(nodeKey(r));
  }
  const ours = (t: OwnershipTxt | undefined): OwnershipTxt | undefined => {
    const owner = t?.labels[OWNER_LABEL];
    return owner === cfg.ownerId || (owner !== undefined && owner === cfg.migrateFromOwner) ? t : undefined;
  };
  for (const r of out.delete) {
    remove(byName.get(txtKey(txtNameFor(r.name, r.type, cfg), r.setIdentifier)));
    const lookup = lookupName(r.name, cfg);
    if (isAliasA(r)) remove(ours(byName.get(txtKey(txtNameFor(r.name, 'CNAME', cfg), r.setIdentifier))));
    if (r.type !== 'AAAA' && !remaining.has(nodeKey(r))) {
      const old = view.txt.find(
        (t) => t.forType === '' && t.forName === lookup && (t.record.setIdentifier ?? '') === (r.setIdentifier ?? ''),
      );
      remove(ours(old));
    }
  }

  out.create.push(...txtCreate);
  out.updateOld.push(...txtOld);
  out.updateNew.push(...txtNew);
  out.delete.push(...txtDelete);
  return out;
}
