/**
 * The CA issuer: signs with the key pair in the Secret named by `spec.ca.secretName` (tls.crt,
 * tls.key), read from the Issuer's namespace or, for a ClusterIssuer, the cluster-resource namespace.
 */
import { X509Certificate } from 'node:crypto';
import type { AnyIssuer } from '../../../api/certmanager.js';
import { nsName } from '../../../api/meta.js';
import { keyMatchesCertificate, parsePrivateKey } from '../keys.js';
import { isSelfSigned, signCertificate, splitPemChain } from '../x509.js';
import { IssuerError, issuerSecretNamespace, secretValue, type CertIssuer, type IssueRequest, type IssueResult, type SecretGetter } from './types.js';

export class CaIssuer implements CertIssuer {
  readonly type = 'ca' as const;

  constructor(
    private readonly issuer: AnyIssuer,
    private readonly getSecret: SecretGetter,
    private readonly clusterResourceNamespace?: string,
  ) {
    if (!issuer.spec.ca) throw new Error(`${issuer.kind} ${nsName(issuer)} has no spec.ca`);
  }

  async issue(req: IssueRequest): Promise<IssueResult> {
    const { chain, key } = await this.loadCa();
    const leaf = await signCertificate({ spec: req.certificate.spec, csrPem: req.csrPem, signingKey: key, caCertPem: chain[0]!, now: req.now ?? new Date() });
    // tls.crt carries the leaf and any intermediates; a self-signed root goes to ca.crt only.
    const root = chain[chain.length - 1]!;
    const rootIsSelfSigned = isSelfSigned(root);
    const intermediates = rootIsSelfSigned ? chain.slice(0, -1) : chain;
    return { certPem: leaf + intermediates.join(''), caPem: rootIsSelfSigned ? root : chain[chain.length - 1] };
  }

  /** Throws an IssuerError saying what is wrong when the CA Secret cannot be used: what makes a CA Issuer not Ready. */
  async check(): Promise<void> {
    await this.loadCa();
  }

  private async loadCa() {
    const ns = issuerSecretNamespace(this.issuer, this.clusterResourceNamespace);
    const name = this.issuer.spec.ca!.secretName;
    const where = `${this.issuer.kind} ${nsName(this.issuer)}: spec.ca.secretName ${ns}/${name}`;
    const secret = await this.getSecret(ns, name);
    if (!secret) throw new IssuerError('SecretNotFound', `${where} does not exist; create it with the CA's tls.crt and tls.key`);
    const crt = secretValue(secret, 'tls.crt');
    const keyPem = secretValue(secret, 'tls.key');
    if (!crt || !keyPem) throw new IssuerError('SecretInvalid', `${where} lacks tls.crt or tls.key`, { retryable: false });
    const chain = splitPemChain(crt);
    if (!chain.length) throw new IssuerError('SecretInvalid', `${where}: tls.crt holds no PEM certificate`, { retryable: false });
    let key;
    try {
      key = parsePrivateKey(keyPem);
    } catch (err) {
      throw new IssuerError('SecretInvalid', `${where}: ${(err as Error).message}`, { retryable: false });
    }
    const ca = new X509Certificate(chain[0]!);
    if (!ca.ca) throw new IssuerError('SecretInvalid', `${where}: tls.crt is not a CA certificate (basicConstraints CA:FALSE)`, { retryable: false });
    if (!keyMatchesCertificate(key, ca)) throw new IssuerError('SecretInvalid', `${where}: tls.key does not match tls.crt`, { retryable: false });
    return { chain, key };
  }
}
