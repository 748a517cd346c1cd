/** The selfSigned issuer: the certificate is signed by its own private key; ca.crt is the certificate itself. */
import { signCertificate } from '../x509.js';
import type { CertIssuer, IssueRequest, IssueResult } from './types.js';

export class SelfSignedIssuer implements CertIssuer {
  readonly type = 'selfSigned' as const;

  async issue(req: IssueRequest): Promise<IssueResult> {
    const certPem = await signCertificate({ spec: req.certificate.spec, csrPem: req.csrPem, signingKey: req.privateKey, now: req.now ?? new Date() });
    return { certPem, caPem: certPem };
  }
}
