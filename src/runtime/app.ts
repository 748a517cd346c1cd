/**
 * Wires one gangplank: sources → store → controllers → outputs, the admin API, and the data plane
 * (in this process with `--workers 1`, else in worker processes fed by this one). Start order
 * makes /readyz truthful: admin first (answering 503), then the first full load, then the route
 * table and the entrypoints, then the controllers with side effects (status, DNS, certificates).
 */
import { collectStartupGarbage } from './memory.js';
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { AdminServer } from '../admin/server.js';
import { objectsView, routesView } from '../admin/views.js';
import { registerCertManagerKinds } from '../api/certmanager.js';
import { DnsController } from '../controllers/dns/controller.js';
import { buildDnsBackend } from '../controllers/dns/factory.js';
import type { Policy } from '../controllers/dns/plan.js';
import type { RecordType } from '../controllers/dns/types.js';
import { RoutesController } from '../controllers/routes/controller.js';
import { IngressStatusController } from '../controllers/status.js';
import { createCertificates } from '../controllers/certs/setup.js';
import { FileSource } from '../sources/files.js';
import { Store } from '../store/store.js';
import { StateDirWriter } from '../writers/statedir.js';
import type { RunConfig } from './config.js';
import { createDataPlane, type DataPlane } from './dataplane.js';
import type { Component } from './lifecycle.js';
import { createLogger, type Logger } from './logger.js';
import { WorkerPool } from './workers.js';

export interface App {
  store: Store;
  routes: RoutesController;
  admin: AdminServer;
  logger: Logger;
  registry: Registry;
  dataPlane?: DataPlane;
  workers?: WorkerPool;
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
  // --kubeconfig: objects from the API server, outputs back to it (see kube-mode.ts).
  // Loaded only in this mode: the Kubernetes client costs ~60 MiB of memory.
  const kube = cfg.kubeconfig ? (await import('./kube-mode.js')).kubeMode(cfg, store, logger) : undefined;
  const writer = kube?.writer ?? new StateDirWriter(stateDir, store, logger.child({ component: 'writer' }));
  const invalid = new Gauge({ name: 'gangplank_invalid_objects', help: 'Documents rejected by validation (see /api/objects).', registers: [registry] });

  // The data plane runs here, or in workers; the primary keeps a route table of its own for /api/routes.
  const dataPlane = cfg.workers <= 1 ? createDataPlane(cfg, store, registry, logger) : undefined;
  const workers = dataPlane ? undefined : new WorkerPool(cfg, store, logger.child({ component: 'workers' }));
  // In worker mode the workers' route metrics are the ones exposed; the primary's copy is not.
  const routes = dataPlane?.routes ?? new RoutesController(store, { ingressClass: cfg.ingressClass }, logger.child({ component: 'routes' }), new Registry());

  let ready = false;
  const admin = new AdminServer({
    bind: cfg.adminBind,
    port: cfg.adminPort,
    registry,
    logger: logger.child({ component: 'admin' }),
    ready: () => ready && (workers?.allReady() ?? true),
    metrics: workers ? () => workers.metrics(registry) : undefined,
  });
  admin.addJson('/api/routes', () => routesView(routes, store));
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
  const certs = createCertificates({ cfg, store, writer, logger, registry }, { http01Check: { port: cfg.acmeHttp01CheckPort } });
  admin.addJson('/api/certificates', () => certs.view());
  // HTTP-01 tokens are answered by the web entrypoint, in this process or in every worker.
  if (dataPlane) dataPlane.setAcmeResponder((token) => certs.http01.get(token));
  else {
    workers!.http01 = () => certs.http01.entries();
    certs.http01.onChange = (token, value) => workers!.setHttp01(token, value);
  }
  const source = kube?.source ?? new FileSource({ dirs: cfg.manifests, store, logger: logger.child({ component: 'files' }) });
  source.onSync = () => invalid.set(store.rejectedCount());

  const started: Component[] = [];
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      ready = false;
      // Entrypoints first (graceful), then everything else in reverse start order.
      await dataPlane?.stop(cfg.gracePeriod);
      await workers?.stop(cfg.gracePeriod);
      for (const c of started.reverse()) await c.stop().catch((err: Error) => logger.error({ err: err.message }, 'error while stopping'));
      started.length = 0;
      logger.flush();
    })());
  const startC = async (c: Component) => {
    await c.start();
    started.push(c);
  };
  try {
    await startC(admin);
    await writer.load();
    await startC(source);
    store.flush();
    invalid.set(store.rejectedCount());
    if (dataPlane) await dataPlane.start();
    else {
      await startC(routes);
      await workers!.start();
    }
    await startC(status);
    for (const c of dnsBackend?.components ?? []) await startC(c);
    if (dns) await startC(dns);
    for (const c of certs.components) await startC(c);
    if (kube) await startC(kube.reporter(routes, dns));
  } catch (err) {
    await stop();
    throw err;
  }
  // Before readiness: the one pause of a full collection falls before traffic is sent here.
  const gcMs = collectStartupGarbage();
  if (gcMs !== undefined) logger.debug({ ms: Math.round(gcMs) }, 'start-up garbage collected');
  ready = true;
  logger.info(
    { web: `${cfg.bind || '*'}:${cfg.httpPort}`, admin: `${cfg.adminBind}:${admin.address().port}`, workers: cfg.workers, objects: store.size(), invalid: store.rejected().length, manifests: cfg.manifests },
    'gangplank is serving',
  );
  return { store, routes, admin, logger, registry, dataPlane, workers, dns, stop };
}
