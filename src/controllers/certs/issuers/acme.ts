/**
 * The ACME issuer (acme-client's low-level Client). Every step that matters after a restart is
 * written to the state store before it is acted on: the certificate key and CSR, the order URL,
 * each authorization's chosen challenge and phase. A restart at any point resumes the same order.
 */
import { createHash, generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import * as acme from 'acme-client';
import type { Logger } from 'pino';
import type { AcmeSolver, AnyIssuer, Certificate } from '../../../api/certmanager.js';
import { nsName } from '../../../api/meta.js';
import type { Secret } from '../../../api/types.js';
import type { DnsProvider } from '../../dns/types.js';
import type { AcmeStateStore } from '../acme/state.js';
import { selectSolver, solverType, type ChallengeType } from '../acme/solvers.js';
import { AcmeTransport } from '../acme/transport.js';
import { ariCertId, parseRenewalInfo, type RenewalWindow } from '../acme/ari.js';
import { encodePrivateKey } from '../keys.js';
import { challengeRecordName, cleanupTxt, followCname, presentTxt, waitForTxt, type PropagationOptions } from '../solvers/dns01.js';
import type { Http01Registry } from '../solvers/http01.js';
import { waitForHttp01, type Http01CheckOptions } from '../solvers/http01-check.js';
import { splitPemChain } from '../x509.js';
import { IssuerError, issuerSecretNamespace, secretValue, type CertIssuer, type IssueRequest, type IssueResult, type SecretGetter } from './types.js';

const generate = promisify(generateKeyPair);

export type AcmeStep = 'account-registered' | 'order-persisted' | 'challenge-presented' | 'challenge-accepted' | 'authorizations-valid' | 'finalized';

export interface AcmeIssuerOptions {
  issuer: AnyIssuer;
  getSecret: SecretGetter;
  state: AcmeStateStore;
  /** Maps a dns01 solver (rfc2136, route53) to a provider; the caller owns credentials and provider lifecycles. */
  dnsProviderFor?: (solver: AcmeSolver, issuer: AnyIssuer) => DnsProvider | Promise<DnsProvider>;
  /** Where HTTP-01 key authorizations are published for the router to serve. */
  http01?: Http01Registry;
  /** DNS-01 self-check settings (nameservers to ask, deadline). */
  propagation?: PropagationOptions;
  /** HTTP-01 self-check settings (port the CA uses, resolver, deadline). */
  http01Check?: Http01CheckOptions;
  clusterResourceNamespace?: string;
  /** Poll interval for authorization and order status. Default 1 s. */
  pollIntervalMs?: number;
  /** Deadline for an authorization or order to leave pending/processing. Default 5 min. */
  statusTimeoutMs?: number;
  logger?: Logger;
  /** Called after each persisted step; a throw there stops the flow as a crash would (tests). */
  onStep?: (step: AcmeStep, detail: string) => void | Promise<void>;
  /** Called once per HTTP request sent to the ACME server (metrics). */
  onRequest?: () => void;
}

export interface AcmeSetupResult {
  accountUrl: string;
  /** A newly generated account key Secret, which the caller must write (cert-manager layout: `tls.key`). */
  accountKeySecret?: Secret;
}

interface AuthzState {
  url: string;
  /** The name as in the Certificate (`*.` kept for wildcards) or an IP address. */
  name: string;
  type: ChallengeType;
  solverIndex: number;
  challengeUrl: string;
  token: string;
  /** What we publish: the TXT value (already hashed for dns-01) or the HTTP key authorization. */
  value: string;
  recordName?: string;
  phase: 'presenting' | 'presented' | 'accepted';
}

interface OrderState {
  version: 1;
  fingerprint: string;
  keyPem: string;
  csrPem: string;
  orderUrl?: string;
  authzs: Record<string, AuthzState>;
  finalized?: boolean;
  createdAt: string;
}

interface AccountKeyState {
  keyPem: string;
}

interface AccountState {
  accountUrl: string;
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

/** The ACME identifiers of a Certificate: its DNS names (the common name must be one of them) and IP addresses. */
export function orderIdentifiers(c: Certificate): { type: 'dns' | 'ip'; value: string }[] {
  const dns = [...new Set(c.spec.dnsNames.map((d) => d.toLowerCase()))];
  if (c.spec.commonName && !dns.includes(c.spec.commonName.toLowerCase()))
    throw new IssuerError('InvalidSpec', `Certificate ${nsName(c)}: spec.commonName ${c.spec.commonName} must also be listed in spec.dnsNames for an ACME issuer`, { retryable: false });
  if (c.spec.uris.length || c.spec.emailAddresses.length)
    throw new IssuerError('InvalidSpec', `Certificate ${nsName(c)}: ACME issuers cannot certify spec.uris or spec.emailAddresses; remove them`, { retryable: false });
  return [...dns.map((value) => ({ type: 'dns' as const, value })), ...c.spec.ipAddresses.map((value) => ({ type: 'ip' as const, value }))];
}

function challengeError(a: acme.Authorization): string {
  for (const ch of a.challenges) {
    const e = ch.error as { type?: string; detail?: string } | undefined;
    if (e) return `${(e.type ?? '').replace('urn:ietf:params:acme:error:', '')}: ${e.detail ?? ''}`.trim();
  }
  return `authorization is ${a.status}`;
}

export class AcmeIssuer implements CertIssuer {
  readonly type = 'acme' as const;
  private client?: acme.Client;
  private accountUrl?: string;
  private readonly providers = new Map<number, DnsProvider>();
  /** This issuer's own connection to its ACME server (TLS trust, pool, error mapping). */
  private readonly transport: AcmeTransport;

  constructor(private readonly o: AcmeIssuerOptions) {
    const spec = o.issuer.spec.acme;
    if (!spec) throw new Error(`${o.issuer.kind} ${nsName(o.issuer)} has no spec.acme`);
    const caPem = spec.caBundle ? Buffer.from(spec.caBundle, 'base64').toString('utf8') : undefined;
    this.transport = new AcmeTransport(spec.server, { ...(caPem ? { caPem } : {}), skipTLSVerify: spec.skipTLSVerify ?? false }, o.onRequest);
  }

  private get spec() {
    return this.o.issuer.spec.acme!;
  }

  private get where() {
    return `${this.o.issuer.kind} ${nsName(this.o.issuer)}`;
  }

  private async step(step: AcmeStep, detail: string) {
    this.o.logger?.debug({ issuer: this.where, step, detail }, 'acme step');
    await this.o.onStep?.(step, detail);
  }

  /** Finds or registers the ACME account (what makes an ACME Issuer Ready). */
  async setup(): Promise<AcmeSetupResult> {
    const ns = issuerSecretNamespace(this.o.issuer, this.o.clusterResourceNamespace);
    const ref = this.spec.privateKeySecretRef;
    const keyName = ref.key || 'tls.key';
    const pendingKey = `account-key/${ns}/${ref.name}`;
    const secret = await this.o.getSecret(ns, ref.name);
    let keyPem = secretValue(secret, keyName);
    let accountKeySecret: Secret | undefined;
    if (!keyPem) {
      if (this.spec.disableAccountKeyGeneration)
        throw new IssuerError('ErrAccountKeyMissing', `${this.where}: Secret ${ns}/${ref.name} (key ${keyName}) does not exist and disableAccountKeyGeneration is set; create it`, { retryable: true });
      // A key we generated but the caller has not written yet: reuse it, or the CA sees a new account each time.
      const pending = await this.o.state.get<AccountKeyState>(pendingKey);
      keyPem = pending?.keyPem;
      if (!keyPem) {
        const { privateKey } = await generate('rsa', { modulusLength: 2048 });
        keyPem = encodePrivateKey(privateKey, 'PKCS1');
        await this.o.state.put<AccountKeyState>(pendingKey, { keyPem });
      }
      accountKeySecret = {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: ref.name, namespace: ns },
        type: 'Opaque',
        data: { [keyName]: Buffer.from(keyPem).toString('base64') },
      };
    } else await this.o.state.delete(pendingKey);

    let eab: { kid: string; hmacKey: string } | undefined;
    if (this.spec.externalAccountBinding) {
      const e = this.spec.externalAccountBinding;
      const s = await this.o.getSecret(ns, e.keySecretRef.name);
      const hmacKey = secretValue(s, e.keySecretRef.key || 'secret');
      if (!hmacKey) throw new IssuerError('ErrEABSecretMissing', `${this.where}: externalAccountBinding.keySecretRef ${ns}/${e.keySecretRef.name} (key ${e.keySecretRef.key || 'secret'}) does not exist`);
      eab = { kid: e.keyID, hmacKey: hmacKey.trim() };
    }

    const accountStateKey = `account/${sha(this.spec.server).slice(0, 16)}/${sha(keyPem).slice(0, 16)}`;
    const known = await this.o.state.get<AccountState>(accountStateKey);
    const client = this.transport.attach(
      new acme.Client({
        directoryUrl: this.spec.server,
        accountKey: keyPem,
        ...(known ? { accountUrl: known.accountUrl } : {}),
        ...(eab ? { externalAccountBinding: eab } : {}),
      }),
    );
    let accountUrl = known?.accountUrl;
    if (!accountUrl) {
      // Look the key up first: creating an account for a key the CA already knows fails on some CAs (Pebble).
      try {
        await client.createAccount({ onlyReturnExisting: true });
        accountUrl = client.getAccountUrl();
      } catch (err) {
        if (err instanceof IssuerError) throw err;
        try {
          await client.createAccount({ termsOfServiceAgreed: true, ...(this.spec.email ? { contact: [`mailto:${this.spec.email}`] } : {}) });
          accountUrl = client.getAccountUrl();
        } catch (err2) {
          if (err2 instanceof IssuerError) throw err2;
          throw new IssuerError('ErrRegisterACMEAccount', `${this.where}: failed to register an ACME account with ${this.spec.server}: ${(err2 as Error).message}`, { cause: err2 });
        }
      }
      await this.o.state.put<AccountState>(accountStateKey, { accountUrl });
      await this.step('account-registered', accountUrl);
    }
    this.client = client;
    this.accountUrl = accountUrl;
    return { accountUrl, ...(accountKeySecret ? { accountKeySecret } : {}) };
  }

  private async provider(index: number, solver: AcmeSolver): Promise<DnsProvider> {
    let p = this.providers.get(index);
    if (!p) {
      if (!this.o.dnsProviderFor) throw new IssuerError('NoDnsProvider', `${this.where}: solver ${index} uses dns01 but no DNS provider factory is configured`, { retryable: false });
      p = await this.o.dnsProviderFor(solver, this.o.issuer);
      this.providers.set(index, p);
    }
    return p;
  }

  private async present(a: AuthzState): Promise<void> {
    const solver = this.spec.solvers[a.solverIndex];
    if (!solver) throw new IssuerError('SolverChanged', `${this.where}: solver ${a.solverIndex} no longer exists`);
    if (a.type === 'dns-01') await presentTxt(await this.provider(a.solverIndex, solver), a.recordName!, a.value);
    else {
      if (!this.o.http01) throw new IssuerError('NoHttp01Responder', `${this.where}: an http01 solver was chosen but gangplank's HTTP-01 responder is not configured`, { retryable: false });
      this.o.http01.set(a.token, a.value);
    }
  }

  private async cleanup(a: AuthzState): Promise<void> {
    const solver = this.spec.solvers[a.solverIndex];
    try {
      if (a.type === 'dns-01' && solver) await cleanupTxt(await this.provider(a.solverIndex, solver), a.recordName!, a.value);
      else this.o.http01?.delete(a.token);
    } catch (err) {
      // A leftover challenge record is harmless; failing the issuance over it is not.
      this.o.logger?.warn({ issuer: this.where, name: a.name, err: (err as Error).message }, 'could not clean up ACME challenge');
    }
  }

  private async cleanupAll(st: OrderState): Promise<void> {
    for (const a of Object.values(st.authzs)) await this.cleanup(a);
  }

  private fingerprint(c: Certificate): string {
    const ids = orderIdentifiers(c).map((i) => `${i.type}:${i.value}`).sort();
    return sha(JSON.stringify([this.spec.server, this.accountUrl, ids])).slice(0, 24);
  }

  /** The state key of a Certificate's order. */
  static orderKey(c: Certificate): string {
    return `order/${c.metadata.namespace}/${c.metadata.name}`;
  }

  async issue(req: IssueRequest): Promise<IssueResult & { privateKeyPem?: string; accountKeySecret?: Secret }> {
    let accountKeySecret: Secret | undefined;
    if (!this.client) accountKeySecret = (await this.setup()).accountKeySecret;
    try {
      const r = await this.runOrder(req);
      return { ...r, ...(accountKeySecret ? { accountKeySecret } : {}) };
    } catch (err) {
      if (err instanceof IssuerError) throw err;
      throw new IssuerError('ACMEError', `${this.where}: ACME issuance for Certificate ${nsName(req.certificate)} failed: ${(err as Error).message}`, { cause: err });
    }
  }

  private async runOrder(req: IssueRequest): Promise<IssueResult & { privateKeyPem?: string }> {
    const client = this.client!;
    const c = req.certificate;
    const key = AcmeIssuer.orderKey(c);
    const fp = this.fingerprint(c);
    const put = (s: OrderState) => this.o.state.put(key, s);

    let st = await this.o.state.get<OrderState>(key);
    let order: acme.Order | undefined;
    if (st && st.fingerprint !== fp) {
      // The names changed since that order was opened: drop it.
      await this.cleanupAll(st);
      await this.o.state.delete(key);
      st = undefined;
    }
    if (st?.orderUrl) {
      try {
        order = await client.getOrder({ url: st.orderUrl } as acme.Order);
      } catch (err) {
        if (err instanceof IssuerError) throw err;
        order = undefined;
      }
      if (!order || order.status === 'invalid') {
        this.o.logger?.info({ certificate: nsName(c), order: st.orderUrl, status: order?.status }, 'persisted ACME order is gone or invalid; opening a new one');
        await this.cleanupAll(st);
        st = { ...st, orderUrl: undefined, authzs: {}, finalized: false };
        order = undefined;
      }
    }
    if (!st) {
      st = { version: 1, fingerprint: fp, keyPem: encodePrivateKey(req.privateKey, c.spec.privateKey.encoding), csrPem: req.csrPem, authzs: {}, createdAt: new Date().toISOString() };
      await put(st);
    }
    if (!order) {
      // A renewal names the certificate it replaces when the CA offers ARI (RFC 9773 section 5).
      const identifiers = orderIdentifiers(c);
      type OrderPayload = Parameters<typeof client.createOrder>[0];
      if (req.replaces) {
        try {
          order = await client.createOrder({ identifiers, replaces: req.replaces } as OrderPayload);
        } catch (err) {
          if (err instanceof IssuerError) throw err;
          // `replaces` is advice to the CA. A CA that refuses it (the certificate was already replaced,
          // e.g. by an order whose result we lost in a crash, or it does not know the certificate)
          // must not block the renewal: order again without it.
          this.o.logger?.warn({ certificate: nsName(c), replaces: req.replaces, err: (err as Error).message }, 'the ACME server refused the renewal order naming the certificate it replaces; ordering without replaces');
          order = undefined;
        }
      }
      order ??= await client.createOrder({ identifiers } as OrderPayload);
      st.orderUrl = order.url;
      await put(st);
      await this.step('order-persisted', order.url);
    }

    if (order.status === 'pending') await this.solve(order, st, key, c, put);

    order = await client.getOrder(order);
    if (order.status === 'ready' && !st.finalized) {
      order = await client.finalizeOrder(order, st.csrPem);
      st.finalized = true;
      await put(st);
      await this.step('finalized', order.url);
    }
    order = await this.waitOrder(order);
    const pem = await client.getCertificate(order, this.spec.preferredChain || undefined);
    await this.o.state.delete(key);
    const chain = splitPemChain(pem);
    if (!chain.length) throw new IssuerError('ACMEError', `${this.where}: the ACME server returned no certificate for order ${order.url}`);
    const usedOtherKey = st.keyPem !== encodePrivateKey(req.privateKey, c.spec.privateKey.encoding);
    return { certPem: chain.join(''), ...(usedOtherKey ? { privateKeyPem: st.keyPem } : {}) };
  }

  private async solve(order: acme.Order, st: OrderState, key: string, c: Certificate, put: (s: OrderState) => Promise<void>): Promise<void> {
    const client = this.client!;
    let authzs = await client.getAuthorizations(order);
    for (const a of authzs) {
      if (a.status === 'valid') continue;
      if (a.status !== 'pending') await this.failOrder(st, key, `authorization for ${a.identifier.value} is ${a.status}: ${challengeError(a)}`);
      let as = st.authzs[a.url];
      if (!as) {
        const name = (a.wildcard ? '*.' : '') + a.identifier.value;
        const offered = a.challenges.map((ch) => ch.type).filter((t): t is ChallengeType => t === 'dns-01' || t === 'http-01');
        const pick = selectSolver(this.spec.solvers, name, c.metadata.labels ?? {}, offered);
        if (!pick)
          throw new IssuerError('NoSolver', `${this.where}: no ACME solver matches ${name} with a challenge the CA offers (${offered.join(', ') || 'none'}); add a solver whose selector covers it`, { retryable: false });
        const type = solverType(pick.solver);
        const ch = a.challenges.find((x) => x.type === type)!;
        // For dns-01 this is already the base64url SHA-256 digest to publish.
        const value = await client.getChallengeKeyAuthorization(ch);
        let recordName: string | undefined;
        if (type === 'dns-01') {
          recordName = challengeRecordName(a.identifier.value);
          if (pick.solver.dns01?.cnameStrategy === 'Follow') recordName = await followCname(recordName, this.o.propagation);
        }
        as = { url: a.url, name, type, solverIndex: pick.index, challengeUrl: ch.url, token: ch.token, value, phase: 'presenting', ...(recordName ? { recordName } : {}) };
        st.authzs[a.url] = as;
        await put(st);
      }
      // Idempotent, and after a restart it re-publishes HTTP-01 tokens the old process held in memory.
      await this.present(as);
      if (as.phase === 'presenting') {
        as.phase = 'presented';
        await put(st);
        await this.step('challenge-presented', as.name);
      }
    }
    for (const a of authzs) {
      const as = st.authzs[a.url];
      if (!as || a.status !== 'pending') continue;
      const ch = a.challenges.find((x) => x.url === as.challengeUrl);
      if (as.phase === 'presented' && ch?.status === 'pending') {
        if (as.type === 'dns-01') {
          try {
            await waitForTxt(as.recordName!, as.value, this.o.propagation);
          } catch (err) {
            throw new IssuerError('PropagationTimeout', `${this.where}: DNS-01 self-check for ${as.name}: ${(err as Error).message}`, { cause: err });
          }
        } else {
          try {
            await waitForHttp01(as.name, as.token, as.value, this.o.http01Check);
          } catch (err) {
            throw new IssuerError('SelfCheckFailed', `${this.where}: ${(err as Error).message}; check that gangplank's router receives this host's port-80 traffic`, { cause: err });
          }
        }
        await client.completeChallenge(ch as Parameters<acme.Client["completeChallenge"]>[0]);
      }
      if (as.phase !== 'accepted') {
        as.phase = 'accepted';
        await put(st);
        await this.step('challenge-accepted', as.name);
      }
    }
    const deadline = Date.now() + (this.o.statusTimeoutMs ?? 300_000);
    for (;;) {
      authzs = await client.getAuthorizations(order);
      const bad = authzs.find((a) => a.status !== 'valid' && a.status !== 'pending');
      if (bad) await this.failOrder(st, key, `authorization for ${(bad.wildcard ? '*.' : '') + bad.identifier.value} is ${bad.status}: ${challengeError(bad)}`);
      if (authzs.every((a) => a.status === 'valid')) break;
      if (Date.now() > deadline) throw new IssuerError('ACMETimeout', `${this.where}: authorizations of order ${order.url} still pending after ${(this.o.statusTimeoutMs ?? 300_000) / 1000}s`);
      await sleep(this.o.pollIntervalMs ?? 1000);
    }
    await this.step('authorizations-valid', order.url);
    // Only after the CA is done: remove exactly our values.
    await this.cleanupAll(st);
  }

  /**
   * The CA's suggested renewal window for an issued certificate (RFC 9773), or undefined when the
   * directory has no renewalInfo (Pebble 2.4, many CAs) or the certificate has no AKI.
   */
  async renewalWindow(certPem: string): Promise<RenewalWindow | undefined> {
    const id = ariCertId(certPem);
    if (!id) return undefined;
    const dir = (await this.transport.getJson(this.spec.server)) as { renewalInfo?: unknown } | null;
    if (typeof dir?.renewalInfo !== 'string' || !dir.renewalInfo) return undefined;
    return parseRenewalInfo(await this.transport.getJson(`${dir.renewalInfo.replace(/\/$/, '')}/${id}`));
  }

  /** The CA rejected the order: clean up and forget it, so the next attempt opens a new one. */
  private async failOrder(st: OrderState, key: string, why: string): Promise<never> {
    await this.cleanupAll(st);
    await this.o.state.delete(key);
    throw new IssuerError('Failed', `${this.where}: the ACME server rejected the order: ${why}`, { retryable: true });
  }

  private async waitOrder(order: acme.Order): Promise<acme.Order> {
    const deadline = Date.now() + (this.o.statusTimeoutMs ?? 300_000);
    for (;;) {
      if (order.status === 'valid') return order;
      if (order.status === 'invalid') throw new IssuerError('Failed', `${this.where}: order ${order.url} became invalid: ${JSON.stringify(order.error ?? {})}`);
      if (Date.now() > deadline) throw new IssuerError('ACMETimeout', `${this.where}: order ${order.url} still ${order.status} after ${(this.o.statusTimeoutMs ?? 300_000) / 1000}s`);
      await sleep(this.o.pollIntervalMs ?? 1000);
      order = await this.client!.getOrder(order);
    }
  }
}
