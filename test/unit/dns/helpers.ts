// Builders for DNS unit tests and a pure "apply" that stands in for a provider's batch.
import type { Ingress, Service } from '../../../src/api/types.js';
import type { ChangeSet, DnsRecord, RecordType } from '../../../src/controllers/dns/types.js';
import { recordKey } from '../../../src/controllers/dns/records.js';

export function ingress(p: {
  name?: string;
  namespace?: string;
  created?: string;
  annotations?: Record<string, string>;
  hosts?: string[];
  tlsHosts?: string[];
  lb?: { ip?: string; hostname?: string }[];
}): Ingress {
  const ing: Ingress = {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name: p.name ?? 'web', namespace: p.namespace ?? 'default' },
    spec: { rules: (p.hosts ?? []).map((host) => ({ host })) },
  };
  if (p.created) ing.metadata.creationTimestamp = p.created;
  if (p.annotations) ing.metadata.annotations = p.annotations;
  if (p.tlsHosts) ing.spec.tls = [{ hosts: p.tlsHosts, secretName: 'tls' }];
  if (p.lb) ing.status = { loadBalancer: { ingress: p.lb } };
  return ing;
}

export function service(p: {
  name?: string;
  namespace?: string;
  type?: Service['spec']['type'];
  annotations?: Record<string, string>;
  lb?: { ip?: string; hostname?: string }[];
}): Service {
  const svc: Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: p.name ?? 'api', namespace: p.namespace ?? 'default' },
    spec: { type: p.type ?? 'LoadBalancer', ports: [{ port: 80 }] },
  };
  if (p.annotations) svc.metadata.annotations = p.annotations;
  if (p.lb) svc.status = { loadBalancer: { ingress: p.lb } };
  return svc;
}

export function rec(name: string, type: RecordType, targets: string[], extra: Partial<DnsRecord> = {}): DnsRecord {
  return { name, type, ttl: 300, targets, ...extra };
}

/** What a provider does with a batch: deletes, then updates, then creates; refuses impossible changes. */
export function applyChangeSet(records: readonly DnsRecord[], c: ChangeSet): DnsRecord[] {
  const byKey = new Map(records.map((r) => [recordKey(r), r] as const));
  for (const d of c.delete) {
    if (!byKey.delete(recordKey(d))) throw new Error(`delete of missing ${recordKey(d)}`);
  }
  c.updateOld.forEach((o, i) => {
    const n = c.updateNew[i]!;
    if (!byKey.has(recordKey(o))) throw new Error(`update of missing ${recordKey(o)}`);
    byKey.delete(recordKey(o));
    byKey.set(recordKey(n), strip(n));
  });
  for (const n of c.create) {
    if (byKey.has(recordKey(n))) throw new Error(`create of existing ${recordKey(n)}`);
    byKey.set(recordKey(n), strip(n));
  }
  return [...byKey.values()];
}

/** A provider stores no labels and gives the TTL it applied (300 when asked for the default). */
function strip(r: DnsRecord): DnsRecord {
  const out: DnsRecord = { name: r.name, type: r.type, ttl: r.ttl === 0 ? 300 : r.ttl, targets: [...r.targets] };
  if (r.setIdentifier !== undefined) out.setIdentifier = r.setIdentifier;
  if (r.providerSpecific) out.providerSpecific = { ...r.providerSpecific };
  return out;
}

export function names(rs: readonly DnsRecord[]): string[] {
  return rs.map((r) => `${r.type} ${r.name}${r.setIdentifier ? `@${r.setIdentifier}` : ''}`).sort();
}
