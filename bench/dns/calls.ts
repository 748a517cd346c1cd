/** Summaries of the calls the counting proxy saw. Pure. */
import type { Call } from './counting-proxy.js';

export interface CallSummary {
  listZones: number;
  listRecords: number;
  writes: number;
  /** Changes over all ChangeResourceRecordSets calls, and per call. */
  changes: number;
  minBatch: number;
  maxBatch: number;
  other: number;
  /** Calls answered with a status >= 400. */
  errors: number;
  /** ListResourceRecordSets pages per zone id. */
  pagesPerZone: Record<string, number>;
  /** Writes per zone id. */
  writesPerZone: Record<string, number>;
}

export function summarize(calls: readonly Call[]): CallSummary {
  const s: CallSummary = { listZones: 0, listRecords: 0, writes: 0, changes: 0, minBatch: 0, maxBatch: 0, other: 0, errors: 0, pagesPerZone: {}, writesPerZone: {} };
  const batches: number[] = [];
  for (const c of calls) {
    if (c.status >= 400) s.errors++;
    if (c.op === 'ListHostedZones') s.listZones++;
    else if (c.op === 'ListResourceRecordSets') {
      s.listRecords++;
      s.pagesPerZone[c.zoneId ?? '?'] = (s.pagesPerZone[c.zoneId ?? '?'] ?? 0) + 1;
    } else if (c.op === 'ChangeResourceRecordSets') {
      s.writes++;
      s.writesPerZone[c.zoneId ?? '?'] = (s.writesPerZone[c.zoneId ?? '?'] ?? 0) + 1;
      batches.push(c.changes ?? 0);
      s.changes += c.changes ?? 0;
    } else s.other++;
  }
  if (batches.length) {
    s.minBatch = Math.min(...batches);
    s.maxBatch = Math.max(...batches);
  }
  return s;
}

/** Splits calls (sorted by start) into bursts separated by more than `gapMs` of silence: one burst per drift check. */
export function bursts(calls: readonly Call[], gapMs: number): Call[][] {
  const sorted = [...calls].sort((a, b) => a.start - b.start);
  const out: Call[][] = [];
  let lastEnd = -Infinity;
  for (const c of sorted) {
    if (c.start - lastEnd > gapMs || out.length === 0) out.push([]);
    out[out.length - 1]!.push(c);
    lastEnd = Math.max(lastEnd, c.end);
  }
  return out;
}
