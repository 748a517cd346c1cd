/**
 * The certificates controller: one reconcile per Certificate key (deduplicated; a key never runs
 * twice at once, a change during a run re-runs it once), issuances in parallel up to a bound,
 * a timer per key for the renewal or backoff time decide() returns, and issuer readiness
 * (Issuer/ClusterIssuer status, ACME account). Deciding is lifecycle.ts and status.ts; this file
 * reads the store, calls the issuers and writes through the Writer.
 *
 * Manual re-issue: set the Certificate's `gangplank.dev/renew` annotation to any new value (both
 * modes), or set its Issuing condition to True (cluster mode, as `cmctl renew` does). The value
 * handled last is kept on the Secret (`gangplank.dev/renewed`), so it survives restarts.
 */
import { ariCertId, type RenewalWindow } from './acme/ari.js';
import { join } from 'node:path';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { AnyIssuer, Certificate, CertificateStatus, IssuerStatus } from '../../api/certmanager.js';
import { keyOf, nsName, objectKey } from '../../api/meta.js';
import type { Secret } from '../../api/types.js';
import type { Component } from '../../runtime/lifecycle.js';
import type { Logger } from '../../runtime/logger.js';
import { deepEqual, describeOrigin, type Change, type Store } from '../../store/store.js';
import { refOf, type Writer } from '../../writers/types.js';
import type { DnsProvider } from '../dns/types.js';
import { FileAcmeStateStore, type AcmeStateStore } from './acme/state.js';
import { dnsProviderFor, propagationNameservers } from './dns01-providers.js';
import { createIssuer, IssuerError, issuerSecretNamespace, type CertIssuer, type IssueResult } from './issuers/index.js';
import { AcmeIssuer, type AcmeStep } from './issuers/acme.js';
import { CaIssuer } from './issuers/ca.js';
import { decide, specFingerprint, type Decision, type IssuerType } from './lifecycle.js';
import { asCertificate } from './objects.js';
import { prepareRequest } from './request.js';
import { buildTlsSecret, readTlsSecret } from './secret.js';
import { onFailed, onIssued, onIssuing, setCondition } from './status.js';
import type { PropagationOptions } from './solvers/dns01.js';
import type { Http01Registry } from './solvers/http01.js';
import type { Http01CheckOptions } from './solvers/http01-check.js';

/** Annotation on a Certificate: a new value asks for a re-issue now. */
export const RENEW_ANNOTATION = 'gangplank.dev/renew';
/** Annotation on the Secret: the RENEW_ANNOTATION value handled last. */
export const RENEWED_ANNOTATION = 'gangplank.dev/renewed';

const MAX_TIMER_MS = 2 ** 31 - 1;
const ISSUER_RETRY_BASE_MS = 5_000;
const ISSUER_RETRY_MAX_MS = 5 * 60_000;

export interface CertificatesControllerOptions {
  store: Store;
  writer: Writer;
  logger: Logger;
  registry: Registry;
  /** ACME orders and accounts are persisted here (mode 0600 files); default `<stateDir>/acme`. */
  stateDir: string;
  acmeState?: AcmeStateStore;
  clusterResourceNamespace: string;
  /** Issuances running at once. */
  maxConcurrentIssuances: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** --dns01-recursive-nameservers (host:port) for the DNS-01 self-check. */
  dns01RecursiveNameservers: string[];
  http01: Http01Registry;
  http01Check?: Http01CheckOptions;
  /** Overrides of the DNS-01 self-check timing. */
  propagation?: Omit<PropagationOptions, 'nameservers'>;
  acmePollIntervalMs?: number;
  acmeStatusTimeoutMs?: number;
  /** Replaces the solver -> provider mapping (dns01-providers.ts). */
  dnsProviderFor?: (solver: NonNullable<AnyIssuer['spec']['acme']>['solvers'][number], issuer: AnyIssuer) => DnsProvider;
  /** Observes ACME progress (tests stop a flow here to simulate a crash). */
  onAcmeStep?: (issuer: string, step: AcmeStep, detail: string) => void | Promise<void>;
  /** How long stop() waits for issuances in flight. */
  stopTimeoutMs?: number;
  now?: () => Date;
}

interface IssuerEntry {
  object: AnyIssuer;
  fingerprint: string;
  impl: CertIssuer;
  ready: boolean;
  reason: string;
  message: string;
  failures: number;
}

/** One view row of GET /api/certificates. */
export interface CertificateView {
  namespace: string;
  name: string;
  secret: string;
  names: string[];
  issuer: string;
  ready: string;
  reason?: string;
  message?: string;
  issuing: boolean;
  notAfter?: string;
  renewalTime?: string;
  revision?: number;
  failedIssuanceAttempts?: number;
  lastError?: string;
  /** When the next attempt runs after failures (backoff). */
  nextAttemptTime?: string;
}

class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly limit: number) {}
  async acquire(): Promise<() => void> {
    if (this.active >= this.limit) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active--;
      this.waiting.shift()?.();
    };
  }
}

const cond = (st: CertificateStatus | undefined, type: 'Ready' | 'Issuing') => st?.conditions?.find((c) => c.type === type);

/** From the spec, not the built issuer: an issuer that failed to build still has a type, and the rules for its certificates follow it. */
function issuerTypeOf(issuer: AnyIssuer): IssuerType | undefined {
  if (issuer.spec.acme) return 'acme';
  if (issuer.spec.ca) return 'ca';
  if (issuer.spec.selfSigned) return 'selfSigned';
  return undefined;
}

const iso = (d: Date) => new Date(Math.floor(d.getTime() / 1000) * 1000).toISOString().replace('.000Z', 'Z');
const errMessage = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** How often the CA's renewal window is asked for again (RFC 9773 suggests following Retry-After; hours are typical). */
const ARI_REFRESH_MS = 6 * 3600_000;

export class CertificatesController implements Component {
  private readonly issuers = new Map<string, IssuerEntry>();
  private readonly running = new Map<string, Promise<void>>();
  private readonly dirty = new Set<string>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly failedFingerprint = new Map<string, string>();
  /** When the CA said to come back after the last failure (Retry-After); in memory, like the fingerprint. */
  private readonly retryNotBefore = new Map<string, Date>();
  private readonly lastError = new Map<string, string>();
  private readonly backoffUntil = new Map<string, Date>();
  private readonly renewHandled = new Map<string, string>();
  /** ACME Renewal Information per Certificate key: the certificate it is about and the CA's window. */
  private readonly ari = new Map<string, { certId: string; window?: RenewalWindow; fetched: number }>();
  /** Statuses we wrote, with the object's status at that time (cluster mode: until the watch brings ours back). */
  private readonly written = new Map<string, { status: CertificateStatus; objectStatus: unknown }>();
  private readonly slots: Semaphore;
  private readonly acmeState: AcmeStateStore;
  private unsubscribe?: () => void;
  private stopped = false;
  private readonly now: () => Date;
  private readonly m: {
    expiration: Gauge<'namespace' | 'name'>;
    ready: Gauge<'namespace' | 'name' | 'condition'>;
    attempts: Counter<'result'>;
    acmeRequests: Counter;
  };

  constructor(private readonly o: CertificatesControllerOptions) {
    this.slots = new Semaphore(Math.max(1, o.maxConcurrentIssuances));
    this.acmeState = o.acmeState ?? new FileAcmeStateStore(join(o.stateDir, 'acme'));
    this.now = o.now ?? (() => new Date());
    const registers = [o.registry];
    this.m = {
      expiration: new Gauge({ name: 'gangplank_certificate_expiration_timestamp_seconds', help: 'notAfter of the certificate in each Certificate\'s Secret.', labelNames: ['namespace', 'name'], registers }),
      ready: new Gauge({ name: 'gangplank_certificate_ready_status', help: 'Ready condition of each Certificate (1 for the current condition status).', labelNames: ['namespace', 'name', 'condition'], registers }),
      attempts: new Counter({ name: 'gangplank_certificate_issuance_attempts_total', help: 'Certificate issuances, by result (success, failure).', labelNames: ['result'], registers }),
      acmeRequests: new Counter({ name: 'gangplank_acme_requests_total', help: 'HTTP requests sent to ACME servers.', registers }),
    };
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.unsubscribe = this.o.store.subscribe((changes) => this.onChanges(changes));
    for (const kind of ['Issuer', 'ClusterIssuer', 'Certificate']) for (const e of this.o.store.list(kind)) this.enqueue(e.key);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    const all = Promise.allSettled([...this.running.values()]);
    let timer: NodeJS.Timeout | undefined;
    // An ACME order can take minutes; it is persisted and resumes at the next start.
    await Promise.race([all, new Promise<void>((r) => (timer = setTimeout(r, this.o.stopTimeoutMs ?? 10_000)))]);
    clearTimeout(timer);
  }

  /** Resolves when no reconcile is running or queued (tests, benchmarks). */
  async idle(): Promise<void> {
    while (this.running.size) await Promise.allSettled([...this.running.values()]);
  }

  // -------------------------------------------------------------------------------------------
  // Work queue

  private onChanges(changes: readonly Change[]): void {
    for (const c of changes) {
      if (c.kind === 'Certificate' || c.kind === 'Issuer' || c.kind === 'ClusterIssuer') this.enqueue(c.key);
      if (c.kind === 'Secret') {
        const s = (c.new ?? c.old)!.object as Secret;
        for (const k of this.certificatesUsingSecret(s.metadata.namespace, s.metadata.name)) this.enqueue(k);
        for (const k of this.issuersUsingSecret(s.metadata.namespace, s.metadata.name)) this.enqueue(k);
      }
    }
  }

  /** Queues a key; a key that is running now runs once more when it finishes. */
  enqueue(key: string): void {
    if (this.stopped) return;
    if (this.running.has(key)) {
      this.dirty.add(key);
      return;
    }
    const run = (async () => {
      try {
        do {
          this.dirty.delete(key);
          await this.reconcile(key);
        } while (this.dirty.has(key) && !this.stopped);
      } catch (err) {
        this.o.logger.error({ key, err: errMessage(err) }, 'certificates reconcile failed');
      } finally {
        this.running.delete(key);
      }
    })();
    this.running.set(key, run);
  }

  private setTimer(key: string, at: Date): void {
    clearTimeout(this.timers.get(key));
    const delay = Math.min(Math.max(0, at.getTime() - this.now().getTime()), MAX_TIMER_MS);
    const t = setTimeout(() => {
      this.timers.delete(key);
      this.enqueue(key);
    }, delay);
    t.unref();
    this.timers.set(key, t);
  }

  private clearTimer(key: string): void {
    clearTimeout(this.timers.get(key));
    this.timers.delete(key);
  }

  private reconcile(key: string): Promise<void> {
    const kind = key.slice(0, key.indexOf('/'));
    if (kind === 'Certificate') return this.reconcileCertificate(key);
    return this.reconcileIssuer(key);
  }

  private certificates(): { key: string; cert: Certificate }[] {
    const out: { key: string; cert: Certificate }[] = [];
    for (const e of this.o.store.list('Certificate')) {
      const r = asCertificate(e.object);
      if (r.ok) out.push({ key: e.key, cert: r.object });
    }
    return out;
  }

  private certificatesUsingSecret(namespace: string, name: string): string[] {
    return this.certificates().filter(({ cert }) => cert.metadata.namespace === namespace && cert.spec.secretName === name).map((c) => c.key);
  }

  private issuersUsingSecret(namespace: string, name: string): string[] {
    const out: string[] = [];
    for (const kind of ['Issuer', 'ClusterIssuer']) {
      for (const e of this.o.store.list<AnyIssuer>(kind)) {
        const iss = e.object;
        if (issuerSecretNamespace(iss, this.o.clusterResourceNamespace) !== namespace) continue;
        const refs = [iss.spec.ca?.secretName, iss.spec.acme?.privateKeySecretRef.name, iss.spec.acme?.externalAccountBinding?.keySecretRef.name];
        for (const s of iss.spec.acme?.solvers ?? []) refs.push(s.dns01?.rfc2136?.tsigSecretSecretRef?.name, s.dns01?.route53?.secretAccessKeySecretRef?.name, s.dns01?.route53?.accessKeyIDSecretRef?.name);
        if (refs.includes(name)) out.push(e.key);
      }
    }
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // Issuers

  private issuerKeyOf(cert: Certificate): string {
    const ref = cert.spec.issuerRef;
    return objectKey(ref.kind, ref.kind === 'ClusterIssuer' ? undefined : cert.metadata.namespace, ref.name);
  }

  private buildIssuer(obj: AnyIssuer): CertIssuer {
    const lookup = (ns: string, name: string) => this.o.store.getObject<Secret>('Secret', ns, name);
    const crn = this.o.clusterResourceNamespace;
    const nameservers = propagationNameservers(obj, this.o.dns01RecursiveNameservers);
    return createIssuer(obj, {
      getSecret: lookup,
      clusterResourceNamespace: crn,
      state: this.acmeState,
      dnsProviderFor: this.o.dnsProviderFor ?? ((solver, issuer) => dnsProviderFor(solver, issuer, lookup, crn)),
      http01: this.o.http01,
      propagation: { ...(this.o.propagation ?? {}), ...(nameservers.length ? { nameservers } : {}) },
      http01Check: { ...(this.o.dns01RecursiveNameservers.length ? { nameservers: this.o.dns01RecursiveNameservers } : {}), ...(this.o.http01Check ?? {}) },
      ...(this.o.acmePollIntervalMs !== undefined ? { pollIntervalMs: this.o.acmePollIntervalMs } : {}),
      ...(this.o.acmeStatusTimeoutMs !== undefined ? { statusTimeoutMs: this.o.acmeStatusTimeoutMs } : {}),
      logger: this.o.logger,
      // Per controller, so two controllers in one process (tests) count their own requests.
      onRequest: () => this.m.acmeRequests.inc(),
      ...(this.o.onAcmeStep ? { onStep: (step: AcmeStep, detail: string) => this.o.onAcmeStep!(nsName(obj), step, detail) } : {}),
    });
  }

  private async reconcileIssuer(key: string): Promise<void> {
    const obj = this.o.store.get<AnyIssuer>(key)?.object;
    const before = this.issuers.get(key);
    const wasReady = before?.ready;
    if (!obj) {
      this.issuers.delete(key);
      this.clearTimer(key);
      if (before) this.enqueueCertificatesOf(key);
      return;
    }
    // DNS providers are built once per issuer: a changed credential Secret means a new issuer.
    const fingerprint = JSON.stringify([obj.spec, this.solverSecretsOf(obj)]);
    let e = before && before.fingerprint === fingerprint ? before : undefined;
    try {
      if (!e) e = { object: obj, fingerprint, impl: this.buildIssuer(obj), ready: false, reason: 'Pending', message: 'Checking the issuer', failures: 0 };
      e.object = obj;
      const status: IssuerStatus = {};
      if (e.impl instanceof CaIssuer) {
        await e.impl.check();
        e.reason = 'KeyPairVerified';
        e.message = 'Signing CA verified';
      } else if (e.impl instanceof AcmeIssuer) {
        const res = await e.impl.setup();
        if (res.accountKeySecret && !this.stopped) await this.o.writer.applyObject(res.accountKeySecret);
        e.reason = 'ACMEAccountRegistered';
        e.message = 'The ACME account was registered with the ACME server';
        status.acme = { uri: res.accountUrl, ...(obj.spec.acme?.email ? { lastRegisteredEmail: obj.spec.acme.email } : {}) };
      } else {
        e.reason = 'IsReady';
        e.message = '';
      }
      e.ready = true;
      e.failures = 0;
      this.clearTimer(key);
      await this.writeIssuerStatus(obj, e, status);
    } catch (err) {
      const reason = err instanceof IssuerError ? err.reason : 'ErrInitIssuer';
      const message = errMessage(err);
      if (!e) e = { object: obj, fingerprint, impl: undefined as unknown as CertIssuer, ready: false, reason, message, failures: 0 };
      e.ready = false;
      e.reason = reason;
      e.message = message;
      e.failures++;
      this.o.logger.warn({ issuer: `${obj.kind} ${nsName(obj)}`, reason, err: message }, 'issuer is not ready');
      await this.writeIssuerStatus(obj, e, {});
      // Secrets and spec changes re-run this at once; the timer covers servers that were down.
      this.setTimer(key, new Date(this.now().getTime() + Math.min(ISSUER_RETRY_BASE_MS * 2 ** (e.failures - 1), ISSUER_RETRY_MAX_MS)));
    }
    this.issuers.set(key, e);
    if (!before || wasReady !== e.ready || before !== e) this.enqueueCertificatesOf(key);
  }

  private solverSecretsOf(obj: AnyIssuer): unknown[] {
    const ns = issuerSecretNamespace(obj, this.o.clusterResourceNamespace);
    const out: unknown[] = [];
    for (const s of obj.spec.acme?.solvers ?? []) {
      for (const ref of [s.dns01?.rfc2136?.tsigSecretSecretRef, s.dns01?.route53?.accessKeyIDSecretRef, s.dns01?.route53?.secretAccessKeySecretRef])
        if (ref) out.push(this.o.store.getObject<Secret>('Secret', ns, ref.name)?.data ?? null);
    }
    return out;
  }

  private async writeIssuerStatus(obj: AnyIssuer, e: IssuerEntry, extra: IssuerStatus): Promise<void> {
    if (this.stopped) return;
    const ref = refOf(obj);
    const prev = (this.o.writer.readStatus(ref) ?? obj.status) as IssuerStatus | undefined;
    const prevReady = prev?.conditions?.find((c) => c.type === 'Ready');
    const status = e.ready ? 'True' : 'False';
    const cond = {
      type: 'Ready' as const,
      status: status as 'True' | 'False',
      reason: e.reason,
      message: e.message,
      lastTransitionTime: prevReady && prevReady.status === status && prevReady.lastTransitionTime ? prevReady.lastTransitionTime : iso(this.now()),
      ...(obj.metadata.generation !== undefined ? { observedGeneration: obj.metadata.generation } : {}),
    };
    const next: IssuerStatus = { ...(prev?.acme && !extra.acme ? { acme: prev.acme } : {}), ...extra, conditions: [cond] };
    if (deepEqual(prev, next)) return;
    await this.o.writer.writeStatus(ref, next as Record<string, unknown>);
    if (prevReady?.status !== status)
      await this.o.writer.event(ref, e.ready ? 'Normal' : 'Warning', e.ready ? e.reason : 'ErrInitIssuer', e.ready ? e.message || 'Issuer is ready' : e.message);
  }

  private enqueueCertificatesOf(issuerKey: string): void {
    for (const { key, cert } of this.certificates()) if (this.issuerKeyOf(cert) === issuerKey) this.enqueue(key);
  }

  // -------------------------------------------------------------------------------------------
  // Certificates

  private readStatus(cert: Certificate): CertificateStatus | undefined {
    const fromWriter = this.o.writer.readStatus(refOf(cert)) as CertificateStatus | undefined;
    if (fromWriter) return fromWriter;
    const w = this.written.get(keyOf(cert));
    // Until the object comes back with our status, ours is the newer one.
    if (w && deepEqual(w.objectStatus, cert.status)) return w.status;
    return cert.status;
  }

  private async putStatus(cert: Certificate, status: CertificateStatus): Promise<void> {
    if (this.stopped) return;
    if (deepEqual(this.readStatus(cert), status)) return;
    this.written.set(keyOf(cert), { status, objectStatus: cert.status });
    await this.o.writer.writeStatus(refOf(cert), status as Record<string, unknown>);
    this.setReadyMetric(cert, status);
  }

  private setReadyMetric(cert: Certificate, status: CertificateStatus | undefined): void {
    const ready = status?.conditions?.find((c) => c.type === 'Ready')?.status ?? 'Unknown';
    for (const condition of ['True', 'False', 'Unknown']) this.m.ready.set({ namespace: cert.metadata.namespace, name: cert.metadata.name, condition }, condition === ready ? 1 : 0);
  }

  private forget(key: string): void {
    this.clearTimer(key);
    this.failedFingerprint.delete(key);
    this.retryNotBefore.delete(key);
    this.lastError.delete(key);
    this.backoffUntil.delete(key);
    this.renewHandled.delete(key);
    this.ari.delete(key);
    this.written.delete(key);
    const [, namespace = '', name = ''] = key.split('/');
    this.m.expiration.remove({ namespace, name });
    for (const condition of ['True', 'False', 'Unknown']) this.m.ready.remove({ namespace, name, condition });
  }

  private async reconcileCertificate(key: string): Promise<void> {
    const entry = this.o.store.get(key);
    if (!entry) return this.forget(key);
    const parsed = asCertificate(entry.object);
    if (!parsed.ok) {
      this.o.logger.warn({ certificate: key, errors: parsed.errors }, 'ignoring an invalid Certificate');
      return;
    }
    const cert = parsed.object;
    const now = this.now();
    const gen = cert.metadata.generation;
    const secret = this.o.store.getObject<Secret>('Secret', cert.metadata.namespace, cert.spec.secretName);
    const issuer = this.issuers.get(this.issuerKeyOf(cert));
    let status = this.readStatus(cert);

    // Manual trigger: a new value of the renew annotation.
    const renew = cert.metadata.annotations?.[RENEW_ANNOTATION];
    if (!this.renewHandled.has(key) && secret?.metadata.annotations?.[RENEWED_ANNOTATION]) this.renewHandled.set(key, secret.metadata.annotations[RENEWED_ANNOTATION]);
    if (renew && renew !== this.renewHandled.get(key)) {
      this.renewHandled.set(key, renew);
      status = onIssuing(status, 'ManuallyTriggered', `Re-issuance requested with the ${RENEW_ANNOTATION} annotation (${JSON.stringify(renew)})`, now, gen);
      await this.putStatus(cert, status);
    }

    const ariWindow = await this.ariWindow(key, issuer, secret, now);
    const d = decide({
      certificate: cert,
      secret,
      issuerReady: issuer?.ready ?? false,
      ...(issuer ? { issuerType: issuerTypeOf(issuer.object) } : {}),
      now,
      status,
      ariWindow,
      failedSpecFingerprint: this.failedFingerprint.get(key),
      ...(this.retryNotBefore.has(key) ? { retryNotBefore: this.retryNotBefore.get(key)! } : {}),
      backoffBaseMs: this.o.backoffBaseMs,
      backoffMaxMs: this.o.backoffMaxMs,
    });
    if (d.times) this.m.expiration.set({ namespace: cert.metadata.namespace, name: cert.metadata.name }, Math.floor(d.times.notAfter.getTime() / 1000));
    else this.m.expiration.remove({ namespace: cert.metadata.namespace, name: cert.metadata.name });
    this.setReadyMetric(cert, status);

    switch (d.action) {
      case 'wait':
        if (d.reason === 'Renewal') await this.putStatus(cert, this.upToDate(status, d, now, gen));
        if (d.reason === 'Backoff') this.backoffUntil.set(key, d.until);
        else this.backoffUntil.delete(key);
        this.setTimer(key, d.until);
        return;
      case 'blocked': {
        this.clearTimer(key);
        const ref = cert.spec.issuerRef;
        const why = !issuer ? `${ref.kind} ${ref.name} does not exist` : `${ref.kind} ${ref.name} is not ready: ${issuer.message}`;
        if (!this.hasValidCertificate(secret, now)) status = { ...status, conditions: setCondition(status?.conditions, { type: 'Ready', status: 'False', reason: 'IssuerNotReady', message: `Waiting to issue: ${why}`, observedGeneration: gen }, now) };
        await this.putStatus(cert, status ?? {});
        return;
      }
      case 'issue':
        this.clearTimer(key);
        this.backoffUntil.delete(key);
        await this.issue(key, cert, d, status, issuer!);
        // The next round computes the renewal or backoff timer from what was written.
        this.dirty.add(key);
        return;
    }
  }

  /**
   * The CA's renewal window (ACME Renewal Information) for the certificate in the Secret, fetched
   * when the certificate changes and every ARI_REFRESH_MS; undefined when the CA offers none.
   */
  private async ariWindow(key: string, issuer: IssuerEntry | undefined, secret: Secret | undefined, now: Date): Promise<RenewalWindow | undefined> {
    if (!(issuer?.impl instanceof AcmeIssuer) || !issuer.ready) return undefined;
    const read = readTlsSecret(secret);
    if (!read.ok) return undefined;
    const certId = ariCertId(read.certPem);
    if (!certId) return undefined;
    const known = this.ari.get(key);
    if (known && known.certId === certId && now.getTime() - known.fetched < ARI_REFRESH_MS) return known.window;
    let window: RenewalWindow | undefined;
    try {
      window = await issuer.impl.renewalWindow(read.certPem);
    } catch (err) {
      this.o.logger.debug({ certificate: key, err: errMessage(err) }, 'no ACME renewal information');
    }
    this.ari.set(key, { certId, window, fetched: now.getTime() });
    return window;
  }

  private hasValidCertificate(secret: Secret | undefined, now: Date): boolean {
    const r = readTlsSecret(secret);
    return r.ok && Date.parse(r.leaf.validTo) > now.getTime();
  }

  /** The status of a Certificate whose Secret is up to date (after a restart, or a Secret given by hand). */
  private upToDate(status: CertificateStatus | undefined, d: Decision, now: Date, gen: number | undefined): CertificateStatus {
    const t = d.times!;
    const ready = status?.conditions?.find((c) => c.type === 'Ready');
    let conditions = status?.conditions ?? [];
    if (ready?.status !== 'True') conditions = setCondition(conditions, { type: 'Ready', status: 'True', reason: 'Ready', message: 'Certificate is up to date and has not expired', observedGeneration: gen }, now);
    return { ...status, conditions, notBefore: iso(t.notBefore), notAfter: iso(t.notAfter), renewalTime: iso(t.renewalTime) };
  }

  private async issue(key: string, cert: Certificate, d: Extract<Decision, { action: 'issue' }>, status: CertificateStatus | undefined, issuer: IssuerEntry): Promise<void> {
    const now = this.now();
    const gen = cert.metadata.generation;
    const ref = refOf(cert);
    const secret = this.o.store.getObject<Secret>('Secret', cert.metadata.namespace, cert.spec.secretName);
    const hadValid = this.hasValidCertificate(secret, now);
    let st = onIssuing(status, d.reason, d.message, now, gen);
    // Ready=False says why there is no usable certificate; a retry keeps the last failure's reason.
    if (!hadValid && cond(st, 'Ready')?.status !== 'False') st = { ...st, conditions: setCondition(st.conditions, { type: 'Ready', status: 'False', reason: d.reason, message: d.message, observedGeneration: gen }, now) };
    await this.putStatus(cert, st);
    await this.o.writer.event(ref, 'Normal', 'Issuing', d.message);
    const release = await this.slots.acquire();
    const started = Date.now();
    try {
      if (this.stopped) return;
      const req = await prepareRequest(cert, secret, now);
      // Renewing a certificate the CA gave us a renewal window for: the order says which one it replaces.
      const ari = this.ari.get(key);
      if (ari?.window) req.replaces = ari.certId;
      const res = (await issuer.impl.issue(req)) as IssueResult & { privateKeyPem?: string; accountKeySecret?: Secret };
      if (this.stopped) return;
      if (res.accountKeySecret) await this.o.writer.applyObject(res.accountKeySecret);
      if (!this.o.store.get(key)) return; // deleted while issuing: do not resurrect its Secret
      const existing = this.o.store.getObject<Secret>('Secret', cert.metadata.namespace, cert.spec.secretName);
      const out = buildTlsSecret({ certificate: cert, certPem: res.certPem, keyPem: res.privateKeyPem ?? req.keyPem, ...(res.caPem ? { caPem: res.caPem } : {}), ...(existing ? { existing } : {}) });
      const renew = this.renewHandled.get(key);
      if (renew) out.metadata.annotations = { ...out.metadata.annotations, [RENEWED_ANNOTATION]: renew };
      await this.o.writer.applyObject(out);
      // A Secret of that name from another source (a manifest) wins over ours in the store: say so and
      // back off, instead of issuing again and again for a Secret nobody will see.
      const live = this.o.store.get<Secret>(`Secret/${cert.metadata.namespace}/${cert.spec.secretName}`);
      if (live?.object.data?.['tls.crt'] !== out.data?.['tls.crt'])
        throw new IssuerError(
          'SecretOverridden',
          `the issued certificate was written to Secret ${cert.metadata.namespace}/${cert.spec.secretName}, but ${live ? `another definition of that Secret (${describeOrigin(live.origin)}) takes precedence` : 'the Secret did not appear in gangplank\'s view'}; remove the other definition or change spec.secretName`,
        );
      // The status shows the renewal time the CA suggests for the new certificate from the start.
      const ariWindow = await this.ariWindow(key, issuer, out, this.now());
      const times = decide({ certificate: cert, secret: out, issuerReady: true, issuerType: issuerTypeOf(issuer.object), now: this.now(), status: {}, ...(ariWindow ? { ariWindow } : {}) }).times!;
      st = onIssued(st, times, this.now(), gen);
      await this.putStatus(cert, st);
      this.failedFingerprint.delete(key);
      this.retryNotBefore.delete(key);
      this.lastError.delete(key);
      this.m.attempts.inc({ result: 'success' });
      await this.o.writer.event(ref, 'Normal', 'Issued', 'The certificate has been successfully issued');
      this.o.logger.info({ certificate: nsName(cert), secret: cert.spec.secretName, issuer: `${cert.spec.issuerRef.kind}/${cert.spec.issuerRef.name}`, notAfter: iso(times.notAfter), renewalTime: iso(times.renewalTime), ms: Date.now() - started }, 'certificate issued');
    } catch (err) {
      if (this.stopped) return;
      const message = errMessage(err);
      const reason = err instanceof IssuerError ? err.reason : 'Failed';
      const failedAt = this.now();
      st = onFailed(st, message, failedAt, gen, hadValid);
      if (!hadValid) st = { ...st, conditions: setCondition(st.conditions, { type: 'Ready', status: 'False', reason, message, observedGeneration: gen }, failedAt) };
      await this.putStatus(cert, st);
      this.failedFingerprint.set(key, specFingerprint(cert));
      if (err instanceof IssuerError && err.retryAfter !== undefined) this.retryNotBefore.set(key, new Date(failedAt.getTime() + err.retryAfter * 1000));
      else this.retryNotBefore.delete(key);
      this.lastError.set(key, message);
      this.m.attempts.inc({ result: 'failure' });
      await this.o.writer.event(ref, 'Warning', 'Failed', message);
      this.o.logger.warn({ certificate: nsName(cert), reason, attempts: st.failedIssuanceAttempts, err: message }, 'certificate issuance failed');
    } finally {
      release();
    }
  }

  // -------------------------------------------------------------------------------------------
  // View

  view(): CertificateView[] {
    return this.certificates()
      .map(({ key, cert }) => {
        const st = this.readStatus(cert);
        const ready = st?.conditions?.find((c) => c.type === 'Ready');
        const issuing = st?.conditions?.find((c) => c.type === 'Issuing');
        const lastError = this.lastError.get(key) ?? (issuing?.status === 'False' ? issuing.message : undefined);
        const row: CertificateView = {
          namespace: cert.metadata.namespace,
          name: cert.metadata.name,
          secret: cert.spec.secretName,
          names: [...(cert.spec.commonName && !cert.spec.dnsNames.includes(cert.spec.commonName) ? [cert.spec.commonName] : []), ...cert.spec.dnsNames, ...cert.spec.ipAddresses, ...cert.spec.uris, ...cert.spec.emailAddresses],
          issuer: `${cert.spec.issuerRef.kind}/${cert.spec.issuerRef.name}`,
          ready: ready?.status ?? 'Unknown',
          issuing: issuing?.status === 'True',
        };
        if (ready?.reason) row.reason = ready.reason;
        if (ready?.message) row.message = ready.message;
        if (st?.notAfter) row.notAfter = st.notAfter;
        if (st?.renewalTime) row.renewalTime = st.renewalTime;
        if (st?.revision !== undefined) row.revision = st.revision;
        if (st?.failedIssuanceAttempts) row.failedIssuanceAttempts = st.failedIssuanceAttempts;
        if (lastError) row.lastError = lastError;
        const next = this.backoffUntil.get(key);
        if (next) row.nextAttemptTime = iso(next);
        return row;
      })
      .sort((a, b) => (a.namespace + '/' + a.name < b.namespace + '/' + b.name ? -1 : 1));
  }

  /** Readiness of the issuers, for diagnostics. */
  issuerView(): { issuer: string; ready: boolean; reason: string; message: string }[] {
    return [...this.issuers.values()].map((e) => ({ issuer: `${e.object.kind}/${nsName(e.object)}`, ready: e.ready, reason: e.reason, message: e.message }));
  }
}

