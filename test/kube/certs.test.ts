/**
 * Certificates in cluster mode: the certificates controller and ingress-shim (as
 * src/controllers/certs/setup.ts builds them) fed by the Kubernetes source and writing through
 * the Kubernetes writer, with our CRDs installed. Checked with kubectl as a user would: a
 * selfSigned root, a CA ClusterIssuer signing with it, Secrets with the cert-manager layout,
 * Certificate status Ready=True, and a Certificate made by the shim for an annotated Ingress.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { registerCertManagerKinds } from '../../src/api/certmanager.js';
import { createCertificates, type Certificates } from '../../src/controllers/certs/setup.js';
import { resolveConfig } from '../../src/runtime/config.js';
import type { Component } from '../../src/runtime/lifecycle.js';
import { createLogger, silentLogger } from '../../src/runtime/logger.js';
import { KubeSource } from '../../src/sources/kube.js';
import { Store } from '../../src/store/store.js';
import { KubeWriter } from '../../src/writers/kube.js';
import { useKube } from '../harness/kube.js';
import { applyObjects } from '../harness/kube/fixtures.js';
import { waitFor } from '../harness/wait.js';

const CRDS = fileURLToPath(new URL('../../deploy/crds/', import.meta.url));
const kube = useKube({ controllerManager: false });
const store = new Store();
let stateDir: string;
let source: KubeSource;
let certs: Certificates;
const started: Component[] = [];

before(async () => {
  registerCertManagerKinds();
  const env = await kube.ready;
  stateDir = await mkdtemp(join(tmpdir(), 'gangplank-kube-certs-'));
  await env.kubectlOk(['create', 'namespace', 'gangplank']);
  await env.kubectlOk(['apply', '-f', CRDS]);
  await env.kubectlOk(['wait', '--for=condition=Established', '--timeout=60s', 'crd/certificates.cert-manager.io', 'crd/issuers.cert-manager.io', 'crd/clusterissuers.cert-manager.io']);
  const logger = process.env.GANGPLANK_TEST_ECHO ? createLogger({ level: 'debug' }) : silentLogger();
  source = new KubeSource({ store, logger, kubeconfig: env.kubeconfig, watchTimeoutSeconds: 30, maxBackoffMs: 1000, clusterResourceNamespace: 'gangplank' });
  await source.start();
  started.push(source);
  const writer = new KubeWriter({ http: source.kubeHttp, store, logger, observe: (raw) => source.observe(raw), forget: (k, ns, n) => source.forget(k, ns, n) });
  const cfg = resolveConfig({ 'state-dir': stateDir, 'cluster-resource-namespace': 'gangplank', 'issuance-backoff-base': '1s', 'issuance-backoff-max': '5s' });
  certs = createCertificates({ cfg, store, writer, logger, registry: new Registry() });
  for (const c of certs.components) {
    await c.start();
    started.push(c);
  }
});

after(async () => {
  for (const c of started.reverse()) await c.stop();
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

interface SecretJson {
  type: string;
  metadata: { annotations?: Record<string, string> };
  data: Record<string, string>;
}

async function secretOf(namespace: string, name: string): Promise<SecretJson | undefined> {
  const r = await kube().kubectl(['get', 'secret', name, '-n', namespace, '-o', 'json']);
  return r.code === 0 ? (JSON.parse(r.stdout) as SecretJson) : undefined;
}

async function ready(kind: string, name: string, namespace?: string): Promise<string> {
  const ns = namespace ? ['-n', namespace] : [];
  return (await kube().kubectlOk(['get', kind, name, ...ns, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'])).trim();
}

test('a selfSigned root and a CA ClusterIssuer issue into Secrets, with Certificate status Ready=True', async () => {
  const env = kube();
  await applyObjects(env, [
    { apiVersion: 'cert-manager.io/v1', kind: 'ClusterIssuer', metadata: { name: 'selfsigned' }, spec: { selfSigned: {} } },
    {
      apiVersion: 'cert-manager.io/v1',
      kind: 'Certificate',
      metadata: { name: 'root', namespace: 'gangplank' },
      spec: { isCA: true, commonName: 'gangplank test root', secretName: 'root-ca', privateKey: { algorithm: 'ECDSA', size: 256 }, issuerRef: { name: 'selfsigned', kind: 'ClusterIssuer' } },
    },
    { apiVersion: 'cert-manager.io/v1', kind: 'ClusterIssuer', metadata: { name: 'ca' }, spec: { ca: { secretName: 'root-ca' } } },
    {
      apiVersion: 'cert-manager.io/v1',
      kind: 'Certificate',
      metadata: { name: 'web', namespace: 'default' },
      spec: { secretName: 'web-tls', dnsNames: ['web.example.test'], privateKey: { algorithm: 'ECDSA', size: 256 }, issuerRef: { name: 'ca', kind: 'ClusterIssuer' } },
    },
  ]);
  await waitFor('Certificate web Ready=True', async () => (await ready('certificate', 'web', 'default')) === 'True', { timeoutMs: 60_000, intervalMs: 250 });
  assert.equal(await ready('certificate', 'root', 'gangplank'), 'True');
  assert.equal(await ready('clusterissuer', 'ca'), 'True');
  assert.match(await env.kubectlOk(['get', 'certificate', 'web']), /^web\s+True\s+web-tls\s+/m);

  const root = await secretOf('gangplank', 'root-ca');
  const web = await secretOf('default', 'web-tls');
  assert.ok(root && web, 'both Secrets exist');
  assert.equal(web.type, 'kubernetes.io/tls');
  assert.deepEqual(Object.keys(web.data).sort(), ['ca.crt', 'tls.crt', 'tls.key']);
  assert.equal(web.metadata.annotations?.['cert-manager.io/certificate-name'], 'web');
  const leaf = new X509Certificate(Buffer.from(web.data['tls.crt']!, 'base64'));
  const ca = new X509Certificate(Buffer.from(root.data['tls.crt']!, 'base64'));
  assert.match(leaf.subjectAltName ?? '', /DNS:web\.example\.test/);
  assert.ok(leaf.verify(ca.publicKey), 'web-tls is signed by the root the CA issuer holds');
  const observed = await env.kubectlOk(['get', 'certificate', 'web', '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].observedGeneration} {.metadata.generation}']);
  const [og, gen] = observed.trim().split(' ');
  assert.equal(og, gen, 'the Ready condition names the generation it is about');
});

test('the ingress-shim makes a Certificate for an annotated Ingress, and it gets issued', async () => {
  const env = kube();
  await applyObjects(env, [
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'shop', namespace: 'default', annotations: { 'cert-manager.io/cluster-issuer': 'ca' } },
      spec: {
        ingressClassName: 'gangplank',
        tls: [{ hosts: ['shop.example.test'], secretName: 'shop-tls' }],
        rules: [{ host: 'shop.example.test', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } }],
      },
    },
  ]);
  await waitFor('Certificate shop-tls Ready=True', async () => (await env.kubectl(['get', 'certificate', 'shop-tls', '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'])).stdout === 'True', {
    timeoutMs: 60_000,
    intervalMs: 250,
  });
  const owner = await env.kubectlOk(['get', 'certificate', 'shop-tls', '-o', 'jsonpath={.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}']);
  assert.equal(owner, 'Ingress/shop');
  const s = await secretOf('default', 'shop-tls');
  assert.match(new X509Certificate(Buffer.from(s!.data['tls.crt']!, 'base64')).subjectAltName ?? '', /DNS:shop\.example\.test/);
});

test('an issuer that cannot issue gets a Warning Event and its Certificates say why they wait', async () => {
  const env = kube();
  await applyObjects(env, [
    { apiVersion: 'cert-manager.io/v1', kind: 'ClusterIssuer', metadata: { name: 'broken-ca' }, spec: { ca: { secretName: 'no-such-ca' } } },
    {
      apiVersion: 'cert-manager.io/v1',
      kind: 'Certificate',
      metadata: { name: 'waiting', namespace: 'default' },
      spec: { secretName: 'waiting-tls', dnsNames: ['waiting.example.test'], issuerRef: { name: 'broken-ca', kind: 'ClusterIssuer' } },
    },
  ]);
  // Events of cluster-scoped objects live in the default namespace.
  const ev = await waitFor('Warning Event on ClusterIssuer broken-ca', async () => {
    const out = await env.kubectlOk(['get', 'events', '-n', 'default', '--field-selector', 'involvedObject.name=broken-ca,type=Warning', '-o', 'json']);
    return (JSON.parse(out) as { items: { reason: string; message: string; involvedObject: { kind: string } }[] }).items[0];
  }, { timeoutMs: 60_000, intervalMs: 250 });
  assert.equal(ev.involvedObject.kind, 'ClusterIssuer');
  assert.match(ev.message, /no-such-ca/);
  assert.equal(await ready('clusterissuer', 'broken-ca'), 'False');
  await waitFor('Certificate waiting Ready=False naming the issuer', async () => {
    const msg = await env.kubectlOk(['get', 'certificate', 'waiting', '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].message}']);
    return /^False .*broken-ca|^False .*no-such-ca/.test(msg);
  }, { timeoutMs: 60_000, intervalMs: 250 });
  assert.equal((await env.kubectl(['get', 'secret', 'waiting-tls'])).code, 1, 'no Secret without a certificate');
});
