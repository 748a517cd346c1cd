/**
 * cert-manager.io/v1 Certificate, Issuer and ClusterIssuer: types and validation, with the
 * names, defaults and limits of cert-manager's API reference so existing manifests apply as is.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import type { ObjectMeta, TypedObject } from './meta.js';
import { registerKind, toFieldErrors, type FieldError, type ParseResult } from './validate.js';

export const CERT_MANAGER_GROUP = 'cert-manager.io';
export const CERT_MANAGER_API_VERSION = 'cert-manager.io/v1';

// ---------------------------------------------------------------------------------------------
// Go durations (time.ParseDuration): "2160h", "1h30m", "90m", "1.5h", "300ms". No days.

const GO_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses a Go duration string into milliseconds; throws an Error saying what is wrong. */
export function parseGoDuration(s: string): number {
  const input = s.trim();
  if (input === '0') return 0;
  let rest = input;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    sign = rest.startsWith('-') ? -1 : 1;
    rest = rest.slice(1);
  }
  if (!rest) throw new Error(`invalid duration "${s}": expected a Go duration such as "2160h" or "1h30m"`);
  let total = 0;
  const re = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;
  while (rest) {
    const m = re.exec(rest);
    if (!m) throw new Error(`invalid duration "${s}": expected a Go duration such as "2160h" or "1h30m" (units ns, us, ms, s, m, h; no "d")`);
    total += Number(m[1]) * GO_UNITS[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return sign * total;
}

/** Formats milliseconds the way Go prints a time.Duration ("2160h0m0s"). */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return '0s';
  const neg = ms < 0;
  let v = Math.abs(ms);
  const h = Math.floor(v / 3_600_000);
  v -= h * 3_600_000;
  const m = Math.floor(v / 60_000);
  v -= m * 60_000;
  const s = v / 1000;
  let out = '';
  if (h) out += `${h}h`;
  if (h || m) out += `${m}m`;
  out += `${Number(s.toFixed(9))}s`;
  return (neg ? '-' : '') + out;
}

// ---------------------------------------------------------------------------------------------
// Types

export type PrivateKeyAlgorithm = 'RSA' | 'ECDSA' | 'Ed25519';
export type PrivateKeyEncoding = 'PKCS1' | 'PKCS8';

export interface IssuerRef {
  name: string;
  kind: 'Issuer' | 'ClusterIssuer';
  group: string;
}

export interface CertificatePrivateKey {
  algorithm: PrivateKeyAlgorithm;
  /** Bits for RSA, curve size for ECDSA; undefined for Ed25519. */
  size?: number;
  encoding: PrivateKeyEncoding;
  rotationPolicy: 'Always' | 'Never';
}

export interface X509Subject {
  organizations?: string[];
  countries?: string[];
  organizationalUnits?: string[];
  localities?: string[];
  provinces?: string[];
  streetAddresses?: string[];
  postalCodes?: string[];
  serialNumber?: string;
}

export const KEY_USAGES = [
  'signing', 'digital signature', 'content commitment', 'key encipherment', 'key agreement', 'data encipherment',
  'cert sign', 'crl sign', 'encipher only', 'decipher only', 'any', 'server auth', 'client auth', 'code signing',
  'email protection', 's/mime', 'ipsec end system', 'ipsec tunnel', 'ipsec user', 'timestamping', 'ocsp signing',
  'microsoft sgc', 'netscape sgc',
] as const;
export type KeyUsage = (typeof KEY_USAGES)[number];

export interface CertificateSpec {
  secretName: string;
  issuerRef: IssuerRef;
  commonName?: string;
  dnsNames: string[];
  ipAddresses: string[];
  uris: string[];
  emailAddresses: string[];
  /** Milliseconds (parsed from the Go duration; default 2160h). */
  duration: number;
  /** Milliseconds, when set. */
  renewBefore?: number;
  renewBeforePercentage?: number;
  privateKey: CertificatePrivateKey;
  usages: KeyUsage[];
  isCA: boolean;
  subject?: X509Subject;
  secretTemplate?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  revisionHistoryLimit?: number;
}

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface CertificateCondition {
  type: 'Ready' | 'Issuing';
  status: ConditionStatus;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  observedGeneration?: number;
}

export interface CertificateStatus {
  conditions?: CertificateCondition[];
  notBefore?: string;
  notAfter?: string;
  renewalTime?: string;
  revision?: number;
  lastFailureTime?: string;
  failedIssuanceAttempts?: number;
  nextPrivateKeySecretName?: string;
}

export interface Certificate extends TypedObject {
  apiVersion: typeof CERT_MANAGER_API_VERSION;
  kind: 'Certificate';
  metadata: ObjectMeta & { namespace: string };
  spec: CertificateSpec;
  status?: CertificateStatus;
}

export interface SecretKeySelector {
  name: string;
  key?: string;
}

export interface Rfc2136Solver {
  /** host:port (port defaults to 53). */
  nameserver: string;
  tsigKeyName?: string;
  tsigAlgorithm?: 'HMACMD5' | 'HMACSHA1' | 'HMACSHA256' | 'HMACSHA512';
  tsigSecretSecretRef?: SecretKeySelector;
}

export interface Route53Solver {
  region?: string;
  hostedZoneID?: string;
  accessKeyID?: string;
  accessKeyIDSecretRef?: SecretKeySelector;
  secretAccessKeySecretRef?: SecretKeySelector;
  role?: string;
}

export interface AcmeSolver {
  selector?: { dnsNames?: string[]; dnsZones?: string[]; matchLabels?: Record<string, string> };
  http01?: { ingress?: { class?: string; ingressClassName?: string; name?: string; serviceType?: string } };
  dns01?: {
    cnameStrategy?: 'None' | 'Follow';
    rfc2136?: Rfc2136Solver;
    route53?: Route53Solver;
  };
}

export interface AcmeIssuerSpec {
  server: string;
  email?: string;
  privateKeySecretRef: SecretKeySelector;
  /** Base64-encoded PEM bundle for the ACME server's TLS certificate. */
  caBundle?: string;
  skipTLSVerify?: boolean;
  externalAccountBinding?: { keyID: string; keySecretRef: SecretKeySelector; keyAlgorithm?: string };
  preferredChain?: string;
  disableAccountKeyGeneration?: boolean;
  enableDurationFeature?: boolean;
  solvers: AcmeSolver[];
}

export interface IssuerSpec {
  selfSigned?: { crlDistributionPoints?: string[] };
  ca?: { secretName: string; crlDistributionPoints?: string[]; ocspServers?: string[] };
  acme?: AcmeIssuerSpec;
}

export interface IssuerStatus {
  conditions?: { type: 'Ready'; status: ConditionStatus; reason?: string; message?: string; lastTransitionTime?: string; observedGeneration?: number }[];
  acme?: { uri?: string; lastRegisteredEmail?: string; lastPrivateKeyHash?: string };
}

export interface Issuer extends TypedObject {
  apiVersion: typeof CERT_MANAGER_API_VERSION;
  kind: 'Issuer';
  metadata: ObjectMeta & { namespace: string };
  spec: IssuerSpec;
  status?: IssuerStatus;
}

export interface ClusterIssuer extends TypedObject {
  apiVersion: typeof CERT_MANAGER_API_VERSION;
  kind: 'ClusterIssuer';
  metadata: ObjectMeta;
  spec: IssuerSpec;
  status?: IssuerStatus;
}

export type AnyIssuer = Issuer | ClusterIssuer;

// ---------------------------------------------------------------------------------------------
// Limits (cert-manager's validation webhook)

export const DEFAULT_DURATION_MS = 2160 * 3_600_000;
export const MIN_DURATION_MS = 3_600_000;
export const MIN_RENEW_BEFORE_MS = 5 * 60_000;
export const RSA_MIN_SIZE = 2048;
export const RSA_MAX_SIZE = 8192;
export const ECDSA_SIZES = [256, 384, 521] as const;

// ---------------------------------------------------------------------------------------------
// Schemas

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const resourceName = z
  .string({ required_error: 'is required', invalid_type_error: 'must be a string' })
  .min(1, 'must not be empty')
  .max(253, 'must be at most 253 characters')
  .regex(DNS1123_SUBDOMAIN, 'must be a lowercase RFC 1123 subdomain (a-z, 0-9, "-", ".")');
const stringMap = z.record(z.string({ invalid_type_error: 'values must be strings' }));
const strings = z.array(z.string({ invalid_type_error: 'must be a string' }));

const metadata = (namespaced: boolean) =>
  z
    .object({
      name: resourceName,
      namespace: z.string().optional(),
      uid: z.string().optional(),
      resourceVersion: z.string().optional(),
      generation: z.number().int().optional(),
      creationTimestamp: z.union([z.string(), z.date()]).transform((v) => (v instanceof Date ? v.toISOString() : v)).optional(),
      labels: stringMap.optional(),
      annotations: stringMap.optional(),
    })
    .passthrough()
    .transform((m) => (namespaced ? { ...m, namespace: m.namespace || 'default' } : m));

const goDuration = z.string({ invalid_type_error: 'must be a Go duration string such as "2160h"' }).transform((v, ctx) => {
  try {
    return parseGoDuration(v);
  } catch (err) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: (err as Error).message });
    return z.NEVER;
  }
});

const DNS_NAME = /^(\*\.)?([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)*[a-z0-9]([-a-z0-9]*[a-z0-9])?\.?$/i;
const dnsName = z.string().refine((v) => v.length <= 253 && DNS_NAME.test(v), 'must be a DNS name, optionally with a leading "*." wildcard label');
const ipAddress = z.string().refine((v) => isIP(v) !== 0, 'must be an IPv4 or IPv6 address');
const uri = z.string().refine((v) => {
  try {
    return new URL(v).protocol.length > 1;
  } catch {
    return false;
  }
}, 'must be an absolute URI such as spiffe://cluster.local/ns/x/sa/y');
const email = z.string().regex(/^[^@\s]+@[^@\s]+$/, 'must be an email address');

const secretKeySelector = z.object({ name: resourceName, key: z.string().optional() });

const issuerRef = z.object({
  name: resourceName,
  kind: z
    .enum(['Issuer', 'ClusterIssuer'], { errorMap: () => ({ message: 'must be Issuer or ClusterIssuer' }) })
    .optional()
    .transform((k) => k ?? 'Issuer'),
  group: z
    .string()
    .optional()
    .transform((g) => g || CERT_MANAGER_GROUP)
    .refine((g) => g === CERT_MANAGER_GROUP, `must be ${CERT_MANAGER_GROUP} (gangplank issues with its own issuers only)`),
});

const privateKey = z
  .object({
    algorithm: z.enum(['RSA', 'ECDSA', 'Ed25519'], { errorMap: () => ({ message: 'must be one of RSA, ECDSA, Ed25519' }) }).optional(),
    size: z.number({ invalid_type_error: 'must be a number' }).int('must be an integer').optional(),
    encoding: z.enum(['PKCS1', 'PKCS8'], { errorMap: () => ({ message: 'must be one of PKCS1, PKCS8' }) }).optional(),
    rotationPolicy: z.enum(['Always', 'Never'], { errorMap: () => ({ message: 'must be one of Always, Never' }) }).optional(),
  })
  .optional()
  .superRefine((pk, ctx) => {
    const alg = pk?.algorithm ?? 'RSA';
    const size = pk?.size;
    if (size === undefined || size === 0) return;
    if (alg === 'RSA' && (size < RSA_MIN_SIZE || size > RSA_MAX_SIZE))
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['size'], message: `must be between ${RSA_MIN_SIZE} and ${RSA_MAX_SIZE} for RSA` });
    if (alg === 'ECDSA' && !(ECDSA_SIZES as readonly number[]).includes(size))
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['size'], message: 'must be one of 256, 384, 521 for ECDSA' });
  })
  .transform((pk): CertificatePrivateKey => {
    const algorithm = pk?.algorithm ?? 'RSA';
    const size = algorithm === 'Ed25519' ? undefined : pk?.size || (algorithm === 'RSA' ? 2048 : 256);
    return { algorithm, size, encoding: pk?.encoding ?? 'PKCS1', rotationPolicy: pk?.rotationPolicy ?? 'Always' };
  });

const subject = z
  .object({
    organizations: strings.optional(),
    countries: strings.optional(),
    organizationalUnits: strings.optional(),
    localities: strings.optional(),
    provinces: strings.optional(),
    streetAddresses: strings.optional(),
    postalCodes: strings.optional(),
    serialNumber: z.string().optional(),
  })
  .strict();

const certificateSpec = z
  .object({
    secretName: resourceName,
    issuerRef,
    commonName: z.string().max(64, 'must be at most 64 characters (the X.509 limit)').optional(),
    dnsNames: z.array(dnsName).optional(),
    ipAddresses: z.array(ipAddress).optional(),
    uris: z.array(uri).optional(),
    emailAddresses: z.array(email).optional(),
    duration: goDuration.optional(),
    renewBefore: goDuration.optional(),
    renewBeforePercentage: z.number().int('must be an integer').optional(),
    privateKey,
    usages: z.array(z.enum(KEY_USAGES, { errorMap: () => ({ message: `must be one of ${KEY_USAGES.join(', ')}` }) })).optional(),
    isCA: z.boolean().optional(),
    subject: subject.optional(),
    secretTemplate: z.object({ labels: stringMap.optional(), annotations: stringMap.optional() }).optional(),
    revisionHistoryLimit: z.number().int().min(1, 'must be at least 1').optional(),
    literalSubject: z.unknown().optional(),
    keystores: z.unknown().optional(),
    additionalOutputFormats: z.unknown().optional(),
    nameConstraints: z.unknown().optional(),
    otherNames: z.unknown().optional(),
    encodeUsagesInRequest: z.boolean().optional(),
  })
  .superRefine((s, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: z.ZodIssueCode.custom, path: [path], message });
    if (!s.commonName && !s.dnsNames?.length && !s.ipAddresses?.length && !s.uris?.length && !s.emailAddresses?.length)
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: [], message: 'at least one of commonName, dnsNames, uris, ipAddresses or emailAddresses must be set' });
    for (const f of ['literalSubject', 'keystores', 'additionalOutputFormats', 'nameConstraints', 'otherNames'] as const)
      if (s[f] !== undefined) issue(f, 'is not supported by gangplank; remove it');
    const duration = s.duration ?? DEFAULT_DURATION_MS;
    if (s.duration !== undefined && s.duration < MIN_DURATION_MS) issue('duration', 'must be at least 1h');
    if (s.renewBefore !== undefined && s.renewBeforePercentage !== undefined)
      issue('renewBefore', 'must not be set together with renewBeforePercentage');
    if (s.renewBefore !== undefined) {
      if (s.renewBefore < MIN_RENEW_BEFORE_MS) issue('renewBefore', 'must be at least 5m');
      else if (s.renewBefore >= duration) issue('renewBefore', `must be less than duration (${formatGoDuration(duration)})`);
    }
    if (s.renewBeforePercentage !== undefined && (s.renewBeforePercentage <= 0 || s.renewBeforePercentage >= 100))
      issue('renewBeforePercentage', 'must be greater than 0 and less than 100');
  })
  .transform(
    (s): CertificateSpec => ({
      secretName: s.secretName,
      issuerRef: s.issuerRef as IssuerRef,
      ...(s.commonName ? { commonName: s.commonName } : {}),
      dnsNames: s.dnsNames ?? [],
      ipAddresses: s.ipAddresses ?? [],
      uris: s.uris ?? [],
      emailAddresses: s.emailAddresses ?? [],
      duration: s.duration ?? DEFAULT_DURATION_MS,
      ...(s.renewBefore !== undefined ? { renewBefore: s.renewBefore } : {}),
      ...(s.renewBeforePercentage !== undefined ? { renewBeforePercentage: s.renewBeforePercentage } : {}),
      privateKey: s.privateKey,
      usages: s.usages ?? [],
      isCA: s.isCA ?? false,
      ...(s.subject ? { subject: s.subject } : {}),
      ...(s.secretTemplate ? { secretTemplate: s.secretTemplate } : {}),
      ...(s.revisionHistoryLimit !== undefined ? { revisionHistoryLimit: s.revisionHistoryLimit } : {}),
    }),
  );

const conditionStatus = z.enum(['True', 'False', 'Unknown']);
const certificateStatus = z
  .object({
    conditions: z
      .array(
        z.object({
          type: z.enum(['Ready', 'Issuing']),
          status: conditionStatus,
          reason: z.string().optional(),
          message: z.string().optional(),
          lastTransitionTime: z.string().optional(),
          observedGeneration: z.number().int().optional(),
        }),
      )
      .optional(),
    notBefore: z.string().optional(),
    notAfter: z.string().optional(),
    renewalTime: z.string().optional(),
    revision: z.number().int().optional(),
    lastFailureTime: z.string().optional(),
    failedIssuanceAttempts: z.number().int().optional(),
    nextPrivateKeySecretName: z.string().optional(),
  })
  .passthrough();

export const certificateSchema = z.object({
  apiVersion: z.literal(CERT_MANAGER_API_VERSION),
  kind: z.literal('Certificate'),
  metadata: metadata(true),
  spec: certificateSpec,
  status: certificateStatus.optional(),
});

const rfc2136 = z.object({
  nameserver: z
    .string({ required_error: 'is required' })
    .min(1, 'is required')
    .refine((v) => parseHostPort(v, 53) !== undefined, 'must be host, host:port or [ipv6]:port'),
  tsigKeyName: z.string().optional(),
  tsigAlgorithm: z
    .string()
    .optional()
    .transform((a, ctx) => {
      if (!a) return undefined;
      const up = a.toUpperCase().replace(/[^A-Z0-9]/g, '');
      const ok = ['HMACMD5', 'HMACSHA1', 'HMACSHA256', 'HMACSHA512'] as const;
      const hit = ok.find((x) => x === up);
      if (!hit) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be one of ${ok.join(', ')}` });
        return z.NEVER;
      }
      return hit;
    }),
  tsigSecretSecretRef: secretKeySelector.optional(),
});

const route53 = z.object({
  region: z.string().optional(),
  hostedZoneID: z.string().optional(),
  accessKeyID: z.string().optional(),
  accessKeyIDSecretRef: secretKeySelector.optional(),
  secretAccessKeySecretRef: secretKeySelector.optional(),
  role: z.string().optional(),
  auth: z.unknown().optional(),
});

const DNS01_PROVIDERS = ['rfc2136', 'route53'] as const;
const UNSUPPORTED_DNS01 = ['acmeDNS', 'akamai', 'azureDNS', 'cloudDNS', 'cloudflare', 'digitalocean', 'webhook'] as const;

const solver = z
  .object({
    selector: z
      .object({ dnsNames: strings.optional(), dnsZones: strings.optional(), matchLabels: stringMap.optional() })
      .optional(),
    http01: z
      .object({
        ingress: z
          .object({ class: z.string().optional(), ingressClassName: z.string().optional(), name: z.string().optional(), serviceType: z.string().optional() })
          .passthrough()
          .optional(),
        gatewayHTTPRoute: z.unknown().optional(),
      })
      .optional(),
    dns01: z
      .object({
        cnameStrategy: z.enum(['None', 'Follow'], { errorMap: () => ({ message: 'must be None or Follow' }) }).optional(),
        rfc2136: rfc2136.optional(),
        route53: route53.optional(),
        ...Object.fromEntries(UNSUPPORTED_DNS01.map((k) => [k, z.unknown().optional()])),
      })
      .optional(),
  })
  .superRefine((s, ctx) => {
    if (!!s.http01 === !!s.dns01) ctx.addIssue({ code: z.ZodIssueCode.custom, path: [], message: 'exactly one of http01 or dns01 must be set' });
    if (s.http01?.gatewayHTTPRoute !== undefined)
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['http01', 'gatewayHTTPRoute'], message: 'is not supported by gangplank; use http01.ingress (gangplank serves the challenge itself)' });
    if (s.dns01) {
      const d = s.dns01 as Record<string, unknown>;
      for (const k of UNSUPPORTED_DNS01)
        if (d[k] !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['dns01', k], message: `is not supported by gangplank; use one of ${DNS01_PROVIDERS.join(', ')}` });
      const set = DNS01_PROVIDERS.filter((k) => d[k] !== undefined);
      if (set.length !== 1 && !UNSUPPORTED_DNS01.some((k) => d[k] !== undefined))
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['dns01'], message: `exactly one DNS-01 provider (${DNS01_PROVIDERS.join(', ')}) must be set` });
    }
  })
  .transform((s): AcmeSolver => {
    const out: AcmeSolver = {};
    if (s.selector) out.selector = s.selector;
    if (s.http01) out.http01 = { ...(s.http01.ingress ? { ingress: s.http01.ingress } : {}) };
    if (s.dns01)
      out.dns01 = {
        ...(s.dns01.cnameStrategy ? { cnameStrategy: s.dns01.cnameStrategy } : {}),
        ...(s.dns01.rfc2136 ? { rfc2136: s.dns01.rfc2136 as Rfc2136Solver } : {}),
        ...(s.dns01.route53 ? { route53: s.dns01.route53 as Route53Solver } : {}),
      };
    return out;
  });

const acme = z
  .object({
    server: z.string({ required_error: 'is required' }).url('must be the URL of an ACME directory'),
    email: z.string().optional(),
    privateKeySecretRef: secretKeySelector,
    caBundle: z
      .string()
      .optional()
      .refine((b) => b === undefined || Buffer.from(b, 'base64').toString('utf8').includes('-----BEGIN CERTIFICATE-----'), 'must be a base64-encoded PEM certificate bundle'),
    skipTLSVerify: z.boolean().optional(),
    externalAccountBinding: z
      .object({ keyID: z.string().min(1, 'is required'), keySecretRef: secretKeySelector, keyAlgorithm: z.string().optional() })
      .optional(),
    preferredChain: z.string().max(64, 'must be at most 64 characters').optional(),
    disableAccountKeyGeneration: z.boolean().optional(),
    enableDurationFeature: z.boolean().optional(),
    solvers: z.array(solver).optional(),
  })
  .superRefine((a, ctx) => {
    if (a.caBundle && a.skipTLSVerify) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['caBundle'], message: 'must not be set together with skipTLSVerify' });
  })
  .transform((a): AcmeIssuerSpec => ({ ...a, solvers: a.solvers ?? [] }) as AcmeIssuerSpec);

const issuerSpec = z
  .object({
    selfSigned: z.object({ crlDistributionPoints: strings.optional() }).optional(),
    ca: z.object({ secretName: resourceName, crlDistributionPoints: strings.optional(), ocspServers: strings.optional() }).optional(),
    acme: acme.optional(),
    vault: z.unknown().optional(),
    venafi: z.unknown().optional(),
  })
  .superRefine((s, ctx) => {
    for (const k of ['vault', 'venafi'] as const)
      if (s[k] !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, path: [k], message: 'is not supported by gangplank; use selfSigned, ca or acme' });
    const n = [s.selfSigned, s.ca, s.acme].filter((x) => x !== undefined).length;
    if (n !== 1 && s.vault === undefined && s.venafi === undefined)
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: [], message: 'exactly one of selfSigned, ca or acme must be set' });
  })
  .transform((s): IssuerSpec => {
    const out: IssuerSpec = {};
    if (s.selfSigned) out.selfSigned = s.selfSigned;
    if (s.ca) out.ca = s.ca;
    if (s.acme) out.acme = s.acme;
    return out;
  });

const issuerStatus = z.object({}).passthrough();

export const issuerSchema = z.object({
  apiVersion: z.literal(CERT_MANAGER_API_VERSION),
  kind: z.literal('Issuer'),
  metadata: metadata(true),
  spec: issuerSpec,
  status: issuerStatus.optional(),
});

export const clusterIssuerSchema = z.object({
  apiVersion: z.literal(CERT_MANAGER_API_VERSION),
  kind: z.literal('ClusterIssuer'),
  metadata: metadata(false),
  spec: issuerSpec,
  status: issuerStatus.optional(),
});

/** Adds Certificate, Issuer and ClusterIssuer to the generic manifest parser (src/api/validate.ts). */
export function registerCertManagerKinds(): void {
  registerKind('Certificate', CERT_MANAGER_API_VERSION, certificateSchema);
  registerKind('Issuer', CERT_MANAGER_API_VERSION, issuerSchema);
  registerKind('ClusterIssuer', CERT_MANAGER_API_VERSION, clusterIssuerSchema);
}

function run<T>(schema: z.ZodTypeAny, raw: unknown): ParseResult<T> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, errors: [{ path: '(document)', message: 'must be a mapping (an object)' }] };
  const r = schema.safeParse(raw);
  if (!r.success) return { ok: false, errors: toFieldErrors(r.error.issues) };
  return { ok: true, object: r.data as T };
}

export function parseCertificate(raw: unknown): ParseResult<Certificate> {
  return run<Certificate>(certificateSchema, raw);
}

/** Parses an Issuer or a ClusterIssuer (by `kind`). */
export function parseIssuer(raw: unknown): ParseResult<AnyIssuer> {
  const kind = (raw as { kind?: unknown } | null)?.kind;
  if (kind === 'ClusterIssuer') return run<ClusterIssuer>(clusterIssuerSchema, raw);
  return run<Issuer>(issuerSchema, raw);
}

export type { FieldError, ParseResult };

/** Splits `host[:port]` / `[v6]:port` / bare IPv6; undefined when malformed. */
export function parseHostPort(v: string, defaultPort: number): { host: string; port: number } | undefined {
  const s = v.trim();
  let host: string;
  let portStr: string | undefined;
  const br = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (br) {
    host = br[1]!;
    portStr = br[2];
  } else if (isIP(s) === 6) {
    host = s;
  } else {
    const i = s.lastIndexOf(':');
    if (i >= 0) {
      host = s.slice(0, i);
      portStr = s.slice(i + 1);
      if (!/^\d+$/.test(portStr)) return undefined;
    } else host = s;
  }
  if (!host) return undefined;
  const port = portStr === undefined ? defaultPort : Number(portStr);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { host, port };
}
