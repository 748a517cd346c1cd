import type { EndpointSlice, Ingress, IngressClass, PathType, Service } from '../../../src/api/types.js';

export function ingress(name: string, spec: Ingress['spec'], meta: Partial<Ingress['metadata']> = {}): Ingress {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name, namespace: 'default', ...meta }, spec };
}

export function rule(host: string | undefined, paths: [string, PathType, string, number?][]): NonNullable<Ingress['spec']['rules']>[number] {
  return {
    host,
    http: { paths: paths.map(([path, pathType, svc, port]) => ({ path, pathType, backend: { service: { name: svc, port: { number: port ?? 80 } } } })) },
  };
}

export function service(name: string, ports: { name?: string; port: number; targetPort?: number }[] = [{ port: 80 }], meta: Partial<Service['metadata']> = {}): Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default', ...meta }, spec: { ports } };
}

export function slice(name: string, svc: string, addrs: [string, boolean][], ports: { name?: string; port: number }[] = [{ port: 8080 }], ns = 'default'): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace: ns, labels: { 'kubernetes.io/service-name': svc } },
    addressType: 'IPv4',
    endpoints: addrs.map(([a, ready]) => ({ addresses: [a], conditions: { ready } })),
    ports,
  };
}

export function ingressClass(name: string, controller: string, isDefault = false): IngressClass {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'IngressClass',
    metadata: { name, annotations: isDefault ? { 'ingressclass.kubernetes.io/is-default-class': 'true' } : {} },
    spec: { controller },
  };
}
