/**
 * ACME Renewal Information (RFC 9773): the CA suggests a renewal window per certificate. The
 * certificate is named by base64url(AKI keyIdentifier) "." base64url(serial DER bytes).
 */
import * as x509 from '@peculiar/x509';

export interface RenewalWindow {
  start: Date;
  end: Date;
}

/** The ARI CertID of a PEM certificate; undefined without an Authority Key Identifier. */
export function ariCertId(certPem: string): string | undefined {
  const cert = new x509.X509Certificate(certPem);
  const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension);
  if (!aki?.keyId) return undefined;
  let serial = Buffer.from(cert.serialNumber, 'hex');
  // DER INTEGER bytes: a leading zero is kept when the high bit is set.
  if (serial.length && serial[0]! & 0x80) serial = Buffer.concat([Buffer.from([0]), serial]);
  return `${Buffer.from(aki.keyId, 'hex').toString('base64url')}.${serial.toString('base64url')}`;
}

/** Parses a renewalInfo response body; undefined when it is not a usable window. */
export function parseRenewalInfo(body: unknown): RenewalWindow | undefined {
  const w = (body as { suggestedWindow?: { start?: unknown; end?: unknown } } | null)?.suggestedWindow;
  if (!w || typeof w.start !== 'string' || typeof w.end !== 'string') return undefined;
  const start = new Date(w.start);
  const end = new Date(w.end);
  if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()) || end.getTime() < start.getTime()) return undefined;
  return { start, end };
}

/**
 * When to renew given the CA's window (RFC 9773 section 4.2): a uniformly random point in the
 * window; a window already in the past means now. Our own renewal time (`fallback`, from
 * renewBefore) still wins when it is earlier: the user asked for early renewal.
 */
export function ariRenewalTime(window: RenewalWindow, now: Date, rng: () => number, fallback?: Date): Date {
  const s = window.start.getTime();
  const e = window.end.getTime();
  if (e <= now.getTime()) return now;
  const from = Math.max(s, now.getTime());
  const t = new Date(from + (e - from) * Math.min(Math.max(rng(), 0), 1));
  return fallback && fallback.getTime() < t.getTime() ? fallback : t;
}
