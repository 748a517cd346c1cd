/**
 * An in-process certificates setup for tests: a Store fed with manifests (as the file source
 * would), the embedded StateDirWriter in a temp dir, and the real controller and ingress-shim.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { registerCertManagerKinds, type CertificateStatus } from '../../../src/api/certmanager.js';
import type { TypedObject } from '../../../src/api/meta.js';
import type { Secret } from '../../../src/api/types.js';
import { parseObject } from '../../../src/api/validate.js';
import type { CertificatesControllerOptions } from '../../../src/controllers/certs/controller.js';
import { createCertificates, type Certificates } from '../../../src/controllers/certs/setup.js';
import { resolveConfig, type RunConfig } from '../../../src/runtime/config.js';
import { silentLogger } from '../../../src/runtime/logger.js';
import { Store } from '../../../src/store/store.js';
import { StateDirWriter } from '../../../src/writers/statedir.js';

export interface CertEnv {
  dir: string;
  store: Store;
  writer: StateDirWriter;
  certs: Certificates;
  registry: Registry;
  /** Replaces the "manifests" (all user objects) with these raw documents. */
  setManifests(docs: unknown[]): void;
  secret(namespace: string, name: string): Secret | undefined;
  status(kind: string, namespace: string | undefined, name: string): CertificateStatus & Record<string, unknown> | undefined;
  /** Stops the controller (the state dir stays for a restart). */
  stop(): Promise<void>;
  /** Stops and removes the state dir. */
  destroy(): Promise<void>;
}

export function parseAll(docs: unknown[]): TypedObject[] {
  registerCertManagerKinds();
  return docs.map((d, i) => {
    const r = parseObject(d);
    if (!r.ok) throw new Error(`document ${i}: ${JSON.stringify(r.errors)}`);
    return r.object as TypedObject;
  });
}

export async function startCertEnv(opts: { dir?: string; manifests?: unknown[]; cfg?: Record<string, unknown>; overrides?: Partial<CertificatesControllerOptions> } = {}): Promise<CertEnv> {
  registerCertManagerKinds();
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'gangplank-certs-'));
  const cfg: RunConfig = resolveConfig({ 'state-dir': dir, 'issuance-backoff-base': '300ms', 'issuance-backoff-max': '2s', ...(opts.cfg ?? {}) });
  const store = new Store();
  const logger = silentLogger();
  const writer = new StateDirWriter(dir, store, logger);
  await writer.load();
  const registry = new Registry();
  const setManifests = (docs: unknown[]) => store.replaceSource('manifests', parseAll(docs).map((object, doc) => ({ object, doc })));
  if (opts.manifests) setManifests(opts.manifests);
  store.flush();
  const certs = createCertificates({ cfg, store, writer, logger, registry }, opts.overrides ?? {});
  for (const c of certs.components) await c.start();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    for (const c of [...certs.components].reverse()) await c.stop();
  };
  return {
    dir,
    store,
    writer,
    certs,
    registry,
    setManifests,
    secret: (ns, name) => store.getObject<Secret>('Secret', ns, name),
    status: (kind, ns, name) => writer.readStatus({ kind, namespace: ns, name }) as (CertificateStatus & Record<string, unknown>) | undefined,
    stop,
    async destroy() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const b64d = (s: string | undefined) => Buffer.from(s ?? '', 'base64').toString('utf8');

export function cond(st: CertificateStatus | undefined, type: 'Ready' | 'Issuing') {
  return st?.conditions?.find((c) => c.type === type);
}

export const selfSignedClusterIssuer = (name = 'selfsigned') => ({ apiVersion: 'cert-manager.io/v1', kind: 'ClusterIssuer', metadata: { name }, spec: { selfSigned: {} } });

/** selfSigned ClusterIssuer -> CA Certificate in the cluster-resource namespace -> CA ClusterIssuer. */
export function caChain(opts: { ns?: string } = {}): unknown[] {
  const ns = opts.ns ?? 'gangplank';
  return [
    selfSignedClusterIssuer(),
    {
      apiVersion: 'cert-manager.io/v1',
      kind: 'Certificate',
      metadata: { name: 'root-ca', namespace: ns },
      spec: { isCA: true, commonName: 'gangplank test root', secretName: 'root-ca', issuerRef: { name: 'selfsigned', kind: 'ClusterIssuer' }, privateKey: { algorithm: 'ECDSA', size: 256 } },
    },
    { apiVersion: 'cert-manager.io/v1', kind: 'ClusterIssuer', metadata: { name: 'ca' }, spec: { ca: { secretName: 'root-ca' } } },
  ];
}

export function certificateDoc(name: string, dnsNames: string[], extra: { namespace?: string; issuer?: { name: string; kind?: string }; annotations?: Record<string, string>; spec?: Record<string, unknown> } = {}) {
  return {
    apiVersion: 'cert-manager.io/v1',
    kind: 'Certificate',
    metadata: { name, namespace: extra.namespace ?? 'demo', ...(extra.annotations ? { annotations: extra.annotations } : {}) },
    spec: { secretName: `${name}-tls`, dnsNames, issuerRef: extra.issuer ?? { name: 'ca', kind: 'ClusterIssuer' }, privateKey: { algorithm: 'ECDSA' }, ...(extra.spec ?? {}) },
  };
}
