/**
 * cert-manager's own CRDs, for tests that check gangplank works with them installed instead of
 * ours (deploy/crds/). They are not in the repository: scripts/fetch-cert-manager-crds.sh takes
 * them from the cert-manager Go module into .cache/cert-manager-crds/<version>/.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import type { KubeEnv } from '../kube.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** The cert-manager release whose CRDs the tests install; scripts/fetch-cert-manager-crds.sh reads the same file. */
export const certManagerVersion: string = (process.env.CERT_MANAGER_VERSION ?? readFileSync(new URL('./CERT_MANAGER_VERSION', import.meta.url), 'utf8')).trim();

/** CRD name -> file in the module's deploy/crds/. */
export const CERT_MANAGER_CRDS: Readonly<Record<string, string>> = {
  'certificates.cert-manager.io': 'cert-manager.io_certificates.yaml',
  'issuers.cert-manager.io': 'cert-manager.io_issuers.yaml',
  'clusterissuers.cert-manager.io': 'cert-manager.io_clusterissuers.yaml',
  'certificaterequests.cert-manager.io': 'cert-manager.io_certificaterequests.yaml',
  'orders.acme.cert-manager.io': 'acme.cert-manager.io_orders.yaml',
  'challenges.acme.cert-manager.io': 'acme.cert-manager.io_challenges.yaml',
};

/** The directory holding the six files; throws (never skips) with the command that fetches them. */
export function certManagerCrdsDir(): string {
  const dir = join(repoRoot, '.cache', 'cert-manager-crds', certManagerVersion);
  const missing = Object.values(CERT_MANAGER_CRDS).filter((f) => !existsSync(join(dir, f)));
  if (missing.length)
    throw new Error(`cert-manager ${certManagerVersion} CRDs missing in ${dir} (${missing.join(', ')}): fetch them with \`bash scripts/fetch-cert-manager-crds.sh ${certManagerVersion}\``);
  return dir;
}

/** A CRD as parsed from cert-manager's file, for comparing schemas. */
export interface CrdDocument {
  metadata: { name: string; annotations?: Record<string, string> };
  spec: {
    group: string;
    scope: string;
    names: { kind: string; plural: string; singular?: string; shortNames?: string[] };
    versions: { name: string; served: boolean; storage: boolean; schema: { openAPIV3Schema: JsonSchema }; subresources?: Record<string, unknown>; additionalPrinterColumns?: { name: string; jsonPath: string; priority?: number }[] }[];
  };
}

export interface JsonSchema {
  type?: string;
  format?: string;
  enum?: unknown[];
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  additionalProperties?: JsonSchema | boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
}

/** Reads one CRD file (ours or theirs) with a single document. */
export function readCrd(file: string): CrdDocument {
  const docs = YAML.parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJSON() as unknown).filter((d): d is CrdDocument => !!d);
  if (docs.length !== 1) throw new Error(`${file}: expected one CustomResourceDefinition, found ${docs.length} documents`);
  return docs[0]!;
}

/** Installs cert-manager's CRDs (server-side: their schemas exceed the last-applied annotation's limit) and waits until they are served. */
export async function installCertManagerCrds(env: KubeEnv, fieldManager = 'kubectl'): Promise<void> {
  const dir = certManagerCrdsDir();
  const files = Object.values(CERT_MANAGER_CRDS).flatMap((f) => ['-f', join(dir, f)]);
  await env.kubectlOk(['apply', '--server-side', `--field-manager=${fieldManager}`, '--force-conflicts', ...files]);
  await env.kubectlOk(['wait', '--for=condition=Established', '--timeout=60s', ...Object.keys(CERT_MANAGER_CRDS).map((n) => `crd/${n}`)]);
}
