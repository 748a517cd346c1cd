/**
 * The data plane: a route table kept in step with a store, and the entrypoints that serve it.
 * Runs in the single gangplank process (`--workers 1`) or in each worker process, where the
 * store is fed by the primary over IPC.
 */
import type { Registry } from 'prom-client';
import { RoutesController } from '../controllers/routes/controller.js';
import { createProxyMetrics } from '../proxy/metrics.js';
import { HttpProxy } from '../proxy/proxy.js';
import type { Store } from '../store/store.js';
import type { RunConfig } from './config.js';
import { createLogger, type Logger } from './logger.js';

export interface DataPlane {
  routes: RoutesController;
  web: HttpProxy;
  start(): Promise<void>;
  /** Stops accepting and lets in-flight requests finish for up to `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export function createDataPlane(cfg: RunConfig, store: Store, registry: Registry, logger: Logger): DataPlane {
  const routes = new RoutesController(store, { ingressClass: cfg.ingressClass }, logger.child({ component: 'routes' }), registry);
  const accessLog = cfg.accessLog ? createLogger({ level: 'info', format: 'json', destination: 1 }) : null;
  const metrics = createProxyMetrics(registry);
  const web = new HttpProxy({
    entrypoint: 'web',
    bind: cfg.bind,
    port: cfg.httpPort,
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
    logger: logger.child({ component: 'proxy', entrypoint: 'web' }),
    metrics,
  });
  routes.onTable((t) => web.setTable(t));
  return {
    routes,
    web,
    async start() {
      await routes.start();
      await web.start();
    },
    async stop(graceMs = cfg.gracePeriod) {
      await web.stop(graceMs);
      await routes.stop();
      accessLog?.flush();
    },
  };
}
