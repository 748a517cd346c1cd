/**
 * List+watch of one Kubernetes resource, the way client-go's reflector does it: list (paginated),
 * then watch from the list's resourceVersion with bookmarks, resume from the last seen
 * resourceVersion when a watch ends, relist when the server says 410 Gone, and retry every other
 * failure with capped exponential backoff. It never gives up while it runs.
 *
 * client-node's own informer is not used: it stops for good on any error but 410, requests no
 * bookmarks, and hands out deserialized model classes rather than the API's JSON. We use
 * client-node for what it is good at: reading kubeconfig and applying its credentials.
 */
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../runtime/logger.js';

/** One resource to list and watch. */
export interface ResourceSpec {
  apiVersion: string;
  kind: string;
  /** Lowercase plural as in the URL, e.g. `ingresses`. */
  plural: string;
  namespaced: boolean;
  fieldSelector?: string;
  labelSelector?: string;
}

/** An object as the API serves it, before validation. */
export interface RawObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; managedFields?: unknown };
  [field: string]: unknown;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface ReflectorHandler {
  /** The complete current set of objects: after the first list and after every relist. */
  onList(items: RawObject[]): void;
  onEvent(type: WatchEventType, object: RawObject): void;
}

/** An error answer of the API server (HTTP status or a watch ERROR event). */
export class KubeApiError extends Error {
  readonly code = 'GP_KUBE_API';
  constructor(
    message: string,
    readonly status: number,
    readonly reason?: string,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

/** Opens HTTP(S) requests to the API server with the kubeconfig's credentials (re-read per request, so rotated tokens work). */
export class KubeHttp {
  constructor(private readonly kc: KubeConfig) {}

  get server(): string {
    const c = this.kc.getCurrentCluster();
    if (!c) throw new Error('kubeconfig has no current cluster: set current-context or pass --kubeconfig');
    return c.server.replace(/\/+$/, '');
  }

  /** Starts a GET; resolves with the response once headers arrived (any status). */
  async get(pathAndQuery: string, signal: AbortSignal, idleTimeoutMs: number): Promise<IncomingMessage> {
    const url = new URL(this.server + pathAndQuery);
    const opts: RequestOptions = { method: 'GET', headers: { accept: 'application/json' } };
    await this.kc.applyToHTTPSOptions(opts);
    opts.headers = { ...opts.headers, accept: 'application/json' };
    const doRequest = url.protocol === 'http:' ? httpRequest : httpsRequest;
    return new Promise((resolve, reject) => {
      const req = doRequest(url, { ...opts, signal }, resolve);
      // An idle socket means a dead connection (watches get bookmarks and a server-side timeout).
      req.setTimeout(idleTimeoutMs, () => req.destroy(new Error(`no data from ${url.host} for ${idleTimeoutMs} ms`)));
      req.on('error', reject);
      req.end();
    });
  }

  /**
   * One request with a body (writes): resolves with the status and the whole answer, parsed as
   * JSON when it is JSON. Rejects only when no answer came (network error, timeout).
   */
  async send(method: string, pathAndQuery: string, body: unknown, contentType = 'application/json', timeoutMs = 30_000): Promise<{ status: number; body: unknown; retryAfterMs?: number }> {
    const url = new URL(this.server + pathAndQuery);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const opts: RequestOptions = { method };
    await this.kc.applyToHTTPSOptions(opts);
    opts.headers = {
      ...opts.headers,
      accept: 'application/json',
      ...(payload === undefined ? {} : { 'content-type': contentType, 'content-length': String(Buffer.byteLength(payload)) }),
    };
    const doRequest = url.protocol === 'http:' ? httpRequest : httpsRequest;
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = doRequest(url, opts, resolve);
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${url.pathname}: no answer from ${url.host} within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(payload);
    });
    const text = await readBody(res);
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text for the error message
    }
    const ra = Number(res.headers['retry-after']);
    return { status: res.statusCode ?? 0, body: parsed, ...(Number.isFinite(ra) && ra > 0 ? { retryAfterMs: ra * 1000 } : {}) };
  }
}

export interface ReflectorOptions {
  http: KubeHttp;
  resource: ResourceSpec;
  handler: ReflectorHandler;
  logger: Logger;
  /** Only this namespace (namespaced resources); all namespaces when unset. */
  namespace?: string;
  pageSize?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Server-side watch timeout; each watch gets a random value between this and twice this. */
  watchTimeoutSeconds?: number;
}

const DEFAULTS = { pageSize: 500, minBackoffMs: 200, maxBackoffMs: 30_000, watchTimeoutSeconds: 300 };

export class Reflector {
  private readonly o: ReflectorOptions & typeof DEFAULTS;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private resolveSynced!: () => void;
  /** Resolves after the first complete list reached the handler. */
  readonly synced: Promise<void> = new Promise((r) => (this.resolveSynced = r));
  /** The last error, for readiness messages; cleared by the next success. */
  lastError: Error | undefined;

  constructor(opts: ReflectorOptions) {
    // An option given as undefined keeps its default.
    const given = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) as unknown as ReflectorOptions;
    this.o = { ...DEFAULTS, ...given };
  }

  private get name(): string {
    const r = this.o.resource;
    return `${r.plural}.${r.apiVersion}`;
  }

  private path(): string {
    const r = this.o.resource;
    const group = r.apiVersion.includes('/') ? `/apis/${r.apiVersion}` : `/api/${r.apiVersion}`;
    const ns = r.namespaced && this.o.namespace ? `/namespaces/${encodeURIComponent(this.o.namespace)}` : '';
    return `${group}${ns}/${r.plural}`;
  }

  private query(params: Record<string, string | undefined>): string {
    const q = new URLSearchParams();
    const r = this.o.resource;
    if (r.fieldSelector) q.set('fieldSelector', r.fieldSelector);
    if (r.labelSelector) q.set('labelSelector', r.labelSelector);
    for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, v);
    return `${this.path()}?${q}`;
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    // Whoever waits for the first list of a stopped watch must not wait forever.
    this.resolveSynced();
    await this.loop;
  }

  private async run(): Promise<void> {
    let rv = '';
    let failures = 0;
    const signal = this.abort.signal;
    while (!signal.aborted) {
      try {
        if (!rv) {
          rv = await this.list();
          this.resolveSynced();
        }
        const w = await this.watch(rv);
        rv = w.gone ? '' : w.rv;
        if (w.gone) this.o.logger.info({ resource: this.name }, 'watch resourceVersion expired (410 Gone); relisting');
        // A watch that ran (the server closed it, or it delivered events) proves the connection works.
        if (w.progressed) failures = 0;
        this.lastError = undefined;
        if (!w.progressed && !w.gone) await this.backoff(failures++);
      } catch (err) {
        if (signal.aborted) break;
        const e = err instanceof Error ? err : new Error(String(err));
        if (e instanceof KubeApiError && e.status === 410) rv = '';
        this.lastError = e;
        this.o.logger.warn({ resource: this.name, err: e.message, attempt: failures + 1 }, 'list/watch failed; retrying with backoff');
        await this.backoff(failures++);
      }
    }
  }

  private async backoff(failures: number): Promise<void> {
    const base = Math.min(this.o.maxBackoffMs, this.o.minBackoffMs * 2 ** Math.min(failures, 20));
    // Jitter spreads the retries of many reflectors after an API server restart.
    await sleep(base / 2 + Math.random() * (base / 2), undefined, { signal: this.abort.signal }).catch(() => undefined);
  }

  /** Lists every page; hands the whole set to the handler; returns the list's resourceVersion. */
  private async list(): Promise<string> {
    const items: RawObject[] = [];
    let cont: string | undefined;
    let rv = '';
    do {
      const res = await this.o.http.get(this.query({ limit: String(this.o.pageSize), continue: cont }), this.abort.signal, 60_000);
      const body = await readBody(res);
      if (res.statusCode !== 200) throw apiError(res.statusCode ?? 0, body, `list ${this.name}`);
      const list = JSON.parse(body) as { metadata?: { resourceVersion?: string; continue?: string }; items?: RawObject[] | null };
      for (const it of list.items ?? []) items.push(this.typed(it));
      rv = list.metadata?.resourceVersion ?? '';
      cont = list.metadata?.continue || undefined;
    } while (cont);
    if (!rv) throw new Error(`list ${this.name}: the answer has no metadata.resourceVersion`);
    this.o.handler.onList(items);
    return rv;
  }

  /** One watch request from `rv` until the server ends it; returns where to resume. */
  private async watch(rv: string): Promise<{ rv: string; gone: boolean; progressed: boolean }> {
    const timeout = this.o.watchTimeoutSeconds + Math.floor(Math.random() * this.o.watchTimeoutSeconds);
    const res = await this.o.http.get(
      this.query({ watch: '1', resourceVersion: rv, allowWatchBookmarks: 'true', timeoutSeconds: String(timeout) }),
      this.abort.signal,
      (timeout + 30) * 1000,
    );
    if (res.statusCode !== 200) {
      const err = apiError(res.statusCode ?? 0, await readBody(res), `watch ${this.name}`);
      if (err.status === 410) return { rv: '', gone: true, progressed: false };
      throw err;
    }
    let last = rv;
    let progressed = false;
    let failure: Error | undefined;
    let gone = false;
    // Errors (idle timeout, reset, abort) end the line stream; record them instead of crashing on an unhandled 'error'.
    let streamError: Error | undefined;
    res.on('error', (err) => (streamError = err));
    const lines = createInterface({ input: res, crlfDelay: Infinity });
    try {
      for await (const line of lines) {
        if (!line) continue;
        const ev = JSON.parse(line) as { type?: string; object?: RawObject & { code?: number; reason?: string; message?: string } };
        const obj = ev.object;
        if (!obj) continue;
        if (ev.type === 'ERROR') {
          if (obj.code === 410) gone = true;
          else failure = new KubeApiError(`watch ${this.name}: ${obj.message ?? 'error event'}`, obj.code ?? 0, obj.reason);
          break;
        }
        progressed = true;
        const objRv = obj.metadata?.resourceVersion;
        if (ev.type === 'ADDED' || ev.type === 'MODIFIED' || ev.type === 'DELETED') this.o.handler.onEvent(ev.type, this.typed(obj));
        if (objRv) last = objRv;
      }
    } finally {
      lines.close();
      res.destroy();
    }
    if (failure) throw failure;
    if (!gone && !res.complete && !this.abort.signal.aborted)
      throw new Error(`watch ${this.name}: connection closed before the server ended the watch${streamError ? `: ${streamError.message}` : ''}`);
    // A clean end at the server's timeout counts as progress: the connection is healthy.
    return { rv: last, gone, progressed: progressed || res.complete };
  }

  /** List items carry no apiVersion/kind; watch objects do. Either way set them, and drop managedFields (large, unused). */
  private typed(o: RawObject): RawObject {
    const { managedFields: _drop, ...metadata } = o.metadata ?? {};
    return { ...o, apiVersion: this.o.resource.apiVersion, kind: this.o.resource.kind, metadata };
  }
}

async function readBody(res: IncomingMessage): Promise<string> {
  res.setEncoding('utf8');
  let body = '';
  for await (const chunk of res) body += chunk as string;
  return body;
}

function apiError(status: number, body: string, what: string): KubeApiError {
  let message = body.slice(0, 500);
  let reason: string | undefined;
  try {
    const s = JSON.parse(body) as { message?: string; reason?: string };
    if (s.message) message = s.message;
    reason = s.reason;
  } catch {
    // not a Status object
  }
  const hint = status === 401 ? ' (check the kubeconfig credentials)' : status === 403 ? ' (grant list and watch on this resource in RBAC)' : '';
  return new KubeApiError(`${what}: HTTP ${status}: ${message}${hint}`, status, reason);
}
