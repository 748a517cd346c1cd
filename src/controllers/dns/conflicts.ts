/**
 * Settling claims of several objects on one DNS name. The oldest object wins (creation time,
 * then namespace/name), so a newer object can never take a name away from a running one.
 */
import { olderFirst } from '../../api/meta.js';
import type { DnsEndpoint } from './endpoints.js';
import { describeRecord, recordKey, sameProviderSpecific, sameTargets } from './records.js';

export interface Conflict {
  /** The claim that is not published. */
  loser: DnsEndpoint;
  /** The claim published instead. */
  winner: DnsEndpoint;
  message: string;
}

export interface Resolved {
  /** One endpoint per name+type+set identifier, with no CNAME beside other types; sorted. */
  endpoints: DnsEndpoint[];
  conflicts: Conflict[];
}

function byAge(a: DnsEndpoint, b: DnsEndpoint): number {
  const c = olderFirst(a.source, b.source);
  if (c !== 0) return c;
  return a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : 0;
}

function agrees(a: DnsEndpoint, b: DnsEndpoint): boolean {
  return sameTargets(a.targets, b.targets) && a.ttl === b.ttl && sameProviderSpecific(a.providerSpecific, b.providerSpecific);
}

function isCname(e: DnsEndpoint): boolean {
  return e.type === 'CNAME';
}

function groupBy<T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const it of items) {
    const k = key(it);
    const g = m.get(k);
    if (g) g.push(it);
    else m.set(k, [it]);
  }
  return m;
}

const RULE = 'the oldest object wins (by creationTimestamp, then namespace/name)';

/**
 * Picks one claim per name+type(+set identifier) and refuses a CNAME beside A/AAAA at one
 * name. Claims that agree exactly (same targets, TTL and provider-specific settings) are not
 * conflicts: the oldest one is kept as the record's resource.
 */
export function resolveConflicts(endpoints: readonly DnsEndpoint[]): Resolved {
  const conflicts: Conflict[] = [];
  const survivors: DnsEndpoint[] = [];

  for (const group of groupBy(endpoints, recordKey).values()) {
    const sorted = [...group].sort(byAge);
    const winner = sorted[0]!;
    survivors.push(winner);
    for (const other of sorted.slice(1)) {
      if (other.owner === winner.owner || agrees(other, winner)) continue;
      conflicts.push({
        loser: other,
        winner,
        message:
          `${other.owner} wants ${describeRecord(other)} but ${winner.owner} already claims it as ${describeRecord(winner)}; ` +
          `${RULE}. Give the two objects different hostnames or the same targets.`,
      });
    }
  }

  const kept: DnsEndpoint[] = [];
  for (const group of groupBy(survivors, (e) => e.name).values()) {
    const hasCname = group.some(isCname);
    const hasOther = group.some((e) => !isCname(e));
    if (!hasCname || !hasOther) {
      kept.push(...group);
      continue;
    }
    const sorted = [...group].sort(byAge);
    const first = sorted[0]!;
    const winnerIsCname = isCname(first);
    for (const e of sorted) {
      if (isCname(e) === winnerIsCname) {
        kept.push(e);
        continue;
      }
      const what = winnerIsCname ? 'a CNAME' : `${first.type} records`;
      conflicts.push({
        loser: e,
        winner: first,
        message:
          `${e.owner} wants ${describeRecord(e)} but ${first.owner} already publishes ${what} at ${e.name}; ` +
          `a CNAME cannot share a name with other records (RFC 1034), and ${RULE}. ` +
          `Point both objects at the same kind of target or give them different hostnames.`,
      });
    }
  }

  kept.sort((a, b) => (recordKey(a) < recordKey(b) ? -1 : recordKey(a) > recordKey(b) ? 1 : 0));
  return { endpoints: kept, conflicts };
}
