/**
 * The benchmark's manifests: N Ingresses, one host each, spread round-robin over the zones, 100
 * Ingresses per file, so that rewriting one file changes exactly 100 hostnames. Written as JSON
 * documents (valid YAML) so that 10,000 of them take milliseconds.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const PER_FILE = 100;
export const NAMESPACE = 'dnsbench';

export function zoneNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `z${i}.dnsbench.test`);
}

/** Host i, in zone i mod zones; `generation` > 0 renames it (the change phase). */
export function hostName(i: number, zones: readonly string[], generation = 0): string {
  return `h${i}${generation ? `-g${generation}` : ''}.${zones[i % zones.length]}`;
}

function ingress(i: number, host: string): object {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name: `ing-${i}`, namespace: NAMESPACE },
    spec: {
      ingressClassName: 'gangplank',
      rules: [{ host, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } }],
    },
  };
}

/** One Service with an endpoint so that the routes are valid (the DNS controller does not need it). */
function backend(): object[] {
  return [
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: NAMESPACE }, spec: { ports: [{ name: 'http', port: 80 }] } },
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'web-1', namespace: NAMESPACE, labels: { 'kubernetes.io/service-name': 'web' } },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: 9 }],
      endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
    },
  ];
}

async function writeDocs(dir: string, file: string, docs: object[]): Promise<void> {
  const tmp = join(dir, `.${file}.tmp`);
  await writeFile(tmp, docs.map((d) => JSON.stringify(d)).join('\n---\n') + '\n');
  await rename(tmp, join(dir, file));
}

export function fileOf(i: number): string {
  return `ingresses-${String(Math.floor(i / PER_FILE)).padStart(4, '0')}.yaml`;
}

/** Writes (or rewrites) the file holding hosts [first, first+PER_FILE) with the given generation. */
export async function writeHostFile(dir: string, first: number, hosts: number, zones: readonly string[], generation: number): Promise<string[]> {
  const names: string[] = [];
  const docs: object[] = [];
  for (let i = first; i < Math.min(hosts, first + PER_FILE); i++) {
    const h = hostName(i, zones, generation);
    names.push(h);
    docs.push(ingress(i, h));
  }
  await writeDocs(dir, fileOf(first), docs);
  return names;
}

/** Writes the whole manifests directory; returns every host name. */
export async function writeManifests(dir: string, hosts: number, zones: readonly string[]): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  await writeDocs(dir, 'backend.yaml', backend());
  const names: string[] = [];
  for (let first = 0; first < hosts; first += PER_FILE) names.push(...(await writeHostFile(dir, first, hosts, zones, 0)));
  return names;
}
