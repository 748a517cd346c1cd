/**
 * TLS facts for the admin views, computed from the store and the route table with the same
 * decisions the data plane makes (so the primary of a worker pool can answer them too).
 */
import type { Secret } from '../api/types.js';
import type { RouteTable } from '../controllers/routes/types.js';
import type { Store } from '../store/store.js';
import { secretCert, unusableReason } from './inspect.js';
import { planCertificates, type TlsProblem } from './plan.js';

/** Why a kubernetes.io/tls Secret cannot be served, or null. */
export function secretError(secret: Secret, now = Date.now()): string | null {
  if (secret.type !== 'kubernetes.io/tls') return null;
  return unusableReason(secret, secretCert(secret), now) ?? null;
}

export interface TlsHostView {
  host: string;
  secret: string | null;
  ingress: string;
  /** `secret`: served from the Secret; `default`: the default certificate. */
  certificate: 'secret' | 'default';
  names: string[];
  notAfter: string | null;
  problems: string[];
}

export function tlsView(table: RouteTable, store: Store, now = Date.now()): { hosts: TlsHostView[]; problems: TlsProblem[] } {
  const plan = planCertificates(table.tls, (ns, name) => store.getObject<Secret>('Secret', ns, name), now);
  const hosts: TlsHostView[] = [];
  for (const [host, hc] of plan.hosts) {
    hosts.push({
      host,
      secret: hc.binding.secret ?? null,
      ingress: `${hc.binding.ingress.namespace}/${hc.binding.ingress.name}`,
      certificate: hc.cert ? 'secret' : 'default',
      names: hc.cert?.names ?? [],
      notAfter: hc.cert ? new Date(hc.cert.notAfter).toISOString() : null,
      problems: plan.problems.filter((p) => p.host === host).map((p) => p.message),
    });
  }
  hosts.sort((a, b) => (a.host < b.host ? -1 : 1));
  return { hosts, problems: plan.problems };
}
