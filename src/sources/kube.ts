/**
 * The Kubernetes source: lists and watches the kinds gangplank reads from the API server and keeps
 * the store in step with them, as the manifests source does for files. Each object is validated
 * alone; an invalid one is recorded as rejected (and leaves the store) without affecting the others.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { keyOf, objectKey, type ObjectKey } from '../api/meta.js';
import { parseObject, formatErrors } from '../api/validate.js';
import type { Component } from '../runtime/lifecycle.js';
import type { Logger } from '../runtime/logger.js';
import type { Store } from '../store/store.js';
import { KubeHttp, Reflector, type RawObject, type ResourceSpec, type WatchEventType } from './kube-watch.js';

/** What gangplank reads from a cluster. Only TLS Secrets, filtered by the server. */
export const KUBE_RESOURCES: readonly ResourceSpec[] = [
  { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', plural: 'ingresses', namespaced: true },
  { apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', plural: 'ingressclasses', namespaced: false },
  { apiVersion: 'v1', kind: 'Service', plural: 'services', namespaced: true },
  { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', plural: 'endpointslices', namespaced: true },
  { apiVersion: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true, fieldSelector: 'type=kubernetes.io/tls' },
];

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
  /** Store source id; default `kube`. */
  source?: string;
  /** How long start() waits for the first complete list of every resource; default 60 s. */
  syncTimeoutMs?: number;
  /** Passed to each reflector (tests shorten them). */
  watchTimeoutSeconds?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export class KubeSource implements Component {
  private readonly source: string;
  private readonly reflectors: Reflector[] = [];
  /** Rejected objects per kind, so that a later fix or delete clears the rejection. */
  private readonly rejectedKeys = new Map<string, Set<ObjectKey>>();
  private started = false;

  constructor(private readonly opts: KubeSourceOptions) {
    this.source = opts.source ?? 'kube';
  }

  /** Starts every list+watch; resolves when each resource's first list is in the store. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const http = new KubeHttp(this.opts.kubeConfig ?? loadKubeConfig(this.opts.kubeconfig));
    const server = http.server;
    for (const resource of this.opts.resources ?? KUBE_RESOURCES) {
      const r = new Reflector({
        http,
        resource,
        logger: this.opts.logger,
        namespace: this.opts.namespace,
        watchTimeoutSeconds: this.opts.watchTimeoutSeconds,
        minBackoffMs: this.opts.minBackoffMs,
        maxBackoffMs: this.opts.maxBackoffMs,
        handler: {
          onList: (items) => this.replaceKind(resource.kind, items),
          onEvent: (type, obj) => this.apply(type, obj),
        },
      });
      this.reflectors.push(r);
      r.start();
    }
    const timeoutMs = this.opts.syncTimeoutMs ?? 60_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const waiting = this.reflectors
          .map((r, i) => ({ r, res: (this.opts.resources ?? KUBE_RESOURCES)[i]! }))
          .filter(({ r }) => r.lastError)
          .map(({ r, res }) => `${res.plural}: ${r.lastError!.message}`);
        reject(new Error(`kube source: no complete list from ${server} within ${timeoutMs} ms${waiting.length ? ` (${waiting.join('; ')})` : ''}; check the kubeconfig, the network and RBAC`));
      }, timeoutMs);
    });
    try {
      await Promise.race([Promise.all(this.reflectors.map((r) => r.synced)), timeout]);
    } catch (err) {
      await this.stop();
      throw err;
    } finally {
      clearTimeout(timer);
    }
    this.opts.logger.info({ server, resources: this.reflectors.length, objects: this.opts.store.keysOf(this.source).size }, 'kube source synced');
  }

  async stop(): Promise<void> {
    await Promise.all(this.reflectors.map((r) => r.stop()));
  }

  /** A complete list of one kind: upsert what is there, remove what is gone. */
  private replaceKind(kind: string, items: RawObject[]): void {
    const { store } = this.opts;
    const seen = new Set<ObjectKey>();
    for (const raw of items) {
      const key = this.apply('ADDED', raw);
      if (key) seen.add(key);
    }
    const prefix = `${kind}/`;
    for (const key of [...store.keysOf(this.source)]) if (key.startsWith(prefix) && !seen.has(key)) store.remove(this.source, key);
    const rejected = this.rejectedKeys.get(kind);
    if (rejected) for (const key of [...rejected]) if (!seen.has(key)) this.clearRejection(kind, key);
    store.flush();
  }

  /** Applies one object event to the store; returns the object's key. */
  private apply(type: WatchEventType, raw: RawObject): ObjectKey | undefined {
    const { store, logger } = this.opts;
    const kind = raw.kind ?? '';
    const name = raw.metadata?.name;
    if (!name) return undefined;
    const namespace = raw.metadata?.namespace;
    const key = objectKey(kind, namespace, name);
    if (type === 'DELETED') {
      store.remove(this.source, key);
      this.clearRejection(kind, key);
      return key;
    }
    const res = parseObject(raw);
    if (res.ok) {
      store.upsert(this.source, res.object);
      this.clearRejection(kind, keyOf(res.object));
      return key;
    }
    // An object that became invalid leaves the store, as it would if its file had changed.
    store.remove(this.source, key);
    store.setRejected(this.source, key, { origin: { source: this.source }, kind, namespace, name, errors: res.errors });
    let set = this.rejectedKeys.get(kind);
    if (!set) this.rejectedKeys.set(kind, (set = new Set()));
    set.add(key);
    logger.warn({ kind, namespace, name, errors: formatErrors(res.errors) }, 'invalid object from the API server rejected');
    return key;
  }

  private clearRejection(kind: string, key: ObjectKey): void {
    const set = this.rejectedKeys.get(kind);
    if (!set?.delete(key)) return;
    this.opts.store.setRejected(this.source, key, undefined);
  }
}

/** Loads a kubeconfig from a path, or the default chain (KUBECONFIG, ~/.kube/config, in-cluster). */
export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  if (!kc.getCurrentCluster()) throw new Error(`kubeconfig ${path ?? '(default)'} has no current cluster; set current-context`);
  return kc;
}
