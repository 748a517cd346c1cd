/**
 * The `embedded` DNS provider: gangplank's own authoritative server in the same process.
 * Listing and applying go straight to the server's zone snapshots; no network round trip.
 */
import type { ChangeSet, DnsProvider, DnsRecord } from '../types.js';
import { DnsProviderError } from '../types.js';
import type { DnsServer } from '../../../dnsserver/server.js';
import { toDnsRecord, toRRset } from '../../../dnsserver/records.js';

export class EmbeddedDnsProvider implements DnsProvider {
  readonly name = 'embedded';
  private readonly server: DnsServer;

  constructor(server: DnsServer) {
    this.server = server;
  }

  async zones(): Promise<string[]> {
    return this.server.zones();
  }

  async records(zone?: string): Promise<DnsRecord[]> {
    return this.server.records(zone);
  }

  /** The record as the server stores and lists it (default TTL, normalized values), so it compares equal. */
  adjust(r: DnsRecord): DnsRecord {
    try {
      const { name, rrset } = toRRset(r);
      const out = toDnsRecord(name, rrset);
      return r.labels ? { ...out, labels: r.labels } : out;
    } catch {
      return r; // applyChanges reports what is wrong with it
    }
  }

  async applyChanges(changes: ChangeSet): Promise<void> {
    try {
      this.server.apply(changes);
    } catch (err) {
      if (err instanceof DnsProviderError) throw err;
      throw new DnsProviderError('EmbeddedApplyFailed', `embedded DNS server could not apply the change set: ${(err as Error).message}`, { cause: err });
    }
  }
}
