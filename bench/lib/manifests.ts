/**
 * Manifests for gangplank: per host one Service, one EndpointSlice (the nginx backend on
 * 127.0.0.1) and one Ingress. Documents are written as JSON (valid YAML) so that 30,000 of
 * them are generated in milliseconds.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Cert } from './configs.js';

export const CLASS = 'gangplank';

function service(name: string): object {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'bench' }, spec: { ports: [{ name: 'http', port: 80 }] } };
}

function slice(svc: string, port: number): object {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${svc}-slice`, namespace: 'bench', labels: { 'kubernetes.io/service-name': svc } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port }],
    endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
  };
}

export function ingress(name: string, host: string, svc: string, tlsSecret?: string): object {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name, namespace: 'bench' },
    spec: {
      ingressClassName: CLASS,
      ...(tlsSecret ? { tls: [{ hosts: [host], secretName: tlsSecret }] } : {}),
      rules: [{ host, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: svc, port: { number: 80 } } } }] } }],
    },
  };
}

function docs(list: object[]): string {
  return list.map((d) => JSON.stringify(d)).join('\n---\n') + '\n';
}

/** Rewrites a manifest file in place (truncate + write, same inode), as `echo > file` does. */
export async function writeDocsInPlace(dir: string, file: string, list: object[]): Promise<void> {
  await writeFile(join(dir, file), docs(list));
}

/** Writes a manifest file atomically (write + rename), as editors and deploy tools do. */
export async function writeDocs(dir: string, file: string, list: object[]): Promise<void> {
  const tmp = join(dir, `.${file}.tmp`);
  await writeFile(tmp, docs(list));
  await rename(tmp, join(dir, file));
}

export interface Layout {
  dir: string;
  hosts: readonly string[];
  backendPort: number;
  /** TLS host served with this certificate (a kubernetes.io/tls Secret named in spec.tls). */
  tls?: { host: string; cert: Cert };
}

/** The file that holds the first host's Ingress alone (the change-latency test rewrites it). */
export const CHANGE_FILE = 'ingress-0.yaml';

/** Writes the whole manifests directory. */
export async function writeLayout(l: Layout): Promise<void> {
  await mkdir(l.dir, { recursive: true });
  const CHUNK = 500;
  for (let start = 0; start < l.hosts.length; start += CHUNK) {
    const batch: object[] = [];
    for (let i = start; i < Math.min(l.hosts.length, start + CHUNK); i++) {
      batch.push(service(`svc-${i}`), slice(`svc-${i}`, l.backendPort));
      if (i > 0) batch.push(ingress(`ing-${i}`, l.hosts[i]!, `svc-${i}`));
    }
    await writeDocs(l.dir, `objects-${start / CHUNK}.yaml`, batch);
  }
  await writeDocs(l.dir, CHANGE_FILE, [ingress('ing-0', l.hosts[0]!, 'svc-0')]);
  if (l.tls) {
    const secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: { name: 'bench-tls', namespace: 'bench' },
      data: { 'tls.crt': Buffer.from(l.tls.cert.certPem).toString('base64'), 'tls.key': Buffer.from(l.tls.cert.keyPem).toString('base64') },
    };
    await writeDocs(l.dir, 'tls.yaml', [service('svc-tls'), slice('svc-tls', l.backendPort), secret, ingress('ing-tls', l.tls.host, 'svc-tls', 'bench-tls')]);
  }
}

/** Host names for a route table of `n` hosts. */
export function hostNames(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `h${i}.bench.test`);
}
