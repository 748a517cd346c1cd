/**
 * DNS records and the provider contract, in ExternalDNS's terms: a provider lists the
 * records of its zones and applies a change set. It decides nothing.
 */

export type RecordType = 'A' | 'AAAA' | 'CNAME' | 'TXT' | 'NS' | 'SOA' | 'MX' | 'SRV' | 'ALIAS';

/** One record set: a name, a type and its values. */
export interface DnsRecord {
  /** Fully qualified, lower case, without the trailing dot (`www.example.com`). */
  name: string;
  type: RecordType;
  /** Seconds; 0 means "provider default". */
  ttl: number;
  /** Values in presentation form: an address, a target host name (no trailing dot), or TXT text without quotes. */
  targets: string[];
  /** Route 53 routing policies: several record sets of one name and type, told apart by this. */
  setIdentifier?: string;
  /**
   * Provider-specific properties, e.g. `alias: "true"`, `aws/evaluate-target-health`,
   * `aws/weight`, `aws/failover`, `aws/region`, `aws/health-check-id`.
   */
  providerSpecific?: Record<string, string>;
  /** Filled by the registry: who owns this record (`ingress/ns/name`), if anyone. */
  labels?: Record<string, string>;
}

export interface ChangeSet {
  create: DnsRecord[];
  /** Pairs: updateOld[i] is replaced by updateNew[i]. */
  updateOld: DnsRecord[];
  updateNew: DnsRecord[];
  delete: DnsRecord[];
}

export function emptyChangeSet(): ChangeSet {
  return { create: [], updateOld: [], updateNew: [], delete: [] };
}

export function changeCount(c: ChangeSet): number {
  return c.create.length + c.updateNew.length + c.delete.length;
}

/** A provider error that names the records it concerns, so the controller can split the batch. */
export class DnsProviderError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  /** Seconds to wait before retrying, when the backend said so (throttling). */
  readonly retryAfter?: number;
  constructor(code: string, message: string, opts: { retryable?: boolean; retryAfter?: number; cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.name = 'DnsProviderError';
    this.code = code;
    this.retryable = opts.retryable ?? true;
    this.retryAfter = opts.retryAfter;
  }
}

export interface DnsProvider {
  readonly name: string;
  /** The zones this provider manages (fully qualified, lower case, no trailing dot). */
  zones(): Promise<string[]>;
  /** All record sets of one zone (including TXT ownership records), or of every zone. */
  records(zone?: string): Promise<DnsRecord[]>;
  /**
   * Apply a change set atomically per zone where the backend allows it (a record and its
   * ownership TXT travel in one batch). Throws DnsProviderError on failure.
   */
  applyChanges(changes: ChangeSet): Promise<void>;
  /**
   * Brings a desired record into the form this provider stores and lists (drop settings it does
   * not keep, default TTLs, alias flags), so an unchanged record never looks changed.
   */
  adjust?(r: DnsRecord): DnsRecord;
  /**
   * A cheap value per zone that changes when the zone's records change (a record-set count, an
   * SOA serial), asked right after zones(). The drift check lists only zones whose value moved.
   */
  zoneFingerprints?(): Promise<Map<string, string>>;
}

/** Normalize a DNS name: lower case, no trailing dot. */
export function fqdn(name: string): string {
  const n = name.trim().toLowerCase();
  return n.endsWith('.') ? n.slice(0, -1) : n;
}

/** The longest zone that contains `name`, or undefined. */
export function zoneFor(name: string, zones: readonly string[]): string | undefined {
  const n = fqdn(name);
  let best: string | undefined;
  for (const z of zones) {
    if ((n === z || n.endsWith('.' + z)) && (!best || z.length > best.length)) best = z;
  }
  return best;
}
