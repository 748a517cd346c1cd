/**
 * The data plane: a route table kept in step with a store, and the entrypoints that serve it —
 * web (plain HTTP) and websecure (TLS, HTTP/2) with the certificates of the store's Secrets.
 * Runs in the single gangplank process (`--workers 1`) or in each worker process, where the
 * store is fed by the primary over IPC (Secrets and session ticket keys included).
 */
import { Counter, type Registry } from 'prom-client';
import { RoutesController } from '../controllers/routes/controller.js';
import type { AcmeResponder } from '../proxy/handler.js';
import { createProxyMetrics } from '../proxy/metrics.js';
import { HttpProxy, type ProxyOptions } from '../proxy/proxy.js';
import type { Store } from '../store/store.js';
import { CertStore } from '../tls/certstore.js';
import { loadDefaultCertificate } from '../tls/default-cert.js';
import { checkTicketKeys, newTicketKeys, TicketKeyRotator } from '../tls/ticket-keys.js';
import type { RunConfig } from './config.js';
import type { Logger } from './logger.js';
import { AccessLog } from '../proxy/accesslog.js';

export interface DataPlane {
  routes: RoutesController;
  web: HttpProxy;
  /** The websecure entrypoint; set once start() has loaded the default certificate. */
  readonly websecure: HttpProxy | undefined;
  /** The certificates websecure serves (problems() for the admin views); set by start(). */
  readonly certs: CertStore | undefined;
  /** HTTP-01 challenges on the web entrypoint. */
  setAcmeResponder(fn: AcmeResponder | undefined): void;
  /** Session ticket keys from the primary (worker mode). */
  setTicketKeys(keys: Buffer): void;
  start(): Promise<void>;
  /** Stops accepting and lets in-flight requests finish for up to `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export interface DataPlaneOptions {
  /** Ticket keys come from outside (the primary) through setTicketKeys; otherwise the data plane makes and rotates its own. */
  externalTicketKeys?: boolean;
}

export function createDataPlane(cfg: RunConfig, store: Store, registry: Registry, logger: Logger, opts: DataPlaneOptions = {}): DataPlane {
  const routes = new RoutesController(store, { ingressClass: cfg.ingressClass }, logger.child({ component: 'routes' }), registry);
  const accessLog = cfg.accessLog ? createAccessLog(registry, logger) : null;
  const metrics = createProxyMetrics(registry);
  const common: Omit<ProxyOptions, 'entrypoint' | 'port' | 'logger'> = {
    bind: cfg.bind,
    trustedProxies: cfg.trustedProxies,
    timeouts: {
      connectMs: cfg.upstreamConnectTimeout,
      responseHeaderMs: cfg.upstreamResponseTimeout,
      upstreamIdleMs: cfg.upstreamIdleTimeout,
      headersMs: cfg.clientHeaderTimeout,
      requestMs: cfg.clientRequestTimeout,
      keepAliveMs: cfg.keepAliveTimeout,
    },
    accessLog,
    metrics,
  };
  const web = new HttpProxy({
    ...common,
    entrypoint: 'web',
    port: cfg.httpPort,
    redirectPort: cfg.httpsPort,
    logger: logger.child({ component: 'proxy', entrypoint: 'web' }),
  });
  let websecure: HttpProxy | undefined;
  let certs: CertStore | undefined;
  let ticketKeys = newTicketKeys();
  const applyKeys = (keys: Buffer) => {
    ticketKeys = checkTicketKeys(keys);
    certs?.setTicketKeys(keys);
    websecure?.setTicketKeys(keys);
  };
  const rotator = opts.externalTicketKeys ? undefined : new TicketKeyRotator(applyKeys);
  routes.onTable((t) => {
    web.setTable(t);
    certs?.setTable(t);
    websecure?.setTable(t);
  });
  return {
    routes,
    web,
    get websecure() {
      return websecure;
    },
    get certs() {
      return certs;
    },
    setAcmeResponder(fn) {
      web.setAcmeResponder(fn);
    },
    setTicketKeys: applyKeys,
    async start() {
      await routes.start();
      const def = await loadDefaultCertificate({ certFile: cfg.defaultCert, keyFile: cfg.defaultKey, stateDir: cfg.stateDir });
      if (rotator) ticketKeys = rotator.current();
      certs = new CertStore(store, def, ticketKeys, logger.child({ component: 'tls' }));
      certs.setTable(routes.current());
      certs.start();
      websecure = new HttpProxy({
        ...common,
        entrypoint: 'websecure',
        port: cfg.httpsPort,
        logger: logger.child({ component: 'proxy', entrypoint: 'websecure' }),
        tls: { certs, ticketKeys },
      });
      websecure.setTable(routes.current());
      rotator?.start();
      await web.start();
      await websecure.start();
      logger.info({ defaultCertificate: def.source }, 'websecure serving');
    },
    async stop(graceMs = cfg.gracePeriod) {
      rotator?.stop();
      await Promise.all([web.stop(graceMs), websecure?.stop(graceMs)]);
      certs?.stop();
      await routes.stop();
      accessLog?.flushTurn();
    },
  };
}

/**
 * The access log on stdout. Lines it drops (stdout a pipe nobody reads) are counted and warned
 * about, at most every 10 s. If stdout fails (EPIPE: its reader went away) the access log stops,
 * with a warning, and the proxy serves on: an unhandled stream error would end the process.
 */
function createAccessLog(registry: Registry, logger: Logger): AccessLog {
  const dropped = new Counter({ name: 'gangplank_access_log_dropped_lines_total', help: 'Access log lines dropped because stdout was not being read (or had failed).', registers: [registry] });
  const out = process.stdout;
  let failed = false;
  out.on('error', (err) => {
    if (!failed) logger.warn({ err }, 'access log: stdout failed; no more access log lines are written');
    failed = true;
  });
  let unreported = 0;
  let lastWarning = 0;
  const sink = {
    write: (chunk: string) => failed || out.write(chunk),
    get writableLength() {
      return failed ? Infinity : out.writableLength;
    },
  };
  return new AccessLog(sink, (lines) => {
    dropped.inc(lines);
    if (failed) return;
    unreported += lines;
    const now = Date.now();
    if (now - lastWarning < 10_000) return;
    logger.warn({ droppedLines: unreported }, 'access log: stdout is not being read; lines dropped');
    unreported = 0;
    lastWarning = now;
  });
}
