/**
 * Deciding which certificate serves each TLS host (pure): from the route table's TLS bindings
 * and the Secrets they name, the usable certificate per host and the problems to report. The
 * data plane's CertStore and the admin views both use it, so they never disagree.
 */
import type { Secret } from '../api/types.js';
import type { TlsBinding } from '../controllers/routes/types.js';
import { certCoversHost } from './match.js';
import { secretCert, unusableReason, type SecretCert } from './inspect.js';

export type UsableCert = Extract<SecretCert, { ok: true }>;

export interface HostCert {
  binding: TlsBinding;
  /** The Secret's object (its identity is the revision) when it can be served; undefined = the default certificate. */
  secret?: Secret;
  cert?: UsableCert;
}

export interface TlsProblem {
  /** `secret`: the Secret is missing or unusable (default certificate served); `not-covered`: served, but its names do not cover the host. */
  kind: 'secret' | 'not-covered';
  host: string;
  /** `namespace/name` of the Secret. */
  secret: string;
  ingress: string;
  message: string;
}

export interface CertPlan {
  hosts: Map<string, HostCert>;
  problems: TlsProblem[];
  /** Earliest notAfter among served certificates (ms), to re-plan when one expires; Infinity if none. */
  nextExpiry: number;
}

export type SecretLookup = (namespace: string, name: string) => Secret | undefined;

export function planCertificates(bindings: ReadonlyMap<string, TlsBinding> | undefined, getSecret: SecretLookup, now = Date.now()): CertPlan {
  const hosts = new Map<string, HostCert>();
  const problems: TlsProblem[] = [];
  let nextExpiry = Number.POSITIVE_INFINITY;
  for (const [host, binding] of bindings ?? []) {
    const ingress = `${binding.ingress.namespace}/${binding.ingress.name}`;
    if (binding.secret === undefined) {
      hosts.set(host, { binding });
      continue;
    }
    const slash = binding.secret.indexOf('/');
    const ns = binding.secret.slice(0, slash);
    const name = binding.secret.slice(slash + 1);
    const secret = getSecret(ns, name);
    if (secret === undefined) {
      problems.push({ kind: 'secret', host, secret: binding.secret, ingress, message: `Secret ${binding.secret} named in spec.tls of Ingress ${ingress} does not exist; serving the default certificate for ${host}` });
      hosts.set(host, { binding });
      continue;
    }
    const cert = secretCert(secret);
    const why = unusableReason(secret, cert, now);
    if (why !== undefined || !cert.ok) {
      problems.push({ kind: 'secret', host, secret: binding.secret, ingress, message: why ?? 'unusable' });
      hosts.set(host, { binding });
      continue;
    }
    if (cert.notAfter < nextExpiry) nextExpiry = cert.notAfter;
    hosts.set(host, { binding, secret, cert });
    if (!certCoversHost(cert.names, host)) {
      problems.push({
        kind: 'not-covered',
        host,
        secret: binding.secret,
        ingress,
        message: `the certificate in Secret ${binding.secret} covers ${cert.names.join(', ') || 'no DNS names'}, not ${host}; it is served because Ingress ${ingress} names it, but clients will reject it`,
      });
    }
  }
  return { hosts, problems, nextExpiry };
}
