/** The contract every issuer (selfSigned, ca, acme) fulfils for the certificate controller. */
import type { KeyObject } from 'node:crypto';
import type { AnyIssuer, Certificate } from '../../../api/certmanager.js';
import type { Secret } from '../../../api/types.js';

export interface IssueRequest {
  certificate: Certificate;
  /** The certificate's (new or kept) private key. */
  privateKey: KeyObject;
  /** PEM CSR built from the certificate's spec with `privateKey`. */
  csrPem: string;
  now?: Date;
  /** ACME: the ARI certificate id of the certificate this order renews (RFC 9773 `replaces`). */
  replaces?: string;
}

export interface IssueResult {
  /** Leaf first, then intermediates (no self-signed root). */
  certPem: string;
  /** The CA certificate that anchors the chain, when the issuer knows it (ca.crt). */
  caPem?: string;
}

export interface CertIssuer {
  readonly type: 'selfSigned' | 'ca' | 'acme';
  issue(req: IssueRequest): Promise<IssueResult>;
}

/** Reads a Secret from the store; undefined when it does not exist. */
export type SecretGetter = (namespace: string, name: string) => Promise<Secret | undefined> | Secret | undefined;

/** Where ClusterIssuers find their Secrets unless told otherwise (cert-manager's --cluster-resource-namespace). */
export const DEFAULT_CLUSTER_RESOURCE_NAMESPACE = 'gangplank';

/** The namespace an issuer reads its Secrets from: its own for an Issuer, the cluster-resource namespace for a ClusterIssuer. */
export function issuerSecretNamespace(issuer: AnyIssuer, clusterResourceNamespace = DEFAULT_CLUSTER_RESOURCE_NAMESPACE): string {
  return issuer.kind === 'ClusterIssuer' ? clusterResourceNamespace : (issuer.metadata.namespace ?? 'default');
}

/** An issuance failure with a reason for the Certificate's conditions and whether retrying can help. */
export class IssuerError extends Error {
  readonly reason: string;
  readonly retryable: boolean;
  /** Seconds the server asked us to wait (rate limits). */
  readonly retryAfter?: number;
  constructor(reason: string, message: string, opts: { retryable?: boolean; retryAfter?: number; cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.name = 'IssuerError';
    this.reason = reason;
    this.retryable = opts.retryable ?? true;
    this.retryAfter = opts.retryAfter;
  }
}

/** Decodes one base64 key of a Secret's data, or undefined. */
export function secretValue(secret: Secret | undefined, key: string): string | undefined {
  const v = secret?.data?.[key];
  return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
}
