/**
 * Compiles the store's Ingresses, Services and EndpointSlices into route tables. Incremental: a
 * change rebuilds only the hosts it touches, so one Ingress among ten thousand costs one host.
 */
import { keyOf, nsName, sortOlderFirst, type ObjectKey } from '../../api/meta.js';
import { SERVICE_NAME_LABEL, type EndpointSlice, type Ingress, type IngressBackend, type IngressClass, type PathType, type Service } from '../../api/types.js';
import type { Change, Store } from '../../store/store.js';
import { SetMap } from '../../store/setmap.js';
import { backendId, resolveBackend } from './backends.js';
import { classView, ingressIsOurs, type ClassConfig, type ClassView } from './classes.js';
import { effectiveType, prefixKey } from './paths.js';
import { CompiledTable, NO_ROUTES, type HostRoutes } from './table.js';
import type { Backend, Route, TlsBinding } from './types.js';
import { routerOptions } from '../../api/traefik.js';

export const SLICES_BY_SERVICE = 'endpointslices-by-service';

/** One path of one rule of one Ingress, before backends are resolved. */
interface RuleSpec {
  host: string;
  path: string;
  pathType: PathType;
  backend: IngressBackend;
  ingress: Ingress;
  tls: boolean;
  sslRedirect: boolean;
  entrypoints?: string[];
  priority?: number;
}

const SSL_REDIRECT_ANNOTATIONS = ['gangplank.dev/ssl-redirect', 'nginx.ingress.kubernetes.io/ssl-redirect'];

/** Hosts an Ingress's spec.tls covers, with the Secret each is served with. An entry without hosts covers every rule host. */
export function tlsBindings(ing: Ingress): Map<string, string | undefined> {
  const out = new Map<string, string | undefined>();
  const ns = ing.metadata.namespace;
  for (const t of ing.spec.tls ?? []) {
    const secret = t.secretName ? `${ns}/${t.secretName}` : undefined;
    const hosts = t.hosts?.length ? t.hosts : (ing.spec.rules ?? []).map((r) => r.host).filter((h): h is string => !!h);
    for (const h of hosts) if (!out.has(h)) out.set(h, secret);
  }
  return out;
}

export interface RouteConflict {
  host: string;
  path: string;
  pathType: PathType;
  winner: string;
  loser: string;
  message: string;
}

/**
 * Every Route has the same properties in the same order (absent ones undefined), whether it has
 * TLS, entrypoints or a priority: the proxy reads routes on every request, and reads of objects
 * in more than four layouts are compiled to generic (slow) lookups.
 */
function makeRoute(r: Pick<Route, 'id' | 'host' | 'path' | 'pathType' | 'ingress' | 'backend'> & { [K in 'isDefault' | 'tls' | 'sslRedirect' | 'entrypoints' | 'priority']?: Route[K] | undefined }): Route {
  // The fields a proxied request reads come first, so that they share cache lines.
  return {
    id: r.id,
    sslRedirect: r.sslRedirect,
    entrypoints: r.entrypoints,
    metricsOwner: undefined,
    metricsRow: -1,
    upstreamOwner: undefined,
    upstreamEp: undefined,
    upstreamPool: undefined,
    backend: r.backend,
    host: r.host,
    path: r.path,
    pathType: r.pathType,
    ingress: r.ingress,
    isDefault: r.isDefault,
    tls: r.tls,
    priority: r.priority,
  };
}

export function registerRouteIndexes(store: Store): void {
  store.addIndex(SLICES_BY_SERVICE, 'EndpointSlice', (o) => {
    const svc = o.metadata.labels?.[SERVICE_NAME_LABEL];
    return svc ? [serviceKey(o.metadata.namespace, svc)] : [];
  });
}

/** `ns/service`: the key of a Service in the EndpointSlice index and in serviceUsers (joined flat, see objectKey). */
function serviceKey(ns: string | undefined, service: string): string {
  return [ns ?? '', service].join('/');
}

function serviceRef(ns: string, b: IngressBackend): string {
  return serviceKey(ns, b.service.name);
}

export class RouteCompiler {
  private view: ClassView = { ours: new Set(), defaultIsOurs: false };
  private readonly rules = new Map<ObjectKey, RuleSpec[]>();
  private readonly defaults = new Map<ObjectKey, RuleSpec>();
  /** Ingresses with spec.tls; the TLS map is rebuilt from them on every Ingress change. */
  private readonly tlsIngresses = new Set<ObjectKey>();
  private tls = new Map<string, TlsBinding>();
  private tlsConflicts: RouteConflict[] = [];
  private readonly hostIngresses = new SetMap<ObjectKey>();
  /** `ns/service` → rule hosts whose routes use it ('\0default' for the default backend). */
  private readonly serviceUsers = new SetMap<string>();
  private readonly hostConflicts = new Map<string, RouteConflict[]>();
  private exact = new Map<string, HostRoutes>();
  private wildcard = new Map<string, HostRoutes>();
  private hostless: HostRoutes | undefined;
  private fallback: Route | undefined;
  private fallbackConflicts: RouteConflict[] = [];
  private version = 0;
  private table: CompiledTable = new CompiledTable(0, new Map(), new Map(), undefined, undefined);

  constructor(
    private readonly store: Store,
    private readonly cfg: ClassConfig,
  ) {}

  current(): CompiledTable {
    return this.table;
  }

  conflicts(): RouteConflict[] {
    return [...[...this.hostConflicts.values()].flat(), ...this.fallbackConflicts, ...this.tlsConflicts];
  }

  /** Builds everything from the store. */
  rebuild(): CompiledTable {
    this.view = classView(this.store.objects<IngressClass>('IngressClass'), this.cfg);
    this.rules.clear();
    this.defaults.clear();
    this.tlsIngresses.clear();
    this.hostIngresses.clear();
    this.serviceUsers.clear();
    this.hostConflicts.clear();
    this.exact = new Map();
    this.wildcard = new Map();
    this.hostless = undefined;
    for (const ing of this.store.objects<Ingress>('Ingress')) this.addIngress(ing);
    const hosts = new Set(this.hostIngresses.keys());
    this.buildTls();
    return this.publish(hosts, true);
  }

  /** Applies a batch of store changes; returns the new table, or the same one when nothing routing-relevant changed. */
  apply(changes: readonly Change[]): CompiledTable {
    if (changes.some((c) => c.kind === 'IngressClass')) return this.rebuild();
    const hosts = new Set<string>();
    let fallbackDirty = false;
    let tlsDirty = false;
    for (const c of changes) {
      if (c.kind === 'Ingress') {
        tlsDirty = true;
        const key = c.key;
        const oldRules = this.rules.get(key);
        if (oldRules) for (const r of oldRules) hosts.add(r.host);
        if (this.defaults.has(key)) fallbackDirty = true;
        this.removeIngress(key);
        const ing = c.new?.object as Ingress | undefined;
        if (ing) {
          this.addIngress(ing);
          for (const r of this.rules.get(key) ?? []) hosts.add(r.host);
          if (this.defaults.has(key)) fallbackDirty = true;
        }
      } else if (c.kind === 'Service' || c.kind === 'EndpointSlice') {
        const o = (c.new ?? c.old)!.object;
        const names = new Set<string>();
        if (c.kind === 'Service') names.add(serviceKey(o.metadata.namespace, o.metadata.name));
        for (const e of [c.old, c.new]) {
          const svc = e?.object.metadata.labels?.[SERVICE_NAME_LABEL];
          if (c.kind === 'EndpointSlice' && svc) names.add(serviceKey(e!.object.metadata.namespace, svc));
        }
        for (const n of names) for (const h of this.serviceUsers.get(n)) (h === '\0default' ? (fallbackDirty = true) : hosts.add(h));
      }
    }
    if (!hosts.size && !fallbackDirty && !tlsDirty) return this.table;
    if (tlsDirty) this.buildTls();
    return this.publish(hosts, fallbackDirty);
  }

  private addIngress(ing: Ingress): void {
    if (!ingressIsOurs(ing, this.view)) return;
    const key = keyOf(ing);
    const ns = ing.metadata.namespace;
    const specs: RuleSpec[] = [];
    const router = routerOptions(ing.metadata.annotations);
    const tlsHosts = tlsBindings(ing);
    const redirectOff = SSL_REDIRECT_ANNOTATIONS.some((a) => ing.metadata.annotations?.[a]?.trim().toLowerCase() === 'false');
    for (const rule of ing.spec.rules ?? []) {
      const host = rule.host ?? '';
      const tls = tlsHosts.has(host) || router.tls;
      const extra = { tls, sslRedirect: tls && !redirectOff, entrypoints: router.entrypoints, priority: router.priority };
      for (const p of rule.http?.paths ?? []) specs.push({ host, path: p.path, pathType: p.pathType, backend: p.backend, ingress: ing, ...extra });
    }
    if (tlsHosts.size) this.tlsIngresses.add(key);
    else this.tlsIngresses.delete(key);
    // Kept at its size (grown by push, it has room for 17).
    this.rules.set(key, specs.slice());
    for (const s of specs) {
      this.hostIngresses.add(s.host, key);
      this.serviceUsers.add(serviceRef(ns, s.backend), s.host);
    }
    if (ing.spec.defaultBackend) {
      this.defaults.set(key, { host: '', path: '/', pathType: 'Prefix', backend: ing.spec.defaultBackend, ingress: ing, tls: false, sslRedirect: false });
      this.serviceUsers.add(serviceRef(ns, ing.spec.defaultBackend), '\0default');
    }
  }

  private removeIngress(key: ObjectKey): void {
    const old = this.rules.get(key);
    if (old) {
      for (const r of old) this.hostIngresses.delete(r.host, key);
      this.rules.delete(key);
    }
    this.defaults.delete(key);
    this.tlsIngresses.delete(key);
    // serviceUsers keeps stale hosts; a stale entry only costs a needless host rebuild and is pruned there.
  }

  private publish(hosts: Set<string>, fallbackDirty: boolean): CompiledTable {
    const exact = new Map(this.exact);
    const wildcard = new Map(this.wildcard);
    const memo = new Map<string, Backend>();
    for (const host of hosts) {
      const built = this.buildHost(host, memo);
      if (host === '') this.hostless = built;
      else if (host.startsWith('*.')) built ? wildcard.set(host.slice(2), built) : wildcard.delete(host.slice(2));
      else built ? exact.set(host, built) : exact.delete(host);
    }
    if (fallbackDirty) this.buildFallback(memo);
    this.exact = exact;
    this.wildcard = wildcard;
    // The root host index changes only for the exact hosts rebuilt here: the previous table's,
    // with those changed (each change to one Ingress would otherwise hash and place every host).
    const rootChanges = new Map<string, Route | undefined>();
    for (const host of hosts) if (host !== '' && !host.startsWith('*.')) rootChanges.set(host, exact.get(host)?.root);
    const roots = this.table.roots.withChanges(rootChanges);
    this.table = new CompiledTable(++this.version, exact, wildcard, this.hostless, this.fallback, this.tls, roots);
    return this.table;
  }

  private backendFor(ns: string, b: IngressBackend, memo: Map<string, Backend>): Backend {
    const id = backendId(ns, b.service.name, b.service.port);
    let be = memo.get(id);
    if (!be) {
      const svc = this.store.getObject<Service>('Service', ns, b.service.name);
      const slices = this.store.byIndex<EndpointSlice>(SLICES_BY_SERVICE, serviceRef(ns, b)).map((e) => e.object);
      be = resolveBackend(ns, b.service.name, b.service.port, svc, slices);
      memo.set(id, be);
    }
    return be;
  }

  private buildHost(host: string, memo: Map<string, Backend>): HostRoutes | undefined {
    this.hostConflicts.delete(host);
    if (this.hostIngresses.count(host) === 0) return undefined;
    const own: RuleSpec[] = [];
    for (const k of this.hostIngresses.get(host)) for (const r of this.rules.get(k) ?? []) if (r.host === host) own.push(r);
    // Oldest Ingress first: the first definition of an identical host+path+type wins.
    const specs = own.length === 1 ? own : sortOlderFirst(own, (s) => s.ingress);
    const exact = new Map<string, Route>();
    const prefix = new Map<string, Route>();
    const conflicts: RouteConflict[] = [];
    let prioritized = false;
    for (const s of specs) {
      const type = effectiveType(s.pathType);
      const map = type === 'Exact' ? exact : prefix;
      const k = type === 'Exact' ? s.path : prefixKey(s.path);
      const prev = map.get(k);
      const ns = s.ingress.metadata.namespace;
      if (prev) {
        const loser = nsName(s.ingress);
        const winner = `${prev.ingress.namespace}/${prev.ingress.name}`;
        if (loser !== winner)
          conflicts.push({ host, path: s.path, pathType: s.pathType, winner, loser, message: `${host || '*'}${s.path} (${s.pathType}) is already routed by the older Ingress ${winner}; the rule of ${loser} is ignored` });
        continue;
      }
      const route = makeRoute({
        // Joined: flat (see objectKey), kept for every route.
        id: [host || '*', type, type === 'Exact' ? s.path : k || '/'].join('|'),
        host,
        path: s.path,
        pathType: s.pathType,
        ingress: { namespace: ns, name: s.ingress.metadata.name },
        backend: this.backendFor(ns, s.backend, memo),
        tls: s.tls ? true : undefined,
        sslRedirect: s.tls ? s.sslRedirect : undefined,
        entrypoints: s.entrypoints,
        priority: s.priority,
      });
      if (s.priority !== undefined) prioritized = true;
      map.set(k, route);
    }
    if (conflicts.length) this.hostConflicts.set(host, conflicts);
    const root = !prioritized && exact.size === 0 && prefix.size === 1 ? prefix.get('') : undefined;
    return { host, exact: exact.size === 0 ? NO_ROUTES : exact, prefix: root !== undefined || prefix.size === 0 ? NO_ROUTES : prefix, prioritized, root };
  }

  private buildTls(): void {
    const found = [...this.tlsIngresses].map((k) => this.store.get<Ingress>(k)?.object).filter((i): i is Ingress => !!i);
    const ings = sortOlderFirst(found, (i) => i);
    const tls = new Map<string, TlsBinding>();
    const conflicts: RouteConflict[] = [];
    for (const ing of ings) {
      for (const [host, secret] of tlsBindings(ing)) {
        const prev = tls.get(host);
        if (prev) {
          if (prev.secret !== secret)
            conflicts.push({ host, path: '', pathType: 'Prefix', winner: `${prev.ingress.namespace}/${prev.ingress.name}`, loser: nsName(ing), message: `TLS for ${host} is already set by the older Ingress ${prev.ingress.namespace}/${prev.ingress.name} (Secret ${prev.secret ?? 'default certificate'}); the Secret ${secret ?? '(none)'} named by ${nsName(ing)} is not used` });
          continue;
        }
        tls.set(host, { host, secret, ingress: { namespace: ing.metadata.namespace, name: ing.metadata.name } });
      }
    }
    this.tls = tls;
    this.tlsConflicts = conflicts;
  }

  private buildFallback(memo: Map<string, Backend>): void {
    const specs = sortOlderFirst(this.defaults.values(), (s) => s.ingress);
    this.fallbackConflicts = [];
    const first = specs[0];
    if (!first) {
      this.fallback = undefined;
      return;
    }
    const winner = nsName(first.ingress);
    for (const s of specs.slice(1))
      this.fallbackConflicts.push({ host: '', path: '/', pathType: 'Prefix', winner, loser: nsName(s.ingress), message: `the default backend is already set by the older Ingress ${winner}; spec.defaultBackend of ${nsName(s.ingress)} is ignored` });
    this.fallback = makeRoute({
      id: 'default',
      host: '',
      path: '/',
      pathType: 'Prefix',
      ingress: { namespace: first.ingress.metadata.namespace, name: first.ingress.metadata.name },
      backend: this.backendFor(first.ingress.metadata.namespace, first.backend, memo),
      isDefault: true,
    });
  }
}
