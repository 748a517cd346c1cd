/**
 * Wires one gangplank process: sources → store → controllers → outputs, plus the admin API.
 * Start order makes /readyz truthful: admin first (answering 503), then the first full load,
 * then the route table, then the entrypoints.
 */
import { mkdir } from 'node:fs/promises';
import { resolve, join } from 'node:path';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { AdminServer } from '../admin/server.js';
import { objectsView, routesView } from '../admin/views.js';
import { RoutesController } from '../controllers/routes/controller.js';
import { DnsController } from '../controllers/dns/controller.js';
import { buildDnsBackend } from '../controllers/dns/factory.js';
import { IngressStatusController } from '../controllers/status.js';
import type { Policy } from '../controllers/dns/plan.js';
import type { RecordType } from '../controllers/dns/types.js';
import { HttpProxy } from '../proxy/proxy.js';
import { createProxyMetrics } from '../proxy/metrics.js';
import { FileSource } from '../sources/files.js';
import { registerCertManagerKinds } from '../api/certmanager.js';
import { Store } from '../store/store.js';
import { StateDirWriter } from '../writers/statedir.js';
import type { RunConfig } from './config.js';
import type { Component } from './lifecycle.js';
import { createLogger, type Logger } from './logger.js';

export interface App {
  store: Store;
  routes: RoutesController;
  admin: AdminServer;
  proxy: HttpProxy;
  logger: Logger;
  registry: Registry;
  dns?: DnsController;
  stop(): Promise<void>;
}

export async function startApp(cfg: RunConfig, logger: Logger = createLogger({ level: cfg.logLevel, format: cfg.logFormat })): Promise<App> {
  registerCertManagerKinds();
  const stateDir = resolve(cfg.stateDir);
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'gangplank_process_' });
  const store = new Store();
  const writer = new StateDirWriter(join(stateDir), store, logger.child({ component: 'writer' }));
  const routes = new RoutesController(store, { ingressClass: cfg.ingressClass }, logger.child({ component: 'routes' }), registry);
  const invalid = new Gauge({ name: 'gangplank_invalid_objects', help: 'Documents rejected by validation (see /api/objects).', registers: [registry] });
  const accessLog = cfg.accessLog ? createLogger({ level: 'info', format: 'json', destination: 1 }) : null;
  const proxy = new HttpProxy({
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
    metrics: createProxyMetrics(registry),
  });
  routes.onTable((t) => proxy.setTable(t));
  let ready = false;
  const admin = new AdminServer({ bind: cfg.adminBind, port: cfg.adminPort, registry, logger: logger.child({ component: 'admin' }), ready: () => ready });
  admin.addJson('/api/routes', () => routesView(routes));
  admin.addJson('/api/objects', () => objectsView(store));
  admin.addJson('/api/events', () => writer.recentEvents());
  const classes = { ingressClass: cfg.ingressClass };
  const publish = { publishService: cfg.publishService || undefined, publishAddress: cfg.publishAddress };
  const status = new IngressStatusController(store, writer, classes, publish, logger.child({ component: 'status' }));
  const dnsBackend = buildDnsBackend(cfg, stateDir, logger.child({ component: 'dns' }));
  const dns = dnsBackend
    ? new DnsController({
        store,
        provider: dnsBackend.provider,
        logger: logger.child({ component: 'dns', provider: dnsBackend.provider.name }),
        registry,
        classes,
        publish,
        policy: cfg.policy as Policy,
        domainFilter: cfg.domainFilter,
        excludeDomains: cfg.excludeDomains,
        managedTypes: cfg.managedRecordTypes as RecordType[],
        txt: {
          ownerId: cfg.txtOwnerId,
          prefix: cfg.txtPrefix || undefined,
          suffix: cfg.txtSuffix || undefined,
          wildcardReplacement: cfg.txtWildcardReplacement || undefined,
          migrateFromOwner: cfg.migrateFromTxtOwner || undefined,
        },
        intervalMs: cfg.interval,
      })
    : undefined;
  if (dns) admin.addJson('/api/dns', () => dns.view());
  const source = new FileSource({ dirs: cfg.manifests, store, logger: logger.child({ component: 'files' }) });
  source.onSync = () => invalid.set(store.rejected().length);

  const started: Component[] = [];
  const stop = async () => {
    ready = false;
    for (const c of started.reverse()) await c.stop().catch((err: Error) => logger.error({ err: err.message }, 'error while stopping'));
    started.length = 0;
    accessLog?.flush();
    logger.flush();
  };
  try {
    await admin.start();
    started.push(admin);
    await writer.load();
    await source.start();
    started.push(source);
    store.flush();
    invalid.set(store.rejected().length);
    await routes.start();
    started.push(routes);
    await proxy.start();
    started.push(proxy);
    await status.start();
    started.push(status);
    for (const c of dnsBackend?.components ?? []) {
      await c.start();
      started.push(c);
    }
    if (dns) {
      await dns.start();
      started.push(dns);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  ready = true;
  logger.info(
    { web: `${cfg.bind || '*'}:${proxy.address().port}`, admin: `${cfg.adminBind}:${admin.address().port}`, objects: store.size(), invalid: store.rejected().length, manifests: cfg.manifests },
    'gangplank is serving',
  );
  return { store, routes, admin, proxy, logger, registry, dns, stop };
}
