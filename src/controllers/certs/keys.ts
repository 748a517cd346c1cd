/**
 * Private keys for certificates: generate, encode the way cert-manager writes them, parse back,
 * and check that a key belongs to a certificate.
 */
import { createPrivateKey, createPublicKey, generateKeyPair, X509Certificate, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import type { CertificatePrivateKey, PrivateKeyAlgorithm, PrivateKeyEncoding } from '../../api/certmanager.js';

const generate = promisify(generateKeyPair);

export class KeyError extends Error {
  readonly code = 'CERT_KEY_INVALID';
  constructor(message: string, opts?: { cause?: unknown }) {
    super(message, opts);
    this.name = 'KeyError';
  }
}

const CURVES: Record<number, string> = { 256: 'P-256', 384: 'P-384', 521: 'P-521' };

/** Generates a private key as `spec.privateKey` describes (sizes already defaulted by validation). */
export async function generatePrivateKey(spec: Pick<CertificatePrivateKey, 'algorithm' | 'size'>): Promise<KeyObject> {
  switch (spec.algorithm) {
    case 'RSA': {
      const { privateKey } = await generate('rsa', { modulusLength: spec.size ?? 2048, publicExponent: 0x10001 });
      return privateKey;
    }
    case 'ECDSA': {
      const namedCurve = CURVES[spec.size ?? 256];
      if (!namedCurve) throw new KeyError(`ECDSA key size ${spec.size} is not supported: use 256, 384 or 521`);
      const { privateKey } = await generate('ec', { namedCurve });
      return privateKey;
    }
    case 'Ed25519': {
      const { privateKey } = await generate('ed25519');
      return privateKey;
    }
  }
}

/**
 * PEM-encodes a private key. PKCS1 means "the algorithm's own format", as in cert-manager: RSA
 * PRIVATE KEY for RSA, SEC1 EC PRIVATE KEY for ECDSA; Ed25519 has none and is always PKCS#8.
 */
export function encodePrivateKey(key: KeyObject, encoding: PrivateKeyEncoding): string {
  if (encoding === 'PKCS8' || key.asymmetricKeyType === 'ed25519') return key.export({ type: 'pkcs8', format: 'pem' }).toString();
  if (key.asymmetricKeyType === 'rsa') return key.export({ type: 'pkcs1', format: 'pem' }).toString();
  if (key.asymmetricKeyType === 'ec') return key.export({ type: 'sec1', format: 'pem' }).toString();
  throw new KeyError(`cannot encode a ${key.asymmetricKeyType} key as ${encoding}`);
}

/** Parses a PEM private key of any supported kind (PKCS#1, SEC1, PKCS#8). */
export function parsePrivateKey(pem: string | Buffer): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new KeyError(`tls.key is not a readable PEM private key (${(err as Error).message})`, { cause: err });
  }
  if (!['rsa', 'ec', 'ed25519'].includes(key.asymmetricKeyType ?? '')) throw new KeyError(`unsupported private key type ${key.asymmetricKeyType}: use RSA, ECDSA or Ed25519`);
  return key;
}

/** The PEM label of a private key: "RSA PRIVATE KEY", "EC PRIVATE KEY" or "PRIVATE KEY". */
export function pemLabel(pem: string): string | undefined {
  return /-----BEGIN ([A-Z ]+)-----/.exec(pem)?.[1];
}

/** The encoding a PEM key was written in, in cert-manager's terms. */
export function keyEncodingOf(pem: string): PrivateKeyEncoding | undefined {
  const label = pemLabel(pem);
  if (label === 'RSA PRIVATE KEY' || label === 'EC PRIVATE KEY') return 'PKCS1';
  if (label === 'PRIVATE KEY') return 'PKCS8';
  return undefined;
}

/** Algorithm and size of a key, in cert-manager's terms (size undefined for Ed25519). */
export function describeKey(key: KeyObject): { algorithm: PrivateKeyAlgorithm; size?: number } {
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') return { algorithm: 'RSA', size: d.modulusLength };
  if (key.asymmetricKeyType === 'ec') {
    const size = d.namedCurve === 'prime256v1' || d.namedCurve === 'P-256' ? 256 : d.namedCurve === 'secp384r1' || d.namedCurve === 'P-384' ? 384 : d.namedCurve === 'secp521r1' || d.namedCurve === 'P-521' ? 521 : undefined;
    return { algorithm: 'ECDSA', size };
  }
  if (key.asymmetricKeyType === 'ed25519') return { algorithm: 'Ed25519' };
  throw new KeyError(`unsupported private key type ${key.asymmetricKeyType}`);
}

/** True when the key's algorithm and size are what the spec asks for. */
export function keyMatchesSpec(key: KeyObject, spec: Pick<CertificatePrivateKey, 'algorithm' | 'size'>): boolean {
  const d = describeKey(key);
  if (d.algorithm !== spec.algorithm) return false;
  return spec.algorithm === 'Ed25519' || d.size === spec.size;
}

/** True when `key` is the private half of the certificate's public key. */
export function keyMatchesCertificate(key: KeyObject, certPem: string | X509Certificate): boolean {
  const cert = typeof certPem === 'string' ? new X509Certificate(certPem) : certPem;
  const a = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const b = cert.publicKey.export({ type: 'spki', format: 'der' });
  return a.equals(b);
}
