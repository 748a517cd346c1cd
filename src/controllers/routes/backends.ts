/** Resolves an Ingress backend to the endpoints of a Service port. Pure. */
import { createHash } from 'node:crypto';
import type { EndpointSlice, Service, ServiceBackendPort } from '../../api/types.js';
import { serviceOptions } from '../../api/traefik.js';
import type { Backend, UpstreamEndpoint } from './types.js';

/**
 * One string object per origin. Many routes reach the same endpoint (every Ingress of a Service,
 * every host of a shared backend); the proxy looks its connection pool up by the origin, and a
 * shared string is already in the CPU cache and compares by identity, where a string of its own
 * per route was one more cache miss per request with 10,000 routes. Cleared when very large
 * (endpoint churn), as the only cost of a miss here is a duplicate string.
 */
const origins = new Map<string, string>();
function intern(origin: string): string {
  const have = origins.get(origin);
  if (have !== undefined) return have;
  if (origins.size >= 100_000) origins.clear();
  origins.set(origin, origin);
  return origin;
}

export function backendId(namespace: string, service: string, port: ServiceBackendPort): string {
  // Joined: flat (see objectKey), kept for every backend.
  return [namespace, '/', service, ':', port.number ?? port.name].join('');
}

/**
 * Every Backend has the same properties in the same order (absent ones undefined): the proxy reads
 * them on every request, and V8 compiles those reads for the object layouts it has seen. Backends
 * built by spreading partial objects came in six layouts for identical fields (the spread's
 * in-object slot count depends on the sources' history), which made every read generic
 * (megamorphic) once a table had enough routes.
 */
function backend(
  f: Pick<Backend, 'id' | 'namespace' | 'service' | 'port'> & Partial<Pick<Backend, 'endpoints' | 'unready' | 'error' | 'scheme' | 'passHostHeader' | 'sticky' | 'warnings'>>,
): Backend {
  return {
    id: f.id,
    namespace: f.namespace,
    service: f.service,
    port: f.port,
    endpoints: f.endpoints ?? [],
    unready: f.unready,
    error: f.error,
    scheme: f.scheme ?? 'http',
    passHostHeader: f.passHostHeader ?? true,
    sticky: f.sticky,
    warnings: f.warnings,
  };
}

export function resolveBackend(
  namespace: string,
  serviceName: string,
  port: ServiceBackendPort,
  service: Service | undefined,
  slices: readonly EndpointSlice[],
): Backend {
  const id = backendId(namespace, serviceName, port);
  const base = { id, namespace, service: serviceName, port: (port.number ?? port.name)! };
  if (!service) return backend({ ...base, error: `service ${namespace}/${serviceName} not found` });
  const opts = serviceOptions(service.metadata.annotations);
  // Without sticky.cookie.name the cookie is named after the backend, as Traefik does.
  const sticky = opts.sticky && !opts.sticky.name ? { ...opts.sticky, name: `_${createHash('sha1').update(id).digest('hex').slice(0, 12)}` } : opts.sticky;
  const withOpts = { ...base, scheme: opts.scheme, passHostHeader: opts.passHostHeader, sticky, warnings: opts.errors.length ? opts.errors : undefined };
  if (service.spec.type === 'ExternalName') return backend({ ...withOpts, error: `service ${namespace}/${serviceName} is of type ExternalName, which gangplank does not route to` });
  const sp = (service.spec.ports ?? []).find((p) => (port.number !== undefined ? p.port === port.number : p.name === port.name));
  if (!sp) return backend({ ...withOpts, error: `service ${namespace}/${serviceName} has no port ${port.number ?? JSON.stringify(port.name)}` });
  const portName = sp.name ?? '';
  const ready: UpstreamEndpoint[] = [];
  const unready: UpstreamEndpoint[] = [];
  const seen = new Set<string>();
  for (const slice of slices) {
    if (slice.addressType === 'FQDN') continue;
    const ep = (slice.ports ?? []).find((p) => (p.name ?? '') === portName);
    // A slice without ports means "all ports": the target port is then the service's numeric targetPort.
    const target = ep ? ep.port : !slice.ports?.length ? (typeof sp.targetPort === 'number' ? sp.targetPort : sp.targetPort === undefined ? sp.port : undefined) : undefined;
    if (!target) continue;
    for (const e of slice.endpoints) {
      const isReady = e.conditions?.ready !== false;
      for (const address of e.addresses) {
        const origin = intern(slice.addressType === 'IPv6' ? `http://[${address}]:${target}` : `http://${address}:${target}`);
        if (seen.has(origin)) continue;
        seen.add(origin);
        (isReady ? ready : unready).push({ origin, address, port: target, ready: isReady });
      }
    }
  }
  ready.sort((a, b) => (a.origin < b.origin ? -1 : a.origin > b.origin ? 1 : 0));
  // Copied at their sizes: grown by push, a one-endpoint list keeps room for 17.
  return backend({ ...withOpts, endpoints: ready.slice(), unready: unready.slice() });
}
