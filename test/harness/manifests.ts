/** Builders for manifest files used by black-box tests. */
import { mkdir, writeFile, rename } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { stringify } from 'yaml';

export function serviceWithEndpoints(name: string, ports: number[], opts: { ns?: string; ready?: boolean[]; annotations?: Record<string, string> } = {}): object[] {
  const ns = opts.ns ?? 'default';
  return [
    { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns, annotations: opts.annotations }, spec: { ports: [{ name: 'http', port: 80 }] } },
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `${name}-slice`, namespace: ns, labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: ports[0] ?? 1 }],
      endpoints: ports.length ? [{ addresses: ['127.0.0.1'], conditions: { ready: opts.ready?.[0] ?? true } }] : [],
    },
  ];
}

/** One slice per port (a slice maps one port): several endpoints of one Service on 127.0.0.1. */
export function serviceWithPorts(name: string, ports: number[], ns = 'default'): object[] {
  return [
    { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec: { ports: [{ name: 'http', port: 80 }] } },
    ...ports.map((p, i) => ({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `${name}-${i}`, namespace: ns, labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: p }],
      endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
    })),
  ];
}

export function ingress(name: string, rules: { host?: string; paths: [string, string, string][] }[], extra: { ns?: string; defaultBackend?: string; annotations?: Record<string, string>; creationTimestamp?: string } = {}): object {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name, namespace: extra.ns ?? 'default', annotations: extra.annotations, creationTimestamp: extra.creationTimestamp },
    spec: {
      ingressClassName: 'gangplank',
      ...(extra.defaultBackend ? { defaultBackend: { service: { name: extra.defaultBackend, port: { number: 80 } } } } : {}),
      rules: rules.map((r) => ({
        host: r.host,
        http: { paths: r.paths.map(([path, pathType, svc]) => ({ path, pathType, backend: { service: { name: svc, port: { number: 80 } } } })) },
      })),
    },
  };
}

export function toYaml(docs: object[]): string {
  return docs.map((d) => stringify(JSON.parse(JSON.stringify(d)))).join('---\n');
}

/** Writes a manifest file atomically (as editors and kubectl-like tools do). */
export async function writeManifest(dir: string, file: string, docs: object[] | string): Promise<string> {
  const path = join(dir, file);
  await mkdir(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.tmp`);
  await writeFile(tmp, typeof docs === 'string' ? docs : toYaml(docs));
  await rename(tmp, path);
  return path;
}
