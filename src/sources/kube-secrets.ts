/**
 * Which Secrets gangplank must read besides the kubernetes.io/tls ones, so that it never has to
 * list every Secret of a cluster: those it owns (a label it sets on everything it applies) and
 * those an Issuer or ClusterIssuer names (CA key pair, ACME account key, EAB key, TSIG secret,
 * Route 53 keys), each read by a watch on its one name.
 */
import type { AnyIssuer } from '../api/certmanager.js';
import { issuerSecretNamespace } from '../controllers/certs/issuers/types.js';

/** The label gangplank puts on every object it applies; its owned-Secrets watch selects it. */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'gangplank';

/** `namespace/name` of every Secret an issuer refers to. */
export function referencedSecrets(issuer: AnyIssuer, clusterResourceNamespace: string): string[] {
  const ns = issuerSecretNamespace(issuer, clusterResourceNamespace);
  const spec = issuer.spec;
  const names: (string | undefined)[] = [spec.ca?.secretName, spec.acme?.privateKeySecretRef.name, spec.acme?.externalAccountBinding?.keySecretRef.name];
  for (const s of spec.acme?.solvers ?? []) {
    names.push(s.dns01?.rfc2136?.tsigSecretSecretRef?.name, s.dns01?.route53?.accessKeyIDSecretRef?.name, s.dns01?.route53?.secretAccessKeySecretRef?.name);
  }
  return [...new Set(names.filter((n): n is string => !!n).map((n) => `${ns}/${n}`))].sort();
}
