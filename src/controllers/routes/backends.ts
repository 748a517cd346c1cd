/** Resolves an Ingress backend to the endpoints of a Service port. Pure. */
import { createHash } from 'node:crypto';
import type { EndpointSlice, Service, ServiceBackendPort } from '../../api/types.js';
import { serviceOptions } from '../../api/traefik.js';
import type { Backend, UpstreamEndpoint } from './types.js';

export function backendId(namespace: string, service: string, port: ServiceBackendPort): string {
  return `${namespace}/${service}:${port.number ?? port.name}`;
}

export function resolveBackend(
  namespace: string,
  serviceName: string,
  port: ServiceBackendPort,
  service: Service | undefined,
  slices: readonly EndpointSlice[],
): Backend {
  const id = backendId(namespace, serviceName, port);
  const base = { id, namespace, service: serviceName, port: (port.number ?? port.name)!, endpoints: [] as UpstreamEndpoint[] };
  if (!service) return { ...base, error: `service ${namespace}/${serviceName} not found`, scheme: 'http', passHostHeader: true };
  const opts = serviceOptions(service.metadata.annotations);
  // Without sticky.cookie.name the cookie is named after the backend, as Traefik does.
  const sticky = opts.sticky && !opts.sticky.name ? { ...opts.sticky, name: `_${createHash('sha1').update(id).digest('hex').slice(0, 12)}` } : opts.sticky;
  const withOpts = { ...base, scheme: opts.scheme, passHostHeader: opts.passHostHeader, sticky, ...(opts.errors.length ? { warnings: opts.errors } : {}) };
  if (service.spec.type === 'ExternalName') return { ...withOpts, error: `service ${namespace}/${serviceName} is of type ExternalName, which gangplank does not route to` };
  const sp = (service.spec.ports ?? []).find((p) => (port.number !== undefined ? p.port === port.number : p.name === port.name));
  if (!sp) return { ...withOpts, error: `service ${namespace}/${serviceName} has no port ${port.number ?? JSON.stringify(port.name)}` };
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
        const origin = slice.addressType === 'IPv6' ? `http://[${address}]:${target}` : `http://${address}:${target}`;
        if (seen.has(origin)) continue;
        seen.add(origin);
        (isReady ? ready : unready).push({ origin, address, port: target, ready: isReady });
      }
    }
  }
  ready.sort((a, b) => (a.origin < b.origin ? -1 : a.origin > b.origin ? 1 : 0));
  return { ...withOpts, endpoints: ready, unready };
}
