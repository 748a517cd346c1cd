/**
 * The Certificate status after an issuance succeeded or failed, with cert-manager's condition
 * types, reasons and counters. Pure: the controller writes what these return.
 */
import type { CertificateCondition, CertificateStatus, ConditionStatus } from '../../api/certmanager.js';
import type { CertTimes } from './lifecycle.js';

const iso = (d: Date) => new Date(Math.floor(d.getTime() / 1000) * 1000).toISOString().replace('.000Z', 'Z');

/** Sets a condition, keeping lastTransitionTime when the status did not change (Kubernetes convention). */
export function setCondition(
  conditions: readonly CertificateCondition[] | undefined,
  c: { type: CertificateCondition['type']; status: ConditionStatus; reason: string; message: string; observedGeneration?: number },
  now: Date,
): CertificateCondition[] {
  const prev = conditions?.find((x) => x.type === c.type);
  const next: CertificateCondition = {
    type: c.type,
    status: c.status,
    reason: c.reason,
    message: c.message,
    lastTransitionTime: prev && prev.status === c.status && prev.lastTransitionTime ? prev.lastTransitionTime : iso(now),
    ...(c.observedGeneration !== undefined ? { observedGeneration: c.observedGeneration } : {}),
  };
  return [...(conditions ?? []).filter((x) => x.type !== c.type), next];
}

export function removeCondition(conditions: readonly CertificateCondition[] | undefined, type: CertificateCondition['type']): CertificateCondition[] {
  return (conditions ?? []).filter((x) => x.type !== type);
}

/** Issuance started: Issuing True (reason = the trigger). */
export function onIssuing(status: CertificateStatus | undefined, reason: string, message: string, now: Date, generation?: number): CertificateStatus {
  return { ...status, conditions: setCondition(status?.conditions, { type: 'Issuing', status: 'True', reason, message, observedGeneration: generation }, now) };
}

/** Issuance succeeded: Ready True, Issuing removed, revision + 1, failure counters cleared, new times. */
export function onIssued(status: CertificateStatus | undefined, times: CertTimes, now: Date, generation?: number): CertificateStatus {
  const { failedIssuanceAttempts: _f, lastFailureTime: _l, ...rest } = status ?? {};
  const conditions = setCondition(removeCondition(status?.conditions, 'Issuing'), { type: 'Ready', status: 'True', reason: 'Ready', message: 'Certificate is up to date and has not expired', observedGeneration: generation }, now);
  return { ...rest, conditions, notBefore: iso(times.notBefore), notAfter: iso(times.notAfter), renewalTime: iso(times.renewalTime), revision: (status?.revision ?? 0) + 1 };
}

/** Issuance failed: Issuing False/Failed, failedIssuanceAttempts + 1, lastFailureTime now. Ready is left as it was unless there is no certificate. */
export function onFailed(status: CertificateStatus | undefined, message: string, now: Date, generation?: number, hasValidCertificate = false): CertificateStatus {
  let conditions = setCondition(status?.conditions, { type: 'Issuing', status: 'False', reason: 'Failed', message: `The certificate request has failed to complete and will be retried: ${message}`, observedGeneration: generation }, now);
  if (!hasValidCertificate) conditions = setCondition(conditions, { type: 'Ready', status: 'False', reason: 'Failed', message, observedGeneration: generation }, now);
  return { ...status, conditions, failedIssuanceAttempts: (status?.failedIssuanceAttempts ?? 0) + 1, lastFailureTime: iso(now) };
}
