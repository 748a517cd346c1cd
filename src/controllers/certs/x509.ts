/**
 * X.509 building blocks over @peculiar/x509: the CSR for a Certificate, and local signing of a
 * certificate from a CSR (used by the selfSigned and CA issuers).
 */
import { createPublicKey, randomBytes, webcrypto, X509Certificate as NodeX509, type KeyObject } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { CertificateSpec, KeyUsage, X509Subject } from '../../api/certmanager.js';

// @peculiar/x509 looks for WebCrypto on `self`; give it Node's explicitly.
type WebCrypto = Parameters<typeof x509.cryptoProvider.set>[0];
type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
const wc = webcrypto as unknown as WebCrypto;
x509.cryptoProvider.set(wc);

/** The WebCrypto signing algorithm cert-manager uses for a key (SHA-256/384/512 by curve, PKCS#1 v1.5 for RSA). */
export function signingAlgorithm(key: KeyObject): { name: string; hash?: string; namedCurve?: string } {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    case 'ec': {
      const c = key.asymmetricKeyDetails?.namedCurve;
      if (c === 'secp384r1') return { name: 'ECDSA', namedCurve: 'P-384', hash: 'SHA-384' };
      if (c === 'secp521r1') return { name: 'ECDSA', namedCurve: 'P-521', hash: 'SHA-512' };
      return { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    }
    case 'ed25519':
      return { name: 'Ed25519' };
    default:
      throw new Error(`unsupported key type ${key.asymmetricKeyType}`);
  }
}

/** Imports a Node private key into WebCrypto as a signing key pair. */
export async function toCryptoKeyPair(key: KeyObject): Promise<CryptoKeyPair> {
  const alg = signingAlgorithm(key);
  const pkcs8 = key.export({ type: 'pkcs8', format: 'der' });
  const privateKey = await webcrypto.subtle.importKey('pkcs8', pkcs8, alg, true, ['sign']);
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const publicKey = await webcrypto.subtle.importKey('spki', spki, alg, true, ['verify']);
  return { privateKey, publicKey };
}

/** The subject DN of a Certificate as @peculiar/x509 JSON (CN last, as Go's pkix.Name orders it). */
export function subjectName(spec: Pick<CertificateSpec, 'commonName' | 'subject'>): x509.JsonName {
  const s: X509Subject = spec.subject ?? {};
  const out: x509.JsonName = [];
  const add = (key: string, values: string[] | undefined) => {
    if (values?.length) out.push({ [key]: values });
  };
  add('C', s.countries);
  add('O', s.organizations);
  add('OU', s.organizationalUnits);
  add('L', s.localities);
  add('ST', s.provinces);
  add('2.5.4.9', s.streetAddresses);
  add('2.5.4.17', s.postalCodes);
  if (s.serialNumber) add('2.5.4.5', [s.serialNumber]);
  if (spec.commonName) add('CN', [spec.commonName]);
  return out;
}

export function subjectAltNames(spec: Pick<CertificateSpec, 'dnsNames' | 'ipAddresses' | 'uris' | 'emailAddresses'>): x509.JsonGeneralNames {
  return [
    ...spec.dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...spec.ipAddresses.map((value) => ({ type: 'ip' as const, value })),
    ...spec.uris.map((value) => ({ type: 'url' as const, value })),
    ...spec.emailAddresses.map((value) => ({ type: 'email' as const, value })),
  ];
}

const KU: Partial<Record<KeyUsage, x509.KeyUsageFlags>> = {
  signing: x509.KeyUsageFlags.digitalSignature,
  'digital signature': x509.KeyUsageFlags.digitalSignature,
  'content commitment': x509.KeyUsageFlags.nonRepudiation,
  'key encipherment': x509.KeyUsageFlags.keyEncipherment,
  'key agreement': x509.KeyUsageFlags.keyAgreement,
  'data encipherment': x509.KeyUsageFlags.dataEncipherment,
  'cert sign': x509.KeyUsageFlags.keyCertSign,
  'crl sign': x509.KeyUsageFlags.cRLSign,
  'encipher only': x509.KeyUsageFlags.encipherOnly,
  'decipher only': x509.KeyUsageFlags.decipherOnly,
};
const EKU: Partial<Record<KeyUsage, string>> = {
  any: '2.5.29.37.0',
  'server auth': '1.3.6.1.5.5.7.3.1',
  'client auth': '1.3.6.1.5.5.7.3.2',
  'code signing': '1.3.6.1.5.5.7.3.3',
  'email protection': '1.3.6.1.5.5.7.3.4',
  's/mime': '1.3.6.1.5.5.7.3.4',
  'ipsec end system': '1.3.6.1.5.5.7.3.5',
  'ipsec tunnel': '1.3.6.1.5.5.7.3.6',
  'ipsec user': '1.3.6.1.5.5.7.3.7',
  timestamping: '1.3.6.1.5.5.7.3.8',
  'ocsp signing': '1.3.6.1.5.5.7.3.9',
  'microsoft sgc': '1.3.6.1.4.1.311.10.3.3',
  'netscape sgc': '2.16.840.1.113730.4.1',
};

/**
 * Key usage flags and extended key usage OIDs for a Certificate. Without `usages`, cert-manager
 * uses "digital signature" and "key encipherment"; a CA always gets "cert sign". Key
 * encipherment is dropped for non-RSA keys, where it has no meaning.
 */
export function keyUsages(spec: Pick<CertificateSpec, 'usages' | 'isCA'>, keyType?: string): { flags: number; extended: string[] } {
  const usages: KeyUsage[] = spec.usages.length ? spec.usages : ['digital signature', 'key encipherment'];
  let flags = 0;
  const extended: string[] = [];
  for (const u of usages) {
    if (KU[u] !== undefined) flags |= KU[u]!;
    const e = EKU[u];
    if (e && !extended.includes(e)) extended.push(e);
  }
  if (spec.isCA) flags |= x509.KeyUsageFlags.keyCertSign;
  if (keyType && keyType !== 'rsa') flags &= ~x509.KeyUsageFlags.keyEncipherment;
  return { flags, extended };
}

function extensionsFor(spec: CertificateSpec, keyType: string | undefined): x509.Extension[] {
  const ext: x509.Extension[] = [];
  const sans = subjectAltNames(spec);
  // A SAN extension must be critical when the subject is empty (RFC 5280 4.2.1.6).
  if (sans.length) ext.push(new x509.SubjectAlternativeNameExtension(sans, subjectName(spec).length === 0));
  const { flags, extended } = keyUsages(spec, keyType);
  if (flags) ext.push(new x509.KeyUsagesExtension(flags, true));
  if (extended.length) ext.push(new x509.ExtendedKeyUsageExtension(extended, false));
  ext.push(new x509.BasicConstraintsExtension(spec.isCA, undefined, true));
  return ext;
}

/** A PEM CSR for the Certificate, signed by its private key. */
export async function buildCsr(spec: CertificateSpec, key: KeyObject): Promise<string> {
  const keys = await toCryptoKeyPair(key);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create(
    { name: subjectName(spec), keys, signingAlgorithm: signingAlgorithm(key), extensions: extensionsFor(spec, key.asymmetricKeyType) },
    wc,
  );
  return csr.toString('pem');
}

/** Reads and verifies a CSR: throws when its signature does not check out. */
export async function readCsr(pem: string): Promise<x509.Pkcs10CertificateRequest> {
  const csr = new x509.Pkcs10CertificateRequest(pem);
  if (!(await csr.verify(wc))) throw new Error('the CSR signature does not verify: the CSR was not signed by its own key');
  return csr;
}

export function randomSerial(): string {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f; // positive INTEGER, at most 20 octets (RFC 5280 4.1.2.2)
  if (b[0] === 0) b[0] = 1;
  return b.toString('hex');
}

export interface SignParams {
  spec: CertificateSpec;
  /** The CSR carries the public key to certify. */
  csrPem: string;
  /** Signer: the CA's key (CA issuer) or the certificate's own key (selfSigned). */
  signingKey: KeyObject;
  /** The CA certificate; absent for self-signed. */
  caCertPem?: string;
  now: Date;
}

/**
 * Signs a certificate locally from the CSR's public key and the Certificate's spec (names,
 * usages, isCA, duration), as cert-manager's selfSigned and CA issuers do. Returns one PEM cert.
 */
export async function signCertificate(p: SignParams): Promise<string> {
  const csr = await readCsr(p.csrPem);
  const publicKey = await csr.publicKey.export(wc);
  const signing = await toCryptoKeyPair(p.signingKey);
  const notBefore = new Date(Math.floor(p.now.getTime() / 1000) * 1000);
  const notAfter = new Date(notBefore.getTime() + p.spec.duration);
  const ca = p.caCertPem ? new x509.X509Certificate(p.caCertPem) : undefined;
  const subject = subjectName(p.spec);
  const extensions = extensionsFor(p.spec, publicKeyType(publicKey));
  extensions.push(await x509.SubjectKeyIdentifierExtension.create(publicKey, false, wc));
  if (ca) {
    const ski = ca.getExtension(x509.SubjectKeyIdentifierExtension);
    extensions.push(ski ? new x509.AuthorityKeyIdentifierExtension(ski.keyId) : await x509.AuthorityKeyIdentifierExtension.create(ca, false, wc));
  }
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: randomSerial(),
      subject,
      issuer: ca ? ca.subjectName : subject,
      notBefore,
      notAfter,
      publicKey,
      signingKey: signing.privateKey,
      signingAlgorithm: signingAlgorithm(p.signingKey),
      extensions,
    },
    wc,
  );
  return cert.toString('pem') + '\n';
}

function publicKeyType(k: CryptoKey): string {
  const n = k.algorithm.name;
  return n === 'RSASSA-PKCS1-v1_5' || n === 'RSA-PSS' ? 'rsa' : n === 'ECDSA' ? 'ec' : n.toLowerCase();
}

/** Splits a PEM bundle into its certificates (each ending in a newline). */
export function splitPemChain(pem: string): string[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((c) => c + '\n');
}

export function isSelfSigned(certPem: string): boolean {
  const c = new NodeX509(certPem);
  return c.subject === c.issuer && c.verify(c.publicKey);
}
