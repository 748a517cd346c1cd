/**
 * The in-cluster writer: statuses go to the status subresource, owned objects (Secrets,
 * shim Certificates) are written by server-side apply (field manager `gangplank`, forced, so no
 * read-modify-write and no lost update), and Events are core/v1 Events deduplicated by count, as
 * client-go's recorder does. Every write retries with backoff on throttling, server errors and
 * dropped connections. What the API answers is handed to the source at once (`observe`), so
 * controllers see their own writes before the watch event arrives.
 */
import { hostname } from 'node:os';
import type { TypedObject } from '../api/meta.js';
import type { Logger } from '../runtime/logger.js';
import type { Store } from '../store/store.js';
import type { KubeHttp, RawObject } from '../sources/kube-watch.js';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../sources/kube-secrets.js';
import type { EventType, ObjectRef, RecordedEvent, Writer } from './types.js';

const MAX_EVENTS = 1000;
const APPLY = 'application/apply-patch+yaml';
const MERGE = 'application/merge-patch+json';

/** Where a kind lives in the API. Kinds not listed are looked up by discovery. */
const KNOWN: Record<string, { apiVersion: string; plural: string; namespaced: boolean }> = {
  Secret: { apiVersion: 'v1', plural: 'secrets', namespaced: true },
  ConfigMap: { apiVersion: 'v1', plural: 'configmaps', namespaced: true },
  Service: { apiVersion: 'v1', plural: 'services', namespaced: true },
  Event: { apiVersion: 'v1', plural: 'events', namespaced: true },
  Ingress: { apiVersion: 'networking.k8s.io/v1', plural: 'ingresses', namespaced: true },
  IngressClass: { apiVersion: 'networking.k8s.io/v1', plural: 'ingressclasses', namespaced: false },
  Certificate: { apiVersion: 'cert-manager.io/v1', plural: 'certificates', namespaced: true },
  Issuer: { apiVersion: 'cert-manager.io/v1', plural: 'issuers', namespaced: true },
  ClusterIssuer: { apiVersion: 'cert-manager.io/v1', plural: 'clusterissuers', namespaced: false },
  Lease: { apiVersion: 'coordination.k8s.io/v1', plural: 'leases', namespaced: true },
};

/** A write the API server refused, with its HTTP status and reason. */
export class KubeWriteError extends Error {
  readonly code = 'GP_KUBE_WRITE';
  constructor(
    message: string,
    readonly status: number,
    readonly reason?: string,
  ) {
    super(message);
    this.name = 'KubeWriteError';
  }
}

export interface KubeWriterOptions {
  http: KubeHttp;
  store: Store;
  logger: Logger;
  /** Receives every object the API answered a write with (KubeSource.observe). */
  observe?: (raw: RawObject) => void;
  /** Told about every object deleted (KubeSource.forget). */
  forget?: (kind: string, namespace: string | undefined, name: string) => void;
  fieldManager?: string;
  /** Event source component; default `gangplank`. */
  component?: string;
  /** Attempts per write (first try included); default 5. */
  attempts?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

interface EventCacheEntry {
  name: string;
  namespace: string;
  count: number;
  /** Serializes writes of one deduplicated Event. */
  chain: Promise<void>;
}

export class KubeWriter implements Writer {
  private readonly events: RecordedEvent[] = [];
  private readonly eventCache = new Map<string, EventCacheEntry>();
  private readonly discovered = new Map<string, { plural: string; namespaced: boolean }>();
  private readonly fieldManager: string;
  private readonly component: string;
  private readonly instance = hostname();

  constructor(private readonly o: KubeWriterOptions) {
    this.fieldManager = o.fieldManager ?? 'gangplank';
    this.component = o.component ?? 'gangplank';
  }

  /** Nothing to load: what gangplank wrote is in the cluster and comes back through the watches. */
  async load(): Promise<void> {}

  readStatus(): undefined {
    return undefined;
  }

  async writeStatus(ref: ObjectRef, status: Record<string, unknown>): Promise<void> {
    const apiVersion = this.apiVersionOf(ref);
    const path = `${await this.pathOf(ref.kind, apiVersion, ref.namespace)}/${encodeURIComponent(ref.name)}/status`;
    const body = {
      apiVersion,
      kind: ref.kind,
      // The uid is a precondition: a status never lands on a newer object of the same name.
      metadata: { name: ref.name, ...(ref.namespace ? { namespace: ref.namespace } : {}), ...(ref.uid ? { uid: ref.uid } : {}) },
      status,
    };
    const res = await this.call('PATCH', `${path}?${this.applyQuery()}`, body, APPLY, `status of ${describe(ref)}`, [404, 422]);
    const message = (res.body as { message?: string } | undefined)?.message ?? '';
    if (res.status === 422 && /metadata\.uid/.test(message))
      throw new KubeWriteError(`status of ${describe(ref)}: the object was deleted and made again (uid ${ref.uid} is gone); this status is for the old one and is not written`, 409, 'Conflict');
    if (res.status === 422) throw new KubeWriteError(`status of ${describe(ref)}: HTTP 422: ${message}; the status does not fit the object's schema`, 422, 'Invalid');
    if (res.status === 404) {
      this.o.logger.debug({ object: describe(ref) }, 'object is gone; its status is not written');
      return;
    }
    this.o.observe?.(res.body as RawObject);
  }

  async applyObject(object: TypedObject): Promise<void> {
    const { metadata, ...rest } = object as TypedObject & { status?: unknown };
    delete (rest as { status?: unknown }).status;
    const body = {
      ...rest,
      metadata: {
        name: metadata.name,
        ...(metadata.namespace ? { namespace: metadata.namespace } : {}),
        labels: { ...metadata.labels, [MANAGED_BY_LABEL]: MANAGED_BY_VALUE },
        ...(metadata.annotations ? { annotations: metadata.annotations } : {}),
        ...(metadata.ownerReferences ? { ownerReferences: metadata.ownerReferences } : {}),
      },
    };
    const ref = { kind: object.kind, namespace: metadata.namespace, name: metadata.name };
    const path = `${await this.pathOf(object.kind, object.apiVersion, metadata.namespace)}/${encodeURIComponent(metadata.name)}`;
    const res = await this.call('PATCH', `${path}?${this.applyQuery()}`, body, APPLY, `apply of ${describe(ref)}`);
    this.o.observe?.(res.body as RawObject);
  }

  async deleteObject(ref: ObjectRef): Promise<void> {
    const path = `${await this.pathOf(ref.kind, this.apiVersionOf(ref), ref.namespace)}/${encodeURIComponent(ref.name)}`;
    const body = { apiVersion: 'v1', kind: 'DeleteOptions', ...(ref.uid ? { preconditions: { uid: ref.uid } } : {}) };
    await this.call('DELETE', path, body, 'application/json', `delete of ${describe(ref)}`, [404]);
    this.o.forget?.(ref.kind, ref.namespace, ref.name);
  }

  async event(ref: ObjectRef, type: EventType, reason: string, message: string): Promise<void> {
    const uid = ref.uid ?? this.o.store.getObject(ref.kind, ref.namespace, ref.name)?.metadata.uid;
    const involved: ObjectRef = { ...ref, apiVersion: this.apiVersionOf(ref), ...(uid ? { uid } : {}) };
    this.remember(involved, type, reason, message);
    const cacheKey = JSON.stringify([ref.kind, ref.namespace ?? '', ref.name, uid ?? '', type, reason, message]);
    let entry = this.eventCache.get(cacheKey);
    if (!entry) {
      // Cluster-scoped objects' Events live in "default", as client-go's recorder puts them.
      entry = { name: '', namespace: ref.namespace || 'default', count: 0, chain: Promise.resolve() };
      this.eventCache.set(cacheKey, entry);
      if (this.eventCache.size > MAX_EVENTS) this.eventCache.delete(this.eventCache.keys().next().value!);
    }
    const e = entry;
    e.chain = e.chain.then(() => this.writeEvent(e, involved, type, reason, message)).catch((err: Error) => {
      // Events are best effort: the state they report is also in statuses and logs.
      this.o.logger.warn({ object: describe(ref), reason, err: err.message }, 'cannot record the Event');
    });
    await e.chain;
  }

  recentEvents(): readonly RecordedEvent[] {
    return this.events;
  }

  private async writeEvent(e: EventCacheEntry, involved: ObjectRef, type: EventType, reason: string, message: string): Promise<void> {
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const base = `/api/v1/namespaces/${encodeURIComponent(e.namespace)}/events`;
    if (e.name) {
      const res = await this.call('PATCH', `${base}/${encodeURIComponent(e.name)}`, { count: e.count + 1, lastTimestamp: now }, MERGE, `Event ${e.namespace}/${e.name}`, [404]);
      if (res.status !== 404) {
        e.count++;
        return;
      }
      // The Event expired (the API server drops Events after --event-ttl): start a new one.
    }
    const name = `${involved.name}.${(BigInt(Date.now()) * 1_000_000n + BigInt(Math.floor(Math.random() * 1_000_000))).toString(16)}`;
    const body = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace: e.namespace },
      involvedObject: {
        apiVersion: involved.apiVersion,
        kind: involved.kind,
        name: involved.name,
        ...(involved.namespace ? { namespace: involved.namespace } : {}),
        ...(involved.uid ? { uid: involved.uid } : {}),
      },
      type,
      reason,
      message,
      count: 1,
      firstTimestamp: now,
      lastTimestamp: now,
      source: { component: this.component },
      reportingComponent: this.component,
      reportingInstance: this.instance,
    };
    await this.call('POST', base, body, 'application/json', `Event on ${describe(involved)}`);
    e.name = name;
    e.count = 1;
  }

  private remember(involved: ObjectRef, type: EventType, reason: string, message: string): void {
    const same = this.events.find((x) => x.involved.kind === involved.kind && x.involved.namespace === involved.namespace && x.involved.name === involved.name && x.reason === reason && x.message === message);
    const time = new Date().toISOString();
    if (same) {
      same.count++;
      same.time = time;
    } else {
      this.events.push({ time, involved, type, reason, message, count: 1 });
      if (this.events.length > MAX_EVENTS) this.events.shift();
    }
    const fields = { object: describe(involved), reason };
    if (type === 'Warning') this.o.logger.warn(fields, message);
    else this.o.logger.info(fields, message);
  }

  private applyQuery(): string {
    return new URLSearchParams({ fieldManager: this.fieldManager, force: 'true' }).toString();
  }

  private apiVersionOf(ref: ObjectRef): string {
    return ref.apiVersion ?? this.o.store.getObject(ref.kind, ref.namespace, ref.name)?.apiVersion ?? KNOWN[ref.kind]?.apiVersion ?? 'v1';
  }

  /** The collection URL of a kind (in a namespace when it is namespaced). */
  private async pathOf(kind: string, apiVersion: string, namespace: string | undefined): Promise<string> {
    const known = KNOWN[kind];
    const info = known && known.apiVersion === apiVersion ? known : await this.discover(kind, apiVersion);
    const root = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    if (!info.namespaced) return `${root}/${info.plural}`;
    if (!namespace) throw new KubeWriteError(`${kind} is namespaced but the object has no metadata.namespace; set it`, 0);
    return `${root}/namespaces/${encodeURIComponent(namespace)}/${info.plural}`;
  }

  private async discover(kind: string, apiVersion: string): Promise<{ plural: string; namespaced: boolean }> {
    const cacheKey = `${apiVersion}/${kind}`;
    const hit = this.discovered.get(cacheKey);
    if (hit) return hit;
    const root = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    const res = await this.call('GET', root, undefined, 'application/json', `discovery of ${apiVersion}`);
    const list = (res.body as { resources?: { name: string; kind: string; namespaced: boolean }[] }).resources ?? [];
    const r = list.find((x) => x.kind === kind && !x.name.includes('/'));
    if (!r) throw new KubeWriteError(`the API server does not serve ${kind} in ${apiVersion}; install its CRD`, 404);
    const info = { plural: r.name, namespaced: r.namespaced };
    this.discovered.set(cacheKey, info);
    return info;
  }

  /**
   * One API call, retried with capped exponential backoff on network errors, 429, 5xx and 409
   * conflicts other than failed preconditions. `accept` lists statuses returned rather than thrown.
   */
  private async call(method: string, path: string, body: unknown, contentType: string, what: string, accept: number[] = []): Promise<{ status: number; body: unknown }> {
    const attempts = this.o.attempts ?? 5;
    const min = this.o.minBackoffMs ?? 200;
    const max = this.o.maxBackoffMs ?? 10_000;
    let last: Error = new Error(`${what}: not attempted`);
    for (let i = 0; i < attempts; i++) {
      let wait = Math.min(max, min * 2 ** i);
      try {
        const res = await this.o.http.send(method, path, body, contentType);
        if ((res.status >= 200 && res.status < 300) || accept.includes(res.status)) return res;
        const st = (typeof res.body === 'object' && res.body ? res.body : {}) as { message?: string; reason?: string };
        // Server-side apply answers 500 when the object carries a field its schema does not declare
        // (a CRD without x-kubernetes-preserve-unknown-fields there): no retry will change that.
        const schemaRefusal = res.status === 500 && SCHEMA_REFUSAL.test(st.message ?? '');
        const hint = schemaRefusal ? '; the object does not fit the schema the API server has for it (a field gangplank writes is not declared in the installed CRD)' : hintFor(res.status);
        const err = new KubeWriteError(`${what}: HTTP ${res.status}: ${st.message ?? String(res.body).slice(0, 300)}${hint}`, res.status, schemaRefusal ? 'Invalid' : st.reason);
        const retryable = !schemaRefusal && (res.status === 429 || res.status >= 500 || (res.status === 409 && !/precondition/i.test(st.message ?? '')));
        if (!retryable) throw err;
        last = err;
        if (res.retryAfterMs) wait = Math.min(max, res.retryAfterMs);
      } catch (err) {
        if (err instanceof KubeWriteError) throw err;
        last = new Error(`${what}: ${(err as Error).message}`);
      }
      if (i + 1 < attempts) {
        this.o.logger.debug({ what, err: last.message, attempt: i + 1 }, 'API write failed; retrying');
        await new Promise((r) => setTimeout(r, wait / 2 + Math.random() * (wait / 2)));
      }
    }
    throw last;
  }
}

/** How the API server words a server-side apply of a field the object's schema does not declare. */
const SCHEMA_REFUSAL = /failed to create typed patch object|field not declared in schema/i;

function describe(ref: { kind: string; namespace?: string; name: string }): string {
  return `${ref.kind} ${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}`;
}

function hintFor(status: number): string {
  if (status === 403) return ' (grant gangplank this verb on this resource in RBAC)';
  if (status === 401) return ' (check the kubeconfig credentials)';
  return '';
}
