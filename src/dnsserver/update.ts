/**
 * RFC 2136 UPDATE semantics as a pure function: a zone snapshot and the decoded prerequisite
 * and update sections in, an rcode and the next snapshot out. All prerequisites and the
 * prescan run before anything changes, and changes land on a draft, so an update is atomic.
 */
import { CLASS, RCODE, TYPE, typeName, type WireRR } from './wire.js';
import { Zone, ZoneDraft, isManaged, rdataKey, type ZoneConfig } from './zone.js';

export interface UpdateResult {
  rcode: number;
  /** The next snapshot when something changed. */
  zone?: Zone;
  /** Why the update was refused, for the log. */
  reason?: string;
  changes: number;
}

const META_TYPES = new Set<number>([TYPE.OPT, TYPE.TSIG, TYPE.IXFR, TYPE.AXFR, 253, 254, TYPE.ANY]);

function fail(rcode: number, reason: string): UpdateResult {
  return { rcode, reason, changes: 0 };
}

export function applyUpdate(zone: Zone, prereqs: readonly WireRR[], updates: readonly WireRR[]): UpdateResult {
  // 3.2: prerequisites.
  const valueSets = new Map<string, { name: string; type: number; keys: Set<string> }>();
  for (const rr of prereqs) {
    const name = rr.name.toLowerCase();
    if (rr.ttl !== 0) return fail(RCODE.FORMERR, `prerequisite ${rr.name} must have TTL 0`);
    if (!zone.contains(name)) return fail(RCODE.NOTZONE, `prerequisite ${rr.name} is outside zone ${zone.origin}`);
    const node = zone.nodes.get(name);
    if (rr.class === CLASS.ANY) {
      if (rr.data !== undefined) return fail(RCODE.FORMERR, `prerequisite ${rr.name} of class ANY must have no data`);
      if (rr.type === TYPE.ANY) {
        if (!node) return fail(RCODE.NXDOMAIN, `prerequisite failed: name ${rr.name} is not in use`);
      } else if (!node?.has(rr.type)) {
        return fail(RCODE.NXRRSET, `prerequisite failed: ${rr.name} ${typeName(rr.type)} does not exist`);
      }
    } else if (rr.class === CLASS.NONE) {
      if (rr.data !== undefined) return fail(RCODE.FORMERR, `prerequisite ${rr.name} of class NONE must have no data`);
      if (rr.type === TYPE.ANY) {
        if (node) return fail(RCODE.YXDOMAIN, `prerequisite failed: name ${rr.name} is in use`);
      } else if (node?.has(rr.type)) {
        return fail(RCODE.YXRRSET, `prerequisite failed: ${rr.name} ${typeName(rr.type)} exists`);
      }
    } else if (rr.class === CLASS.IN) {
      if (rr.data === undefined || META_TYPES.has(rr.type)) return fail(RCODE.FORMERR, `value prerequisite ${rr.name} needs data of a real type`);
      const k = `${name}/${rr.type}`;
      let s = valueSets.get(k);
      if (!s) valueSets.set(k, (s = { name, type: rr.type, keys: new Set() }));
      s.keys.add(rdataKey(rr.type, rr.data));
    } else {
      return fail(RCODE.FORMERR, `prerequisite ${rr.name} has class ${rr.class}`);
    }
  }
  for (const s of valueSets.values()) {
    const have = zone.nodes.get(s.name)?.get(s.type);
    const haveKeys = new Set((have?.data ?? []).map((d) => rdataKey(s.type, d)));
    if (haveKeys.size !== s.keys.size || [...s.keys].some((k) => !haveKeys.has(k))) {
      return fail(RCODE.NXRRSET, `prerequisite failed: ${s.name} ${typeName(s.type)} does not hold exactly the given records`);
    }
  }

  // 3.4.1: prescan.
  for (const rr of updates) {
    const name = rr.name.toLowerCase();
    if (!zone.contains(name)) return fail(RCODE.NOTZONE, `update ${rr.name} is outside zone ${zone.origin}`);
    if (rr.class === CLASS.IN) {
      if (META_TYPES.has(rr.type) || rr.data === undefined) return fail(RCODE.FORMERR, `update ${rr.name} adds a ${typeName(rr.type)} record without data`);
    } else if (rr.class === CLASS.ANY) {
      if (rr.ttl !== 0 || rr.data !== undefined || (META_TYPES.has(rr.type) && rr.type !== TYPE.ANY)) {
        return fail(RCODE.FORMERR, `delete of ${rr.name} (class ANY) must have TTL 0 and no data`);
      }
    } else if (rr.class === CLASS.NONE) {
      if (rr.ttl !== 0 || META_TYPES.has(rr.type) || rr.data === undefined) {
        return fail(RCODE.FORMERR, `delete of one ${rr.name} record (class NONE) must have TTL 0 and data`);
      }
    } else {
      return fail(RCODE.FORMERR, `update ${rr.name} has class ${rr.class}`);
    }
  }

  // 3.4.2: apply on a draft.
  const draft = zone.draft();
  let changes = 0;
  const cfg = zone.config;
  for (const rr of updates) {
    const before = draft.changed;
    draft.changed = false;
    applyOne(draft, cfg, rr);
    if (draft.changed) changes++;
    draft.changed = draft.changed || before;
  }
  const next = draft.commit();
  return next === zone ? { rcode: RCODE.NOERROR, changes: 0 } : { rcode: RCODE.NOERROR, zone: next, changes };
}

function applyOne(draft: ZoneDraft, cfg: ZoneConfig, rr: WireRR): void {
  const name = rr.name.toLowerCase();
  if (rr.class === CLASS.IN) {
    if (isManaged(cfg, name, rr.type)) return;
    const types = draft.types(name);
    // A CNAME cannot share its name with other data (RFC 1034 3.6.2): such adds are ignored, as BIND does.
    if (rr.type === TYPE.CNAME && types.some((t) => t !== TYPE.CNAME)) return;
    if (rr.type !== TYPE.CNAME && types.includes(TYPE.CNAME)) return;
    if (rr.type === TYPE.CNAME) {
      // A name has one CNAME: a new target replaces the old one.
      const cur = draft.get(name, TYPE.CNAME);
      if (cur && cur.ttl === rr.ttl && rdataKey(TYPE.CNAME, cur.data[0]!) === rdataKey(TYPE.CNAME, rr.data!)) return;
      draft.delete(name, TYPE.CNAME);
    }
    draft.addRR(name, rr.type, rr.ttl, rr.data!);
  } else if (rr.class === CLASS.ANY) {
    if (rr.type === TYPE.ANY) {
      for (const t of draft.types(name)) if (!isManaged(cfg, name, t)) draft.delete(name, t);
    } else if (!isManaged(cfg, name, rr.type)) {
      draft.delete(name, rr.type);
    }
  } else if (!isManaged(cfg, name, rr.type)) {
    draft.deleteRR(name, rr.type, rr.data!);
  }
}
