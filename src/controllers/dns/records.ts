/**
 * Small pure helpers over DnsRecord shared by the DNS decision modules: identity keys,
 * target normalization and comparison.
 */
import { isIP } from 'node:net';
import type { DnsRecord, RecordType } from './types.js';

/** Identity of a record set: name, type and set identifier. */
export function recordKey(r: Pick<DnsRecord, 'name' | 'type' | 'setIdentifier'>): string {
  return `${r.name}|${r.type}|${r.setIdentifier ?? ''}`;
}

/** Identity of the DNS node a record set lives at (ExternalDNS plans per name + set identifier). */
export function nodeKey(r: Pick<DnsRecord, 'name' | 'setIdentifier'>): string {
  return `${r.name}|${r.setIdentifier ?? ''}`;
}

/**
 * RFC 5952 canonical text of an IPv6 address (lower case, zeros compressed), so that a target
 * written as `2001:0DB8::0001` compares equal to the `2001:db8::1` a DNS server returns.
 */
export function canonicalIPv6(address: string): string {
  // The WHATWG URL parser serializes IPv6 hosts in canonical form.
  return new URL(`http://[${address}]/`).hostname.slice(1, -1);
}

/** The record type a target calls for: A for IPv4, AAAA for IPv6, CNAME for a host name. */
export function targetType(target: string): RecordType {
  const family = isIP(target);
  if (family === 4) return 'A';
  if (family === 6) return 'AAAA';
  return 'CNAME';
}

/** A target in the form records are compared in: canonical IPv6, lower-case host name without trailing dot. */
export function normalizeTarget(target: string): string {
  const t = target.trim();
  const family = isIP(t);
  if (family === 6) return canonicalIPv6(t);
  if (family === 4) return t;
  const lower = t.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/** Sorted, de-duplicated copy of a target list. */
export function sortedTargets(targets: readonly string[]): string[] {
  return [...new Set(targets)].sort();
}

/** Equal target sets, order and case (for names) ignored. */
export function sameTargets(a: readonly string[], b: readonly string[]): boolean {
  const na = sortedTargets(a.map(normalizeTarget));
  const nb = sortedTargets(b.map(normalizeTarget));
  return na.length === nb.length && na.every((t, i) => t === nb[i]);
}

/** Equal provider-specific maps (a missing map equals an empty one). */
export function sameProviderSpecific(a?: Record<string, string>, b?: Record<string, string>): boolean {
  const ea = Object.entries(a ?? {});
  const eb = b ?? {};
  if (ea.length !== Object.keys(eb).length) return false;
  return ea.every(([k, v]) => eb[k] === v);
}

/** A deep-enough copy of a record, so planned changes never alias the caller's objects. */
export function cloneRecord(r: DnsRecord): DnsRecord {
  const c: DnsRecord = { name: r.name, type: r.type, ttl: r.ttl, targets: [...r.targets] };
  if (r.setIdentifier !== undefined) c.setIdentifier = r.setIdentifier;
  if (r.providerSpecific) c.providerSpecific = { ...r.providerSpecific };
  if (r.labels) c.labels = { ...r.labels };
  return c;
}

/** `www.example.com A [1.2.3.4, 5.6.7.8]` (+ ` set=eu` when set), for messages. */
export function describeRecord(r: Pick<DnsRecord, 'name' | 'type' | 'targets' | 'setIdentifier'>): string {
  const set = r.setIdentifier ? ` set-identifier=${r.setIdentifier}` : '';
  return `${r.name} ${r.type} [${r.targets.join(', ')}]${set}`;
}
