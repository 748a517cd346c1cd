/**
 * What a Route 53 REST request is, seen from the wire (the counting proxy in front of moto):
 * the operation by method and path, and how many changes a ChangeResourceRecordSets body holds.
 * Pure, so that the counts the benchmark reports can be checked by a table test.
 */

export type Route53Op =
  | 'ListHostedZones'
  | 'CreateHostedZone'
  | 'GetHostedZone'
  | 'ListResourceRecordSets'
  | 'ChangeResourceRecordSets'
  | 'GetChange'
  | 'other';

export interface ClassifiedRequest {
  op: Route53Op;
  /** Bare hosted zone id for zone-scoped operations. */
  zoneId?: string;
}

const API = '/2013-04-01';

/** Classifies a Route 53 REST request by method and URL (path and query). */
export function classifyRoute53(method: string, url: string): ClassifiedRequest {
  const path = (url.split('?')[0] ?? '').replace(/\/+$/, '');
  const m = method.toUpperCase();
  if (path === `${API}/hostedzone`) return { op: m === 'POST' ? 'CreateHostedZone' : m === 'GET' ? 'ListHostedZones' : 'other' };
  const rrset = new RegExp(`^${API}/hostedzone/([^/]+)/rrset$`).exec(path);
  if (rrset) {
    const zoneId = decodeURIComponent(rrset[1]!);
    if (m === 'GET') return { op: 'ListResourceRecordSets', zoneId };
    if (m === 'POST') return { op: 'ChangeResourceRecordSets', zoneId };
    return { op: 'other', zoneId };
  }
  const zone = new RegExp(`^${API}/hostedzone/([^/]+)$`).exec(path);
  if (zone && m === 'GET') return { op: 'GetHostedZone', zoneId: decodeURIComponent(zone[1]!) };
  if (new RegExp(`^${API}/change/[^/]+$`).test(path) && m === 'GET') return { op: 'GetChange' };
  return { op: 'other' };
}

export interface ChangeCount {
  total: number;
  /** CREATE, UPSERT, DELETE -> count. */
  byAction: Record<string, number>;
}

/** Counts the <Change> actions of a ChangeResourceRecordSets request body (Route 53 XML). */
export function countChanges(xml: string): ChangeCount {
  const byAction: Record<string, number> = {};
  let total = 0;
  for (const m of xml.matchAll(/<Action>\s*([A-Z]+)\s*<\/Action>/g)) {
    const a = m[1]!;
    byAction[a] = (byAction[a] ?? 0) + 1;
    total++;
  }
  return { total, byAction };
}
