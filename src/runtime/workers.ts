/**
 * Worker processes (`--workers N`, N > 1): N processes share the listening sockets and serve
 * traffic; the primary keeps the sources, the store and every controller with side effects.
 *
 * The primary forwards the routing-relevant objects (Ingresses, IngressClasses, Services,
 * EndpointSlices, Secrets) to each worker — a snapshot when it starts, then every change batch —
 * and each worker compiles its route table incrementally from its own copy of the store. So a
 * change costs the same work in a worker as in a single process, and a restarted worker catches
 * up from the snapshot. Metrics are aggregated over the workers by prom-client's cluster support.
 */
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, collectDefaultMetrics, Registry } from 'prom-client';
import type { TypedObject } from '../api/meta.js';
import type { Change, Store } from '../store/store.js';
import { Store as LocalStore } from '../store/store.js';
import type { RunConfig } from './config.js';
import { createDataPlane } from './dataplane.js';
import { TicketKeyRotator } from '../tls/ticket-keys.js';
import { createLogger, type Logger } from './logger.js';

const FORWARDED = new Set(['Ingress', 'IngressClass', 'Service', 'EndpointSlice', 'Secret']);
const CONFIG_ENV = 'GANGPLANK_WORKER_CONFIG';
const PRIMARY_SOURCE = 'primary';
const RESTART_MIN_INTERVAL_MS = 1000;

type ToWorker =
  | { t: 'snapshot'; objects: TypedObject[]; http01: [string, string][] }
  | { t: 'http01'; token: string; value?: string }
  | { t: 'changes'; upserts: TypedObject[]; deletes: string[] }
  | { t: 'shutdown'; graceMs: number }
  /** TLS session ticket keys (base64, 48 bytes): the same in every worker so sessions resume anywhere. */
  | { t: 'ticketKeys'; keys: string };

type FromWorker = { t: 'hello' } | { t: 'ready' } | { t: 'failed'; message: string };

interface Slot {
  index: number;
  worker?: Worker;
  ready: boolean;
  lastStart: number;
}

export class WorkerPool {
  private readonly slots: Slot[] = [];
  private unsubscribe: (() => void) | undefined;
  private stopping = false;
  private readonly aggregator = new AggregatorRegistry();
  /** The HTTP-01 tokens to answer, for the snapshot of a (re)started worker. */
  http01: () => [string, string][] = () => [];
  private readonly ticketKeys = new TicketKeyRotator((keys) => this.broadcast({ t: 'ticketKeys', keys: keys.toString('base64') }));

  constructor(
    private readonly cfg: RunConfig,
    private readonly store: Store,
    private readonly logger: Logger,
  ) {}

  /** Forks the workers; resolves when every one of them serves. */
  async start(): Promise<void> {
    // Each worker accepts on the shared socket itself: no hand-off through the primary.
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    cluster.setupPrimary({ silent: false });
    this.unsubscribe = this.store.subscribe((changes) => this.forward(changes));
    this.ticketKeys.start();
    const starts: Promise<void>[] = [];
    for (let i = 0; i < this.cfg.workers; i++) {
      const slot: Slot = { index: i, ready: false, lastStart: 0 };
      this.slots.push(slot);
      starts.push(this.fork(slot));
    }
    await Promise.all(starts);
    this.logger.info({ workers: this.slots.length }, 'workers serving');
  }

  allReady(): boolean {
    return this.slots.length > 0 && this.slots.every((s) => s.ready);
  }

  /** Primary metrics plus the sum over workers. */
  async metrics(primary: Registry): Promise<string> {
    const own = await primary.metrics();
    const workers = this.slots.some((s) => s.worker?.isConnected()) ? await this.aggregator.clusterMetrics() : '';
    return `${own}\n${workers}`;
  }

  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    this.unsubscribe?.();
    this.ticketKeys.stop();
    await Promise.all(
      this.slots.map(async (s) => {
        const w = s.worker;
        if (!w || w.isDead()) return;
        const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
        send(w, { t: 'shutdown', graceMs });
        const timer = setTimeout(() => w.process.kill('SIGKILL'), graceMs + 5000);
        await exited;
        clearTimeout(timer);
      }),
    );
  }

  private fork(slot: Slot): Promise<void> {
    slot.lastStart = Date.now();
    slot.ready = false;
    const worker = cluster.fork({ [CONFIG_ENV]: JSON.stringify(this.cfg), GANGPLANK_WORKER_INDEX: String(slot.index) });
    slot.worker = worker;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      worker.on('message', (m: FromWorker) => {
        if (m.t === 'hello') {
          send(worker, { t: 'ticketKeys', keys: this.ticketKeys.current().toString('base64') });
          send(worker, { t: 'snapshot', objects: this.snapshot(), http01: this.http01() });
        }
        else if (m.t === 'ready') {
          slot.ready = true;
          if (!settled) (settled = true), resolve();
        } else if (m.t === 'failed') {
          this.logger.error({ worker: slot.index, err: m.message }, 'worker failed to start');
          if (!settled) (settled = true), reject(new Error(m.message));
        }
      });
      worker.once('exit', (code, signal) => {
        slot.ready = false;
        if (!settled) {
          settled = true;
          reject(new Error(`worker ${slot.index} exited during start (code ${code}, signal ${signal})`));
          return;
        }
        if (this.stopping) return;
        const wait = Math.max(0, RESTART_MIN_INTERVAL_MS - (Date.now() - slot.lastStart));
        this.logger.error({ worker: slot.index, code, signal, restartInMs: wait }, 'worker died; restarting it');
        setTimeout(() => {
          if (!this.stopping) this.fork(slot).catch((err: Error) => this.logger.error({ worker: slot.index, err: err.message }, 'worker restart failed'));
        }, wait).unref();
      });
    });
  }

  /** An ACME HTTP-01 token appeared (value) or went away (undefined): every worker answers it. */
  setHttp01(token: string, value: string | undefined): void {
    this.broadcast({ t: 'http01', token, value });
  }

  private snapshot(): TypedObject[] {
    const out: TypedObject[] = [];
    for (const e of this.store.allEntries()) if (FORWARDED.has(e.object.kind)) out.push(e.object);
    return out;
  }

  private forward(changes: readonly Change[]): void {
    const upserts: TypedObject[] = [];
    const deletes: string[] = [];
    for (const c of changes) {
      if (!FORWARDED.has(c.kind)) continue;
      if (c.new) upserts.push(c.new.object);
      else deletes.push(c.key);
    }
    if (!upserts.length && !deletes.length) return;
    this.broadcast({ t: 'changes', upserts, deletes });
  }

  private broadcast(msg: ToWorker): void {
    for (const s of this.slots) if (s.worker?.isConnected()) send(s.worker, msg);
  }
}

function send(w: Worker, m: ToWorker): void {
  try {
    w.send(m);
  } catch {
    /* the worker is going away; its restart sends a fresh snapshot */
  }
}

export function isWorkerProcess(): boolean {
  return cluster.isWorker && !!process.env[CONFIG_ENV];
}

/** The worker side: a store fed by the primary, a data plane serving it. */
export async function runWorker(): Promise<void> {
  const cfg = JSON.parse(process.env[CONFIG_ENV]!) as RunConfig;
  const index = process.env.GANGPLANK_WORKER_INDEX ?? '?';
  const logger = createLogger({ level: cfg.logLevel, format: cfg.logFormat }).child({ worker: index });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'gangplank_worker_process_' });
  // Constructing an AggregatorRegistry is what makes a worker answer the primary's metric requests.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([registry]);
  const store = new LocalStore();
  const plane = createDataPlane(cfg, store, registry, logger, { externalTicketKeys: true });
  const toPrimary = (m: FromWorker) => process.send?.(m);
  let started = false;
  const http01 = new Map<string, string>();
  plane.setAcmeResponder((token) => http01.get(token));
  // The primary coordinates shutdown; a terminal's Ctrl-C reaches the whole process group.
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => undefined);
  process.on('disconnect', () => {
    void plane.stop(1000).finally(() => process.exit(0));
  });
  process.on('message', (m: ToWorker) => {
    if (m.t === 'http01') {
      if (m.value === undefined) http01.delete(m.token);
      else http01.set(m.token, m.value);
    } else if (m.t === 'snapshot') {
      http01.clear();
      for (const [k, v] of m.http01) http01.set(k, v);
      store.replaceSource(PRIMARY_SOURCE, m.objects.map((object) => ({ object })));
      store.flush();
      if (!started) {
        started = true;
        plane.start().then(
          () => toPrimary({ t: 'ready' }),
          (err: Error) => {
            toPrimary({ t: 'failed', message: err.message });
            setTimeout(() => process.exit(1), 100);
          },
        );
      }
    } else if (m.t === 'changes') {
      for (const k of m.deletes) store.remove(PRIMARY_SOURCE, k);
      for (const o of m.upserts) store.upsert(PRIMARY_SOURCE, o);
      store.flush();
    } else if (m.t === 'ticketKeys') {
      plane.setTicketKeys(Buffer.from(m.keys, 'base64'));
    } else if (m.t === 'shutdown') {
      void plane.stop(m.graceMs).finally(() => {
        logger.flush();
        process.exit(0);
      });
    }
  });
  toPrimary({ t: 'hello' });
}
