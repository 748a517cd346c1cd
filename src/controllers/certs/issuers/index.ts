/** Builds the issuer for an Issuer/ClusterIssuer spec. */
import type { AnyIssuer } from '../../../api/certmanager.js';
import { nsName } from '../../../api/meta.js';
import { AcmeIssuer, type AcmeIssuerOptions } from './acme.js';
import { CaIssuer } from './ca.js';
import { SelfSignedIssuer } from './selfsigned.js';
import type { CertIssuer, SecretGetter } from './types.js';

export interface IssuerDeps extends Omit<AcmeIssuerOptions, 'issuer' | 'getSecret'> {
  getSecret: SecretGetter;
  clusterResourceNamespace?: string;
}

export function createIssuer(issuer: AnyIssuer, deps: IssuerDeps): CertIssuer {
  if (issuer.spec.selfSigned) return new SelfSignedIssuer();
  if (issuer.spec.ca) return new CaIssuer(issuer, deps.getSecret, deps.clusterResourceNamespace);
  if (issuer.spec.acme) return new AcmeIssuer({ ...deps, issuer });
  throw new Error(`${issuer.kind} ${nsName(issuer)}: no supported issuer type in spec (selfSigned, ca or acme)`);
}

export { AcmeIssuer, CaIssuer, SelfSignedIssuer };
export * from './types.js';
