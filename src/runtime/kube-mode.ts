/**
 * What `gangplank run --kubeconfig` changes in the wiring: objects come from the API server (list
 * and watch) instead of manifest files, outputs go back to it (statuses, Secrets, Events) instead
 * of the state directory, and problems users look for with `kubectl get events` (an invalid
 * object, a missing backend, a route or DNS name conflict) are reported as Events on the object.
 */
import type { ObjectKey } from '../api/meta.js';
import { formatErrors } from '../api/validate.js';
import type { DnsController } from '../controllers/dns/controller.js';
import type { RoutesController } from '../controllers/routes/controller.js';
import { KubeSource } from '../sources/kube.js';
import type { Store } from '../store/store.js';
import { KubeWriter } from '../writers/kube.js';
import type { ObjectRef, Writer } from '../writers/types.js';
import type { RunConfig } from './config.js';
import type { Component } from './lifecycle.js';
import type { Logger } from './logger.js';

export interface KubeMode {
  source: KubeSource;
  writer: KubeWriter;
  /** The Events reporter; start it after the routes and DNS controllers. */
  reporter(routes: RoutesController, dns: DnsController | undefined): Component;
}

export function kubeMode(cfg: RunConfig, store: Store, logger: Logger): KubeMode {
  const source = new KubeSource({
    store,
    logger: logger.child({ component: 'kube' }),
    kubeconfig: cfg.kubeconfig,
    namespace: cfg.namespace || undefined,
    clusterResourceNamespace: cfg.clusterResourceNamespace,
  });
  const writer = new KubeWriter({
    http: source.kubeHttp,
    store,
    logger: logger.child({ component: 'writer' }),
    observe: (raw) => source.observe(raw),
    forget: (kind, namespace, name) => source.forget(kind, namespace, name),
  });
  return {
    source,
    writer,
    reporter: (routes, dns) => new ProblemEventReporter({ store, writer, routes, dns, uidOf: (key) => source.uidOf(key), logger: logger.child({ component: 'events' }) }),
  };
}

/** One problem worth an Event. `id` is stable while the problem lasts. */
export interface Problem {
  id: string;
  ref: ObjectRef;
  reason: 'Invalid' | 'MissingBackend' | 'RouteConflict' | 'DNSConflict';
  message: string;
}

export interface ProblemSources {
  store: Store;
  routes: Pick<RoutesController, 'current' | 'conflicts'>;
  dns?: Pick<DnsController, 'view'> | undefined;
}

/** The problems present now, from the store's rejections, the route table and the DNS plan. */
export function currentProblems({ store, routes, dns }: ProblemSources): Problem[] {
  const out: Problem[] = [];
  for (const r of store.rejected()) {
    if (!r.kind || !r.name) continue;
    out.push({ id: `invalid|${r.kind}|${r.namespace ?? ''}|${r.name}|${formatErrors(r.errors)}`, ref: { kind: r.kind, namespace: r.namespace, name: r.name }, reason: 'Invalid', message: `ignored: ${formatErrors(r.errors)}` });
  }
  for (const route of routes.current().routes()) {
    const err = route.backend.error;
    if (!err) continue;
    const { namespace, name } = route.ingress;
    out.push({ id: `backend|${namespace}|${name}|${route.backend.id}|${err}`, ref: { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', namespace, name }, reason: 'MissingBackend', message: `${route.host || '*'}${route.path}: ${err}` });
  }
  for (const c of routes.conflicts()) {
    const [namespace, name] = c.loser.split('/') as [string, string];
    out.push({ id: `route|${c.loser}|${c.message}`, ref: { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', namespace, name }, reason: 'RouteConflict', message: c.message });
  }
  for (const c of dns?.view().conflicts ?? []) {
    // owner is ExternalDNS's resource label: `ingress/<ns>/<name>` or `service/<ns>/<name>`.
    const [kind, namespace, name] = c.loser.owner.split('/') as [string, string, string];
    const ref: ObjectRef = kind === 'service' ? { apiVersion: 'v1', kind: 'Service', namespace, name } : { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', namespace, name };
    out.push({ id: `dns|${c.loser.owner}|${c.message}`, ref, reason: 'DNSConflict', message: c.message });
  }
  return out;
}

export interface ProblemEventReporterOptions extends ProblemSources {
  writer: Writer;
  logger: Logger;
  /** The uid of an object the store does not hold (a rejected one), so Events attach to it. */
  uidOf?: (key: ObjectKey) => string | undefined;
  /** How often the DNS plan is checked besides store changes; default 5 s. */
  intervalMs?: number;
}

/**
 * Records one Warning Event when a problem appears (not on every change while it lasts); a problem
 * that goes away and comes back is recorded again, and the writer counts the repeat.
 */
export class ProblemEventReporter implements Component {
  private known = new Set<string>();
  private unsubscribe: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private scheduled: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly o: ProblemEventReporterOptions) {}

  /** Ids of the problems seen at the last check (recorded once each). */
  get active(): ReadonlySet<string> {
    return this.known;
  }

  async start(): Promise<void> {
    this.check();
    this.unsubscribe = this.o.store.subscribe(() => this.schedule());
    this.timer = setInterval(() => this.check(), this.o.intervalMs ?? 5000);
    this.timer.unref();
    await this.chain;
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    clearInterval(this.timer);
    clearTimeout(this.scheduled);
    await this.chain;
  }

  /** Controllers react to the same change first (the route table compiles on the same notification). */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = setTimeout(() => {
      this.scheduled = undefined;
      this.check();
    }, 50);
  }

  private check(): void {
    let problems: Problem[];
    try {
      problems = currentProblems(this.o);
    } catch (err) {
      this.o.logger.warn({ err: (err as Error).message }, 'cannot compute the problems to report');
      return;
    }
    const next = new Set<string>();
    for (const p of problems) {
      next.add(p.id);
      if (this.known.has(p.id)) continue;
      const uid = this.o.store.getObject(p.ref.kind, p.ref.namespace, p.ref.name)?.metadata.uid ?? this.o.uidOf?.(`${p.ref.kind}/${p.ref.namespace ?? ''}/${p.ref.name}`);
      const ref = uid ? { ...p.ref, uid } : p.ref;
      this.chain = this.chain.then(() => this.o.writer.event(ref, 'Warning', p.reason, p.message)).catch((err: Error) => this.o.logger.warn({ err: err.message }, 'cannot record an Event'));
    }
    this.known = next;
  }
}
