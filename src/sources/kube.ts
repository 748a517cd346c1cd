/**
 * The Kubernetes source: lists and watches the kinds gangplank reads from the API server and keeps
 * the store in step with them, as the manifests source does for files. Each object is validated
 * alone; an invalid one is recorded as rejected (and leaves the store) without affecting the others.
 *
 * Several watches may see the same object (a TLS Secret gangplank owns, an ACME key Secret both
 * owned and referenced): each key remembers which watches hold it, and leaves the store only when
 * none does. The cert-manager kinds are watched once their CRDs exist (a watch on each CRD by
 * name), and Secrets that Issuers name are watched one by one, so no watch covers all Secrets.
 */
import { KubeConfig } from '@kubernetes/client-node';
import type { AnyIssuer } from '../api/certmanager.js';
import { objectKey, type ObjectKey } from '../api/meta.js';
import { parseObject, formatErrors } from '../api/validate.js';
import type { Component } from '../runtime/lifecycle.js';
import type { Logger } from '../runtime/logger.js';
import type { Store } from '../store/store.js';
import { KubeHttp, Reflector, type RawObject, type ReflectorHandler, type ResourceSpec, type WatchEventType } from './kube-watch.js';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE, referencedSecrets } from './kube-secrets.js';

/** What gangplank reads from a cluster. Secrets: TLS ones, and the others gangplank owns (both filtered by the server). */
export const KUBE_RESOURCES: readonly ResourceSpec[] = [
  { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', plural: 'ingresses', namespaced: true },
  { apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', plural: 'ingressclasses', namespaced: false },
  { apiVersion: 'v1', kind: 'Service', plural: 'services', namespaced: true },
  { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', plural: 'endpointslices', namespaced: true },
  { apiVersion: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true, fieldSelector: 'type=kubernetes.io/tls' },
  { apiVersion: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true, fieldSelector: 'type!=kubernetes.io/tls', labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}` },
];

/** Custom resources read when their CRD exists and serves the version. */
export const CERT_MANAGER_RESOURCES: readonly ResourceSpec[] = [
  { apiVersion: 'cert-manager.io/v1', kind: 'Certificate', plural: 'certificates', namespaced: true },
  { apiVersion: 'cert-manager.io/v1', kind: 'Issuer', plural: 'issuers', namespaced: true },
  { apiVersion: 'cert-manager.io/v1', kind: 'ClusterIssuer', plural: 'clusterissuers', namespaced: false },
];

const CRD_RESOURCE = { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', plural: 'customresourcedefinitions', namespaced: false } as const;
/** The holder id of objects the writer wrote, until a watch reports them. */
const WRITER = 'writer';

export interface KubeSourceOptions {
  store: Store;
  logger: Logger;
  /** Path of a kubeconfig; when unset: $KUBECONFIG, ~/.kube/config, or the in-cluster service account. */
  kubeconfig?: string;
  /** An already loaded configuration (takes precedence over `kubeconfig`). */
  kubeConfig?: KubeConfig;
  /** Watch one namespace only (cluster-scoped kinds are still watched cluster-wide). */
  namespace?: string;
  resources?: readonly ResourceSpec[];
  /** Custom resources watched while their CRD exists; default CERT_MANAGER_RESOURCES ([] turns it off). */
  customResources?: readonly ResourceSpec[];
  /** Namespace of the Secrets ClusterIssuers name (--cluster-resource-namespace); default `gangplank`. */
  clusterResourceNamespace?: string;
  /** Store source id; default `kube`. */
  source?: string;
  /** How long start() waits for the first complete list of every resource; default 60 s. */
  syncTimeoutMs?: number;
  /** Passed to each reflector (tests shorten them). */
  watchTimeoutSeconds?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

interface Watch {
  id: string;
  reflector: Reflector;
}

export class KubeSource implements Component {
  private readonly source: string;
  private http: KubeHttp | undefined;
  private readonly watches = new Map<string, Watch>();
  /** Per key: the raw object as each watch (or the writer) last saw it. */
  private readonly holders = new Map<ObjectKey, Map<string, RawObject>>();
  private readonly rejectedKeys = new Set<ObjectKey>();
  /** Custom resource watches by CRD name, while the CRD is established. */
  private readonly crdWatches = new Map<string, ResourceSpec>();
  private readonly issuerSecrets = new Map<ObjectKey, string[]>();
  private started = false;
  private stopped = false;
  /** Called after each list and each event has reached the store. */
  onSync: (() => void) | undefined;

  constructor(private readonly opts: KubeSourceOptions) {
    this.source = opts.source ?? 'kube';
  }

  get kubeHttp(): KubeHttp {
    this.http ??= new KubeHttp(this.opts.kubeConfig ?? loadKubeConfig(this.opts.kubeconfig));
    return this.http;
  }

  /** Starts every list+watch; resolves when each resource's first list is in the store. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const server = this.kubeHttp.server;
    for (const [i, resource] of (this.opts.resources ?? KUBE_RESOURCES).entries()) {
      this.startWatch(`${i}:${resource.plural}.${resource.apiVersion}`, resource, this.opts.namespace);
    }
    for (const cr of this.opts.customResources ?? CERT_MANAGER_RESOURCES) this.watchCrd(cr);

    const timeoutMs = this.opts.syncTimeoutMs ?? 60_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const waiting = [...this.watches.values()].filter((w) => w.reflector.lastError).map((w) => `${w.id}: ${w.reflector.lastError!.message}`);
        reject(new Error(`kube source: no complete list from ${server} within ${timeoutMs} ms${waiting.length ? ` (${waiting.join('; ')})` : ''}; check the kubeconfig, the network and RBAC`));
      }, timeoutMs);
    });
    try {
      // Synced lists start more watches (a CRD that exists, Secrets an Issuer names): wait for those too.
      for (;;) {
        const pending = [...this.watches.values()];
        await Promise.race([Promise.all(pending.map((w) => w.reflector.synced)), timeout]);
        if ([...this.watches.values()].every((w) => pending.includes(w))) break;
      }
    } catch (err) {
      await this.stop();
      throw err;
    } finally {
      clearTimeout(timer);
    }
    this.opts.logger.info({ server, watches: this.watches.size, objects: this.opts.store.keysOf(this.source).size }, 'kube source synced');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.watches.values()].map((w) => w.reflector.stop()));
  }

  /**
   * An object the writer just wrote (the API's answer): into the store at once, so controllers see
   * their own writes before the watch event comes; the watch takes over when it reports the key.
   */
  observe(raw: RawObject): void {
    if (this.stopped || !raw.kind || !raw.metadata?.name) return;
    const key = objectKey(raw.kind, raw.metadata.namespace, raw.metadata.name);
    const held = this.holders.get(key);
    const newest = held ? newestOf(held) : undefined;
    if (newest && !isNewer(raw, newest)) return;
    if (!held && !this.watchesKind(raw.kind)) return;
    const { managedFields: _drop, ...metadata } = raw.metadata;
    this.hold(key, WRITER, { ...raw, metadata });
    this.publish(key);
    this.opts.store.flush();
  }

  /** The uid of an object some watch holds, also when it was rejected (Events attach to it). */
  uidOf(key: ObjectKey): string | undefined {
    const m = this.holders.get(key);
    const raw = m ? newestOf(m) : undefined;
    return (raw?.metadata as { uid?: string } | undefined)?.uid;
  }

  /** The writer deleted an object: out of the store now (the watch's DELETED event confirms it). */
  forget(kind: string, namespace: string | undefined, name: string): void {
    const key = objectKey(kind, namespace, name);
    if (!this.holders.delete(key)) return;
    this.publish(key);
    this.opts.store.flush();
  }

  private watchesKind(kind: string): boolean {
    return [...(this.opts.resources ?? KUBE_RESOURCES), ...this.crdWatches.values()].some((r) => r.kind === kind);
  }

  private startWatch(id: string, resource: ResourceSpec, namespace: string | undefined, handler?: ReflectorHandler): void {
    if (this.stopped || this.watches.has(id)) return;
    const r = new Reflector({
      http: this.kubeHttp,
      resource,
      logger: this.opts.logger,
      namespace,
      watchTimeoutSeconds: this.opts.watchTimeoutSeconds,
      minBackoffMs: this.opts.minBackoffMs,
      maxBackoffMs: this.opts.maxBackoffMs,
      handler: handler ?? {
        onList: (items) => this.replaceHeld(id, items),
        onEvent: (type, obj) => this.onEvent(id, type, obj),
      },
    });
    this.watches.set(id, { id, reflector: r });
    r.start();
  }

  private async stopWatch(id: string): Promise<void> {
    const w = this.watches.get(id);
    if (!w) return;
    this.watches.delete(id);
    await w.reflector.stop();
    this.replaceHeld(id, []);
  }

  /** Watches the CRD of a custom resource by name; its objects are watched while it is established. */
  private watchCrd(cr: ResourceSpec): void {
    const group = cr.apiVersion.split('/')[0]!;
    const version = cr.apiVersion.split('/')[1]!;
    const crdName = `${cr.plural}.${group}`;
    const watchId = `crd:${crdName}`;
    const update = (crd: RawObject | undefined) => {
      const usable = crd !== undefined && crdServes(crd, version);
      const running = this.crdWatches.has(crdName);
      if (usable && !running) {
        this.crdWatches.set(crdName, cr);
        this.opts.logger.info({ crd: crdName }, 'CRD is established; watching its objects');
        this.startWatch(`cr:${crdName}`, cr, this.opts.namespace);
      } else if (!usable && running) {
        this.crdWatches.delete(crdName);
        this.opts.logger.info({ crd: crdName }, 'CRD is gone or not established; no longer watching its objects');
        void this.stopWatch(`cr:${crdName}`);
      }
    };
    this.startWatch(watchId, { ...CRD_RESOURCE, fieldSelector: `metadata.name=${crdName}` }, undefined, {
      onList: (items) => update(items[0]),
      onEvent: (type, obj) => update(type === 'DELETED' ? undefined : obj),
    });
  }

  private hold(key: ObjectKey, holder: string, raw: RawObject): void {
    let m = this.holders.get(key);
    if (!m) this.holders.set(key, (m = new Map()));
    m.set(holder, raw);
  }

  private onEvent(holder: string, type: WatchEventType, raw: RawObject): void {
    const key = keyOfRaw(raw);
    if (!key) return;
    const m = this.holders.get(key);
    // A watch speaks for the key from now on; the writer's copy was only a bridge.
    m?.delete(WRITER);
    if (type === 'DELETED') {
      m?.delete(holder);
      if (m && m.size === 0) this.holders.delete(key);
    } else this.hold(key, holder, raw);
    this.publish(key);
  }

  /** A complete list from one watch: what it no longer lists, it no longer holds. */
  private replaceHeld(holder: string, items: RawObject[]): void {
    const seen = new Set<ObjectKey>();
    for (const raw of items) {
      const key = keyOfRaw(raw);
      if (!key) continue;
      seen.add(key);
      this.holders.get(key)?.delete(WRITER);
      this.hold(key, holder, raw);
      this.publish(key);
    }
    for (const [key, m] of [...this.holders]) {
      if (seen.has(key) || !m.has(holder)) continue;
      m.delete(holder);
      if (m.size === 0) this.holders.delete(key);
      this.publish(key);
    }
    this.opts.store.flush();
  }

  /** Puts the newest copy of a key into the store (or takes it out when nothing holds it). */
  private publish(key: ObjectKey): void {
    const { store, logger } = this.opts;
    const m = this.holders.get(key);
    const raw = m && m.size ? newestOf(m) : undefined;
    const kind = key.slice(0, key.indexOf('/'));
    if (!raw) {
      store.remove(this.source, key);
      this.clearRejection(key);
    } else {
      const res = parseObject(raw);
      if (res.ok) {
        store.upsert(this.source, res.object);
        this.clearRejection(key);
      } else {
        // An object that became invalid leaves the store, as it would if its file had changed.
        store.remove(this.source, key);
        const { namespace, name } = raw.metadata ?? {};
        store.setRejected(this.source, key, { origin: { source: this.source }, kind, namespace, name, errors: res.errors });
        this.rejectedKeys.add(key);
        logger.warn({ kind, namespace, name, errors: formatErrors(res.errors) }, 'invalid object from the API server rejected');
      }
    }
    if (kind === 'Issuer' || kind === 'ClusterIssuer') this.syncIssuerSecrets(key);
    this.onSync?.();
  }

  private clearRejection(key: ObjectKey): void {
    if (!this.rejectedKeys.delete(key)) return;
    this.opts.store.setRejected(this.source, key, undefined);
  }

  /** Keeps one watch per Secret that some Issuer names (refcounted over issuers). */
  private syncIssuerSecrets(issuerKey: ObjectKey): void {
    const issuer = this.opts.store.get<AnyIssuer>(issuerKey)?.object;
    const refs = issuer ? referencedSecrets(issuer, this.opts.clusterResourceNamespace ?? 'gangplank') : [];
    const before = this.issuerSecrets.get(issuerKey) ?? [];
    if (refs.length) this.issuerSecrets.set(issuerKey, refs);
    else this.issuerSecrets.delete(issuerKey);
    const wanted = new Set([...this.issuerSecrets.values()].flat());
    for (const ref of refs) {
      const [namespace, name] = ref.split('/') as [string, string];
      this.startWatch(`secret:${ref}`, { apiVersion: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true, fieldSelector: `metadata.name=${name}` }, namespace);
    }
    for (const ref of before) if (!wanted.has(ref)) void this.stopWatch(`secret:${ref}`);
  }
}

function keyOfRaw(raw: RawObject): ObjectKey | undefined {
  const name = raw.metadata?.name;
  return raw.kind && name ? objectKey(raw.kind, raw.metadata?.namespace, name) : undefined;
}

/** resourceVersions are opaque, but etcd's are integers: compare them as such when they are. */
function isNewer(a: RawObject, b: RawObject): boolean {
  const ra = a.metadata?.resourceVersion ?? '';
  const rb = b.metadata?.resourceVersion ?? '';
  if (/^\d+$/.test(ra) && /^\d+$/.test(rb)) return BigInt(ra) > BigInt(rb);
  return ra !== rb;
}

function newestOf(m: Map<string, RawObject>): RawObject | undefined {
  let best: RawObject | undefined;
  for (const raw of m.values()) if (!best || isNewer(raw, best)) best = raw;
  return best;
}

/** A CRD serves `version` once it is Established. */
function crdServes(crd: RawObject, version: string): boolean {
  const spec = crd.spec as { versions?: { name?: string; served?: boolean }[] } | undefined;
  const status = crd.status as { conditions?: { type?: string; status?: string }[] } | undefined;
  const established = status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;
  return established && (spec?.versions ?? []).some((v) => v.name === version && v.served === true);
}

/** Loads a kubeconfig from a path, "in-cluster", or the default chain (KUBECONFIG, ~/.kube/config, in-cluster). */
export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  if (path === 'in-cluster') kc.loadFromCluster();
  else if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  if (!kc.getCurrentCluster()) throw new Error(`kubeconfig ${path ?? '(default)'} has no current cluster; set current-context`);
  return kc;
}
