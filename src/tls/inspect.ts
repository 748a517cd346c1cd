/**
 * Reads a kubernetes.io/tls Secret for serving: the PEM pair, the names the certificate covers and
 * its validity, or a precise reason why it cannot be served. Results are cached per Secret object
 * (the store replaces the object on every change), so a revision is parsed once.
 */
import type { Secret } from '../api/types.js';
import { readTlsSecret } from '../controllers/certs/secret.js';

export type SecretCert =
  | {
      ok: true;
      certPem: string;
      keyPem: string;
      /** DNS names of the leaf (subjectAltName, else the CN), lower case. */
      names: string[];
      notBefore: number;
      notAfter: number;
      fingerprint: string;
    }
  | { ok: false; error: string };

const cache = new WeakMap<Secret, SecretCert>();

/** The certificate of a Secret, parsed once per Secret revision. Validity dates are not checked here (see usableAt). */
export function secretCert(secret: Secret): SecretCert {
  let c = cache.get(secret);
  if (c === undefined) {
    c = parse(secret);
    cache.set(secret, c);
  }
  return c;
}

/** undefined when the certificate may be served at `now`, else why not. */
export function unusableReason(secret: Secret, c: SecretCert, now = Date.now()): string | undefined {
  if (!c.ok) return c.error;
  const where = `Secret ${secret.metadata.namespace}/${secret.metadata.name}`;
  if (now > c.notAfter) return `${where}: the certificate in tls.crt expired on ${new Date(c.notAfter).toISOString()}; renew it`;
  if (now < c.notBefore) return `${where}: the certificate in tls.crt is not valid before ${new Date(c.notBefore).toISOString()}`;
  return undefined;
}

function parse(secret: Secret): SecretCert {
  const where = `Secret ${secret.metadata.namespace}/${secret.metadata.name}`;
  if (secret.type !== undefined && secret.type !== 'kubernetes.io/tls' && secret.type !== 'Opaque') {
    return { ok: false, error: `${where} has type ${secret.type}; a certificate Secret must be of type kubernetes.io/tls` };
  }
  const r = readTlsSecret(secret);
  if (!r.ok) {
    // readTlsSecret speaks of issuing (cert-manager's wording); say what it means for serving.
    const why = r.message.replace(/^Issuing certificate as /, '');
    return { ok: false, error: `${why.startsWith('Secret') ? why : `${where}: ${why}`}; serving the default certificate instead` };
  }
  const leaf = r.leaf;
  return {
    ok: true,
    certPem: r.certPem,
    keyPem: r.keyPem,
    names: dnsNames(leaf.subjectAltName, leaf.subject),
    notBefore: Date.parse(leaf.validFrom),
    notAfter: Date.parse(leaf.validTo),
    fingerprint: leaf.fingerprint256,
  };
}

/** DNS names from node's subjectAltName string (`DNS:a, DNS:b, IP Address:...`); the CN only when there is no SAN. */
export function dnsNames(san: string | undefined, subject: string): string[] {
  const out: string[] = [];
  if (san) {
    for (const part of san.split(', ')) if (part.startsWith('DNS:')) out.push(part.slice(4).toLowerCase());
    return out;
  }
  for (const line of subject.split('\n')) if (line.startsWith('CN=')) out.push(line.slice(3).toLowerCase());
  return out;
}
