/**
 * The certificates of the websecure entrypoint, kept in step with the route table's TLS bindings
 * and the store's Secrets. One SecureContext per Secret revision, built when the revision first
 * appears and reused by every handshake; a renewed Secret gets a new context for new handshakes
 * while established connections keep theirs.
 */
import type { SecureContext } from 'node:tls';
import { parseKey } from '../api/meta.js';
import type { Secret } from '../api/types.js';
import type { RouteTable, TlsBinding } from '../controllers/routes/types.js';
import type { Logger } from '../runtime/logger.js';
import type { Store } from '../store/store.js';
import type { DefaultCertificate } from './default-cert.js';
import { canonicalName, lookupName } from './match.js';
import { buildContext, setContextTicketKeys } from './options.js';
import { planCertificates, type TlsProblem } from './plan.js';
import { checkTicketKeys } from './ticket-keys.js';

const EXPIRY_CHECK_MS = 60_000;

export class CertStore {
  /** Host (exact or `*.suffix`) → the context serving it. */
  private byHost = new Map<string, SecureContext>();
  /** Contexts by Secret object: an object is one revision (the store replaces objects on change). */
  private contexts = new Map<Secret, SecureContext>();
  /** `namespace/name` of every Secret some binding names. */
  private referenced = new Set<string>();
  private bindings: ReadonlyMap<string, TlsBinding> | undefined;
  private problemList: TlsProblem[] = [];
  private reported = new Set<string>();
  private nextExpiry = Number.POSITIVE_INFINITY;
  private unsubscribe: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  readonly defaultContext: SecureContext;
  /** For the server's SNICallback: never throws, answers from memory. */
  readonly sniCallback: (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) => void;

  constructor(
    private readonly store: Store,
    readonly defaultCert: DefaultCertificate,
    private ticketKeys: Buffer,
    private readonly logger: Logger,
  ) {
    this.defaultContext = buildContext(defaultCert.certPem, defaultCert.keyPem, ticketKeys);
    this.sniCallback = (servername, cb) => cb(null, this.contextFor(canonicalName(servername)));
  }

  start(): void {
    this.unsubscribe ??= this.store.subscribe((changes) => {
      for (const c of changes) {
        if (c.kind !== 'Secret') continue;
        const k = parseKey(c.key);
        if (this.referenced.has(`${k.namespace}/${k.name}`)) {
          this.rebuild();
          return;
        }
      }
    });
    this.timer ??= setInterval(() => {
      if (Date.now() >= this.nextExpiry) this.rebuild();
    }, EXPIRY_CHECK_MS).unref();
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Follows a new route table; rebuilds only when its TLS bindings changed. */
  setTable(t: RouteTable): void {
    if (t.tls === this.bindings) return;
    this.bindings = t.tls;
    this.rebuild();
  }

  /** The context for a canonical (lower-case, no trailing dot) host name. */
  contextFor(host: string): SecureContext {
    return lookupName(this.byHost, host) ?? this.defaultContext;
  }

  problems(): readonly TlsProblem[] {
    return this.problemList;
  }

  /** Rotates the ticket keys on every context in use (the server's own is the caller's). */
  setTicketKeys(keys: Buffer): void {
    this.ticketKeys = checkTicketKeys(keys);
    setContextTicketKeys(this.defaultContext, keys);
    for (const ctx of this.contexts.values()) setContextTicketKeys(ctx, keys);
  }

  private rebuild(): void {
    const plan = planCertificates(this.bindings, (ns, name) => this.store.getObject<Secret>('Secret', ns, name));
    const byHost = new Map<string, SecureContext>();
    const contexts = new Map<Secret, SecureContext>();
    const referenced = new Set<string>();
    for (const [host, hc] of plan.hosts) {
      if (hc.binding.secret !== undefined) referenced.add(hc.binding.secret);
      if (hc.secret === undefined || hc.cert === undefined) continue;
      let ctx = contexts.get(hc.secret) ?? this.contexts.get(hc.secret);
      if (ctx === undefined) {
        try {
          ctx = buildContext(hc.cert.certPem, hc.cert.keyPem, this.ticketKeys);
          this.logger.info({ secret: hc.binding.secret, names: hc.cert.names, notAfter: new Date(hc.cert.notAfter).toISOString() }, 'certificate loaded');
        } catch (err) {
          const message = `Secret ${hc.binding.secret}: TLS refused the certificate or key: ${(err as Error).message}; serving the default certificate for ${host}`;
          plan.problems.push({ kind: 'secret', host, secret: hc.binding.secret!, ingress: `${hc.binding.ingress.namespace}/${hc.binding.ingress.name}`, message });
          continue;
        }
      }
      contexts.set(hc.secret, ctx);
      byHost.set(host, ctx);
    }
    this.byHost = byHost;
    this.contexts = contexts;
    this.referenced = referenced;
    this.nextExpiry = plan.nextExpiry;
    this.problemList = plan.problems;
    this.report(plan.problems);
  }

  /** Logs each problem once, when it first appears. */
  private report(problems: readonly TlsProblem[]): void {
    const now = new Set<string>();
    for (const p of problems) {
      const id = `${p.kind}|${p.host}|${p.message}`;
      now.add(id);
      if (!this.reported.has(id)) this.logger.warn({ host: p.host, secret: p.secret, ingress: p.ingress, problem: p.kind }, p.message);
    }
    this.reported = now;
  }
}
