/**
 * The kubernetes.io/tls Secret of a Certificate, laid out as cert-manager writes it (tls.crt,
 * tls.key, ca.crt and the cert-manager.io/* annotations), and read back for the lifecycle.
 */
import { X509Certificate as NodeX509, type KeyObject } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { Certificate } from '../../api/certmanager.js';
import type { Secret } from '../../api/types.js';
import { keyMatchesCertificate, parsePrivateKey } from './keys.js';
import { splitPemChain } from './x509.js';

/** The subject annotations cert-manager writes on Secrets and reads on Ingresses (ingress-shim). */
export const SUBJECT_ANN = {
  subjectOrganizations: 'cert-manager.io/subject-organizations',
  subjectOrganizationalUnits: 'cert-manager.io/subject-organizationalunits',
  subjectCountries: 'cert-manager.io/subject-countries',
  subjectProvinces: 'cert-manager.io/subject-provinces',
  subjectLocalities: 'cert-manager.io/subject-localities',
  subjectPostalCodes: 'cert-manager.io/subject-postalcodes',
  subjectStreetAddresses: 'cert-manager.io/subject-streetaddresses',
  subjectSerialNumber: 'cert-manager.io/subject-serialnumber',
} as const;

export const ANN = {
  certificateName: 'cert-manager.io/certificate-name',
  issuerName: 'cert-manager.io/issuer-name',
  issuerKind: 'cert-manager.io/issuer-kind',
  issuerGroup: 'cert-manager.io/issuer-group',
  commonName: 'cert-manager.io/common-name',
  altNames: 'cert-manager.io/alt-names',
  ipSans: 'cert-manager.io/ip-sans',
  uriSans: 'cert-manager.io/uri-sans',
  emailSans: 'cert-manager.io/email-sans',
  ...SUBJECT_ANN,
} as const;

/** cert-manager marks the Secrets it manages with this label so its informers can filter them. */
export const SECRET_LABEL = 'controller.cert-manager.io/fao';

export const TLS_SECRET_TYPE = 'kubernetes.io/tls';

/** The names an issued certificate actually carries (from the X.509, not the spec). */
export interface CertNames {
  commonName: string;
  dnsNames: string[];
  ipAddresses: string[];
  uris: string[];
  emailAddresses: string[];
  organizations: string[];
  organizationalUnits: string[];
  countries: string[];
  provinces: string[];
  localities: string[];
  postalCodes: string[];
  streetAddresses: string[];
  serialNumber: string;
}

/** Canonical text for an IP address (IPv6 compressed, lower case), as Go prints net.IP. */
export function canonicalIp(ip: string): string {
  if (!ip.includes(':')) return ip;
  try {
    return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  } catch {
    return ip.toLowerCase();
  }
}

export function certNames(certPem: string): CertNames {
  const cert = new x509.X509Certificate(certPem);
  const subj = cert.subjectName;
  const attr = (oid: string) => subj.getField(oid);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const names = san ? san.names.toJSON() : [];
  const of = (t: string) => names.filter((n) => n.type === t).map((n) => n.value);
  return {
    commonName: attr('CN')[0] ?? '',
    dnsNames: of('dns'),
    ipAddresses: of('ip').map(canonicalIp),
    uris: of('url'),
    emailAddresses: of('email'),
    organizations: attr('O'),
    organizationalUnits: attr('OU'),
    countries: attr('C'),
    provinces: attr('ST'),
    localities: attr('L'),
    postalCodes: attr('2.5.4.17'),
    streetAddresses: attr('2.5.4.9'),
    serialNumber: attr('2.5.4.5')[0] ?? '',
  };
}

/** Joins values with commas, quoting any that contain a comma or a quote (CSV, as cert-manager does for subject fields). */
export function joinCsv(values: readonly string[]): string {
  return values.map((v) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v)).join(',');
}

/** The cert-manager.io/* annotations for a Secret holding `certPem`, issued for `certificate`. */
export function secretAnnotations(certificate: Certificate, certPem: string): Record<string, string> {
  const n = certNames(certPem);
  const ref = certificate.spec.issuerRef;
  const a: Record<string, string> = {
    [ANN.certificateName]: certificate.metadata.name,
    [ANN.issuerName]: ref.name,
    [ANN.issuerKind]: ref.kind,
    [ANN.issuerGroup]: ref.group,
    [ANN.commonName]: n.commonName,
    [ANN.altNames]: n.dnsNames.join(','),
    [ANN.ipSans]: n.ipAddresses.join(','),
    [ANN.uriSans]: n.uris.join(','),
    [ANN.emailSans]: n.emailAddresses.join(','),
  };
  const subject: [string, string[]][] = [
    [ANN.subjectOrganizations, n.organizations],
    [ANN.subjectOrganizationalUnits, n.organizationalUnits],
    [ANN.subjectCountries, n.countries],
    [ANN.subjectProvinces, n.provinces],
    [ANN.subjectLocalities, n.localities],
    [ANN.subjectPostalCodes, n.postalCodes],
    [ANN.subjectStreetAddresses, n.streetAddresses],
  ];
  for (const [k, v] of subject) if (v.length) a[k] = joinCsv(v);
  if (n.serialNumber) a[ANN.subjectSerialNumber] = n.serialNumber;
  return a;
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

/**
 * The Secret for an issued certificate. secretTemplate labels and annotations are applied first,
 * so cert-manager's own annotations always win; `existing` keeps unrelated labels, annotations
 * and data keys a user put on the Secret.
 */
export function buildTlsSecret(p: { certificate: Certificate; certPem: string; keyPem: string; caPem?: string; existing?: Secret }): Secret {
  const { certificate } = p;
  const tpl = certificate.spec.secretTemplate ?? {};
  const prev = p.existing;
  const data: Record<string, string> = { ...(prev?.data ?? {}), 'tls.crt': b64(p.certPem), 'tls.key': b64(p.keyPem) };
  if (p.caPem) data['ca.crt'] = b64(p.caPem);
  else delete data['ca.crt'];
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: certificate.spec.secretName,
      namespace: certificate.metadata.namespace,
      labels: { ...(prev?.metadata.labels ?? {}), ...(tpl.labels ?? {}), [SECRET_LABEL]: 'true' },
      annotations: { ...(prev?.metadata.annotations ?? {}), ...(tpl.annotations ?? {}), ...secretAnnotations(certificate, p.certPem) },
    },
    type: TLS_SECRET_TYPE,
    data,
  };
}

export type TlsSecretRead =
  | { ok: true; certPem: string; chain: string[]; leaf: NodeX509; keyPem: string; key: KeyObject; caPem?: string }
  | { ok: false; reason: 'DoesNotExist' | 'MissingData' | 'InvalidCertificate' | 'InvalidKeyPair'; message: string };

/** Reads a TLS Secret back, saying precisely what is wrong with it when it cannot be used. */
export function readTlsSecret(secret: Secret | undefined): TlsSecretRead {
  if (!secret) return { ok: false, reason: 'DoesNotExist', message: 'Issuing certificate as Secret does not exist' };
  const where = `Secret ${secret.metadata.namespace}/${secret.metadata.name}`;
  const get = (k: string) => (secret.data?.[k] !== undefined ? Buffer.from(secret.data[k]!, 'base64').toString('utf8') : undefined);
  const certPem = get('tls.crt');
  const keyPem = get('tls.key');
  if (!certPem || !keyPem) return { ok: false, reason: 'MissingData', message: `Issuing certificate as ${where} does not contain ${!certPem ? 'tls.crt' : 'tls.key'}` };
  let key: KeyObject;
  try {
    key = parsePrivateKey(keyPem);
  } catch (err) {
    return { ok: false, reason: 'InvalidKeyPair', message: `Issuing certificate as ${where} has an unreadable tls.key: ${(err as Error).message}` };
  }
  const chain = splitPemChain(certPem);
  let leaf: NodeX509;
  try {
    if (!chain.length) throw new Error('no PEM certificate found');
    leaf = new NodeX509(chain[0]!);
  } catch (err) {
    return { ok: false, reason: 'InvalidCertificate', message: `Issuing certificate as ${where} has an unreadable tls.crt: ${(err as Error).message}` };
  }
  if (!keyMatchesCertificate(key, leaf))
    return { ok: false, reason: 'InvalidKeyPair', message: `Issuing certificate as ${where} contains a private key that does not match the certificate` };
  const caPem = get('ca.crt');
  return { ok: true, certPem, chain, leaf, keyPem, key, ...(caPem ? { caPem } : {}) };
}
