/** JSON views for the admin API: what is loaded, what is rejected and why, what routes where. */
import { parseKey } from '../api/meta.js';
import type { RoutesController } from '../controllers/routes/controller.js';
import type { Secret } from '../api/types.js';
import type { Store } from '../store/store.js';
import { lookupName } from '../tls/match.js';
import { secretError, tlsView } from '../tls/views.js';

export function objectsView(store: Store) {
  const objects = [];
  for (const e of store.allEntries()) {
    const k = parseKey(e.key);
    // A certificate Secret that cannot be served is loaded, but its hosts get the default certificate.
    const error = k.kind === 'Secret' ? secretError(e.object as Secret) : null;
    objects.push({ kind: k.kind, namespace: k.namespace || undefined, name: k.name, source: e.origin.source, document: e.origin.doc, error });
  }
  objects.sort((a, b) => (a.kind + a.namespace + a.name < b.kind + b.namespace + b.name ? -1 : 1));
  const rejected = store.rejected().map((r) => ({
    kind: r.kind ?? null,
    namespace: r.namespace ?? null,
    name: r.name ?? null,
    source: r.origin.source,
    document: r.origin.doc,
    error: r.errors.map((e) => `${e.path}: ${e.message}`).join('; '),
    errors: r.errors,
  }));
  return { objects, rejected };
}

export function routesView(routes: RoutesController, store: Store) {
  const table = routes.current();
  const conflicts = routes.conflicts();
  const tls = tlsView(table, store);
  const tlsByHost = new Map(tls.hosts.map((h) => [h.host, h]));
  return {
    version: table.version,
    routes: table.routes().map((r) => ({
      id: r.id,
      host: r.host || '*',
      path: r.path,
      pathType: r.pathType,
      default: r.isDefault ?? false,
      ingress: `${r.ingress.namespace}/${r.ingress.name}`,
      service: `${r.backend.namespace}/${r.backend.service}`,
      port: r.backend.port,
      scheme: r.backend.scheme,
      state: r.backend.error ? 'backend-missing' : r.backend.endpoints.length ? 'ok' : 'no-ready-endpoints',
      error: r.backend.error ?? null,
      warnings: r.backend.warnings ?? [],
      endpoints: [...r.backend.endpoints, ...(r.backend.unready ?? [])].map((e) => ({ address: e.address, port: e.port, ready: e.ready })),
      conflicts: conflicts.filter((c) => c.host === r.host && c.path === r.path).map((c) => ({ loser: c.loser, message: c.message })),
      tls: r.tls ? routeTls(lookupName(tlsByHost, r.host)) : null,
      sslRedirect: r.sslRedirect ?? false,
      entrypoints: r.entrypoints ?? null,
    })),
    conflicts,
    tls,
  };
}

function routeTls(h: ReturnType<typeof tlsView>['hosts'][number] | undefined) {
  if (h === undefined) return { secret: null, certificate: 'default', names: [], notAfter: null, problems: [] };
  return { secret: h.secret, certificate: h.certificate, names: h.names, notAfter: h.notAfter, problems: h.problems };
}
