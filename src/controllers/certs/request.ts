/**
 * What an issuance starts from: the private key (kept or new, per rotationPolicy) and the CSR.
 */
import type { KeyObject } from 'node:crypto';
import type { Certificate } from '../../api/certmanager.js';
import type { Secret } from '../../api/types.js';
import { encodePrivateKey, generatePrivateKey, keyMatchesSpec, parsePrivateKey } from './keys.js';
import { buildCsr } from './x509.js';
import type { IssueRequest } from './issuers/types.js';

/**
 * The key to issue with. rotationPolicy Never keeps the Secret's key while it still fits the
 * spec's algorithm and size (cert-manager's rule); Always (the default) makes a new one.
 */
export async function privateKeyFor(certificate: Certificate, secret: Secret | undefined): Promise<{ key: KeyObject; reused: boolean }> {
  const spec = certificate.spec.privateKey;
  if (spec.rotationPolicy === 'Never') {
    const pem = secret?.data?.['tls.key'];
    if (pem) {
      try {
        const key = parsePrivateKey(Buffer.from(pem, 'base64').toString('utf8'));
        if (keyMatchesSpec(key, spec)) return { key, reused: true };
      } catch {
        // An unreadable key cannot be kept: fall through to a new one.
      }
    }
  }
  return { key: await generatePrivateKey(spec), reused: false };
}

/** The IssueRequest for a Certificate, plus the PEM of its key as the Secret will hold it. */
export async function prepareRequest(certificate: Certificate, secret: Secret | undefined, now = new Date()): Promise<IssueRequest & { keyPem: string; reusedKey: boolean }> {
  const { key, reused } = await privateKeyFor(certificate, secret);
  return {
    certificate,
    privateKey: key,
    csrPem: await buildCsr(certificate.spec, key),
    now,
    keyPem: encodePrivateKey(key, certificate.spec.privateKey.encoding),
    reusedKey: reused,
  };
}
