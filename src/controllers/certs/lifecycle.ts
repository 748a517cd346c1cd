/**
 * When to issue a Certificate: a pure decision from the Certificate, its Secret, the issuer's
 * readiness and the clock. cert-manager's trigger rules: re-issue when the Secret is missing or
 * unusable, when the spec asks for something the Secret does not hold, when the Issuing condition
 * is set True (by hand or by an issuance that was interrupted), and at the renewal time; back off
 * exponentially after failures until the spec changes.
 */
import { ariRenewalTime, type RenewalWindow } from './acme/ari.js';
import { createHash } from 'node:crypto';
import type { Certificate, CertificateStatus } from '../../api/certmanager.js';
import type { Secret } from '../../api/types.js';
import { describeKey, keyEncodingOf } from './keys.js';
import { ANN, canonicalIp, certNames, readTlsSecret } from './secret.js';

export const DEFAULT_BACKOFF_BASE_MS = 3_600_000;
export const DEFAULT_BACKOFF_MAX_MS = 32 * 3_600_000;
/** Renewal is moved earlier by up to this share of the renewal window (never later), capped by JITTER_MAX_MS. */
export const JITTER_FRACTION = 0.02;
export const JITTER_MAX_MS = 30 * 60_000;

export type Decision =
  | { action: 'issue'; reason: string; message: string; times?: CertTimes }
  | { action: 'wait'; reason: 'Renewal' | 'Backoff'; message: string; until: Date; times?: CertTimes }
  | { action: 'blocked'; reason: 'IssuerNotReady'; message: string; times?: CertTimes };

/** The times to publish in the Certificate's status. */
export interface CertTimes {
  notBefore: Date;
  notAfter: Date;
  renewalTime: Date;
}

export interface DecideInput {
  certificate: Certificate;
  secret?: Secret;
  issuerReady: boolean;
  now: Date;
  /** Defaults to certificate.status. */
  status?: CertificateStatus;
  /** A fingerprint of the spec at the last failure (see specFingerprint); without it the Issuing condition's observedGeneration is compared. */
  failedSpecFingerprint?: string;
  /** [0,1) source for the renewal jitter; defaults to one derived from the certificate's serial, so it is stable across restarts. */
  rng?: () => number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** The CA's suggested renewal window for the current certificate (ACME Renewal Information), when it offers one. */
  ariWindow?: RenewalWindow;
  /** The earliest time the CA accepts another attempt after the last failure (its Retry-After, e.g. with a rate limit). */
  retryNotBefore?: Date;
  /** The type of the issuer the spec names, when known: an ACME CA may leave subject fields out (see specMismatches). */
  issuerType?: IssuerType;
}

export type IssuerType = 'selfSigned' | 'ca' | 'acme';

/** Backoff after `failures` consecutive failed issuances: base * 2^(n-1), capped. */
export function backoffDelay(failures: number, baseMs = DEFAULT_BACKOFF_BASE_MS, maxMs = DEFAULT_BACKOFF_MAX_MS): number {
  if (failures <= 0) return 0;
  // 2^(n-1) overflows to Infinity for huge n; Math.min handles it.
  return Math.min(baseMs * 2 ** (failures - 1), maxMs);
}

/**
 * How long before notAfter to renew: renewBefore, else renewBeforePercentage of the lifetime,
 * else a third of the lifetime. A renewBefore at or beyond the actual lifetime (the CA shortened
 * the certificate) falls back to a third, as cert-manager does, so renewal does not loop.
 */
export function renewBeforeMs(spec: Pick<Certificate['spec'], 'renewBefore' | 'renewBeforePercentage'>, lifetimeMs: number): number {
  if (spec.renewBefore !== undefined && spec.renewBefore < lifetimeMs) return spec.renewBefore;
  if (spec.renewBefore === undefined && spec.renewBeforePercentage !== undefined) return (lifetimeMs * spec.renewBeforePercentage) / 100;
  return lifetimeMs / 3;
}

/** notAfter - renewBefore - jitter, truncated to the second (status times are RFC 3339 seconds). */
export function renewalTime(
  spec: Pick<Certificate['spec'], 'renewBefore' | 'renewBeforePercentage'>,
  notBefore: Date,
  notAfter: Date,
  rng: () => number = () => 0,
): Date {
  const lifetime = notAfter.getTime() - notBefore.getTime();
  const before = renewBeforeMs(spec, lifetime);
  const jitter = Math.min(before * JITTER_FRACTION, JITTER_MAX_MS) * Math.min(Math.max(rng(), 0), 1);
  const t = notAfter.getTime() - before - jitter;
  return new Date(Math.floor(t / 1000) * 1000);
}

/** A [0,1) value derived from a string: stable jitter per certificate. */
export function stableRng(seed: string): () => number {
  const h = createHash('sha256').update(seed).digest();
  const v = h.readUInt32BE(0) / 2 ** 32;
  return () => v;
}

/** A fingerprint of everything in the spec that shapes the issued certificate (for backoff resets). */
export function specFingerprint(c: Certificate): string {
  const s = c.spec;
  const sorted = (a: string[]) => [...a].sort();
  return createHash('sha256')
    .update(
      JSON.stringify([
        s.secretName, s.issuerRef, s.commonName ?? '', sorted(s.dnsNames), sorted(s.ipAddresses.map(canonicalIp)), sorted(s.uris),
        sorted(s.emailAddresses), s.duration, s.renewBefore ?? null, s.renewBeforePercentage ?? null, s.privateKey, sorted(s.usages),
        s.isCA, s.subject ?? null,
      ]),
    )
    .digest('hex')
    .slice(0, 16);
}

const sameSet = (a: readonly string[], b: readonly string[]) => {
  const x = [...new Set(a)].sort();
  const y = [...new Set(b)].sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
};

/**
 * The differences between what the spec asks for and what the issued certificate/Secret holds
 * (empty when none). gangplank's own selfSigned and CA issuers copy the subject from the spec, so
 * their certificates must carry it exactly. An ACME CA certifies names only: it may leave the
 * subject common name out (Pebble 2.10, Let's Encrypt's newer profiles) as long as that name is a
 * SAN, and it drops the rest of the subject; counting either as a mismatch would re-issue forever.
 */
export function specMismatches(
  certificate: Certificate,
  secret: Secret,
  certPem: string,
  keyPem: string,
  key: Parameters<typeof describeKey>[0],
  issuerType?: IssuerType,
): string[] {
  const s = certificate.spec;
  const out: string[] = [];
  const ann = secret.metadata.annotations ?? {};
  // Issuer: compare with what the Secret says issued it (cert-manager's IncorrectIssuer).
  if (ann[ANN.issuerName] !== undefined || ann[ANN.issuerKind] !== undefined) {
    if (ann[ANN.issuerName] !== s.issuerRef.name || (ann[ANN.issuerKind] ?? 'Issuer') !== s.issuerRef.kind || (ann[ANN.issuerGroup] || 'cert-manager.io') !== s.issuerRef.group)
      out.push('issuerRef');
  }
  const n = certNames(certPem);
  const isSan = (name: string) => n.dnsNames.some((d) => d.toLowerCase() === name.toLowerCase()) || n.ipAddresses.includes(canonicalIp(name));
  const acme = issuerType === 'acme';
  // Without a commonName in the spec, a CA may still put one of the SANs there (ACME CAs do).
  const cnFromSan = !s.commonName && isSan(n.commonName);
  const cnOmitted = acme && !!s.commonName && n.commonName === '' && isSan(s.commonName);
  if ((s.commonName ?? '') !== n.commonName && !cnFromSan && !cnOmitted) out.push('commonName');
  if (!sameSet(s.dnsNames.map((d) => d.toLowerCase()), n.dnsNames.map((d) => d.toLowerCase()))) out.push('dnsNames');
  if (!sameSet(s.ipAddresses.map(canonicalIp), n.ipAddresses)) out.push('ipAddresses');
  if (!sameSet(s.uris, n.uris)) out.push('uris');
  if (!sameSet(s.emailAddresses, n.emailAddresses)) out.push('emailAddresses');
  if (!acme && s.subject?.organizations && !sameSet(s.subject.organizations, n.organizations)) out.push('subject.organizations');
  const k = describeKey(key);
  if (k.algorithm !== s.privateKey.algorithm) out.push('privateKey.algorithm');
  else if (k.algorithm !== 'Ed25519' && k.size !== s.privateKey.size) out.push('privateKey.size');
  // Ed25519 keys have no PKCS#1 form and are always PKCS#8.
  if (k.algorithm !== 'Ed25519' && keyEncodingOf(keyPem) !== s.privateKey.encoding) out.push('privateKey.encoding');
  return out;
}

function condition(status: CertificateStatus | undefined, type: 'Ready' | 'Issuing') {
  return status?.conditions?.find((c) => c.type === type);
}

export function decide(input: DecideInput): Decision {
  const { certificate, now } = input;
  const status = input.status ?? certificate.status;
  const read = readTlsSecret(input.secret);
  let times: CertTimes | undefined;
  if (read.ok) {
    const notBefore = new Date(read.leaf.validFrom);
    const notAfter = new Date(read.leaf.validTo);
    const rng = input.rng ?? stableRng(`${certificate.metadata.namespace}/${certificate.metadata.name}/${read.leaf.serialNumber}`);
    times = { notBefore, notAfter, renewalTime: renewalTime(certificate.spec, notBefore, notAfter, rng) };
    // The CA's window wins over the default two-thirds point; an explicit renewBefore that is earlier still wins.
    if (input.ariWindow) {
      const explicit = certificate.spec.renewBefore !== undefined || certificate.spec.renewBeforePercentage !== undefined;
      // A point chosen once in the window (stable rng), not re-drawn against the clock on every decision.
      times.renewalTime = ariRenewalTime(input.ariWindow, input.ariWindow.start, rng, explicit ? times.renewalTime : undefined);
    }
  }
  const withTimes = <T extends object>(d: T) => (times ? { ...d, times } : d);

  const issuing = condition(status, 'Issuing');
  if (issuing?.status === 'True') {
    // Set by hand (cmctl renew) or left by an interrupted issuance: go ahead, without backoff.
    const message = issuing.message || 'Issuing condition is True';
    if (!input.issuerReady)
      return withTimes({ action: 'blocked' as const, reason: 'IssuerNotReady' as const, message: `${message}, but ${certificate.spec.issuerRef.kind} ${certificate.spec.issuerRef.name} is not ready` });
    return withTimes({ action: 'issue' as const, reason: issuing.reason || 'ManuallyTriggered', message });
  }

  // What would trigger an issuance, in cert-manager's order.
  let trigger: { reason: string; message: string } | undefined;
  if (!read.ok) trigger = { reason: read.reason, message: read.message };
  else {
    const diff = specMismatches(certificate, input.secret!, read.certPem, read.keyPem, read.key, input.issuerType);
    if (diff.includes('issuerRef')) trigger = { reason: 'IncorrectIssuer', message: `Issuing certificate as Secret was previously issued by a different issuer than ${certificate.spec.issuerRef.kind} ${certificate.spec.issuerRef.name}` };
    else if (diff.some((d) => d.startsWith('privateKey.'))) trigger = { reason: 'SecretMismatch', message: `Issuing certificate as the Secret's private key does not match the spec: ${diff.filter((d) => d.startsWith('privateKey.')).join(', ')}` };
    else if (diff.length) trigger = { reason: 'RequestChanged', message: `Fields on existing certificate do not match the spec: ${diff.join(', ')}` };
    else if (times!.notAfter.getTime() <= now.getTime()) trigger = { reason: 'Expired', message: `Certificate expired on ${times!.notAfter.toISOString()}` };
    else if (times!.renewalTime.getTime() <= now.getTime()) trigger = { reason: 'Renewing', message: `Renewing certificate as renewal was scheduled at ${times!.renewalTime.toISOString()}` };
  }

  if (!trigger) {
    return withTimes({ action: 'wait' as const, reason: 'Renewal' as const, message: `Certificate is up to date; renewal at ${times!.renewalTime.toISOString()}`, until: times!.renewalTime });
  }

  if (!input.issuerReady) {
    return withTimes({ action: 'blocked' as const, reason: 'IssuerNotReady' as const, message: `${trigger.message}, but ${certificate.spec.issuerRef.kind} ${certificate.spec.issuerRef.name} is not ready` });
  }

  // Back off after failures, unless the spec changed since the failure.
  const failures = status?.failedIssuanceAttempts ?? 0;
  if (failures > 0 && status?.lastFailureTime) {
    const specChanged =
      input.failedSpecFingerprint !== undefined
        ? input.failedSpecFingerprint !== specFingerprint(certificate)
        : issuing?.observedGeneration !== undefined && certificate.metadata.generation !== undefined && issuing.observedGeneration !== certificate.metadata.generation;
    if (!specChanged) {
      let until = new Date(Date.parse(status.lastFailureTime) + backoffDelay(failures, input.backoffBaseMs, input.backoffMaxMs));
      // A CA that said when to come back (Retry-After) is not asked sooner, even when the backoff is shorter.
      const byCa = input.retryNotBefore !== undefined && input.retryNotBefore.getTime() > until.getTime();
      if (byCa) until = input.retryNotBefore!;
      if (until.getTime() > now.getTime())
        return withTimes({
          action: 'wait' as const,
          reason: 'Backoff' as const,
          message: `Backing off after ${failures} failed issuance attempt(s) until ${until.toISOString()}${byCa ? ' (as the CA asked with Retry-After)' : ''}: ${trigger.message}`,
          until,
        });
    }
  }
  return withTimes({ action: 'issue' as const, ...trigger });
}
