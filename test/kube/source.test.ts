import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { useKube } from '../harness/kube.js';
import { applyObjects, createNode, createReadyPods } from '../harness/kube/fixtures.js';
import { waitFor } from '../harness/wait.js';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeSource } from '../../src/sources/kube.js';
import { freePort } from '../harness/net.js';
import { Store } from '../../src/store/store.js';
import { createLogger, silentLogger } from '../../src/runtime/logger.js';
import type { EndpointSlice, Ingress, Secret, Service } from '../../src/api/types.js';

const kube = useKube();
const store = new Store();
let source: KubeSource;

// A self-signed pair is not needed: the source passes Secret data through as base64.
const tlsSecret = (name: string) => ({
  apiVersion: 'v1',
  kind: 'Secret',
  type: 'kubernetes.io/tls',
  metadata: { name, namespace: 'default' },
  data: { 'tls.crt': Buffer.from('cert').toString('base64'), 'tls.key': Buffer.from('key').toString('base64') },
});

const ingress = (name: string, host: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: { name, namespace: 'default' },
  spec: {
    ingressClassName: 'gangplank',
    rules: [{ host, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } }, ...extra }] } }],
  },
});

before(async () => {
  const env = await kube.ready;
  // Objects that exist before the source starts come from its initial list.
  await applyObjects(env, [
    { apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name: 'gangplank' }, spec: { controller: 'gangplank.dev/ingress-controller' } },
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] } },
    ingress('first', 'first.example.test'),
    tlsSecret('first-tls'),
    { apiVersion: 'v1', kind: 'Secret', type: 'Opaque', metadata: { name: 'not-tls', namespace: 'default' }, stringData: { password: 'x' } },
  ]);
  // GANGPLANK_TEST_ECHO=1 shows the source's log (relists, retries) next to the peers' output.
  const logger = process.env.GANGPLANK_TEST_ECHO ? createLogger({ level: 'debug' }) : silentLogger();
  source = new KubeSource({ store, logger, kubeconfig: env.kubeconfig, watchTimeoutSeconds: 30, maxBackoffMs: 2000 });
  await source.start();
});

after(async () => {
  await source?.stop();
});

test('the initial list fills the store; only TLS Secrets are read', () => {
  assert.ok(store.getObject('IngressClass', undefined, 'gangplank'));
  assert.ok(store.getObject<Service>('Service', 'default', 'web'));
  assert.equal(store.getObject<Ingress>('Ingress', 'default', 'first')?.spec.rules?.[0]?.host, 'first.example.test');
  assert.equal(store.getObject<Secret>('Secret', 'default', 'first-tls')?.type, 'kubernetes.io/tls');
  assert.equal(store.getObject('Secret', 'default', 'not-tls'), undefined);
  // The API's own "kubernetes" Service is there too, with its kind set although list items carry none.
  assert.equal(store.getObject<Service>('Service', 'default', 'kubernetes')?.kind, 'Service');
});

test('watch events add, modify and delete objects in the store', async () => {
  const env = kube();
  await applyObjects(env, [ingress('second', 'second.example.test')]);
  await waitFor('Ingress second in the store', () => store.getObject('Ingress', 'default', 'second'), { timeoutMs: 15_000 });
  await applyObjects(env, [ingress('second', 'changed.example.test')]);
  await waitFor('Ingress second modified', () => store.getObject<Ingress>('Ingress', 'default', 'second')?.spec.rules?.[0]?.host === 'changed.example.test', {
    timeoutMs: 15_000,
  });
  await env.kubectlOk(['delete', 'ingress', 'second']);
  await waitFor('Ingress second gone', () => store.getObject('Ingress', 'default', 'second') === undefined, { timeoutMs: 15_000 });
});

test('EndpointSlices made by the controller manager reach the store', async () => {
  const env = kube();
  await createNode(env);
  await createReadyPods(env, [
    { name: 'web-1', labels: { app: 'web' }, ip: '192.0.2.2' },
    { name: 'web-2', labels: { app: 'web' }, ip: '192.0.2.3' },
  ]);
  const addrs = await waitFor('ready endpoints of web in the store', () => {
    const slices = store.objects<EndpointSlice>('EndpointSlice', 'default').filter((s) => s.metadata.labels?.['kubernetes.io/service-name'] === 'web');
    const ready = slices.flatMap((s) => s.endpoints.filter((e) => e.conditions?.ready).flatMap((e) => e.addresses)).sort();
    return ready.length === 2 ? ready : undefined;
  }, { timeoutMs: 30_000 });
  assert.deepEqual(addrs, ['192.0.2.2', '192.0.2.3']);
});

test('an object gangplank cannot use is rejected alone, and the rejection clears when it is fixed', async () => {
  const env = kube();
  // The API accepts resource backends; gangplank supports service backends only.
  const bad = {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name: 'bad', namespace: 'default' },
    spec: { rules: [{ host: 'bad.example.test', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { resource: { apiGroup: 'example.test', kind: 'Bucket', name: 'b' } } }] } }] },
  };
  await applyObjects(env, [bad]);
  const rej = await waitFor('rejection of Ingress bad', () => store.rejected().find((r) => r.name === 'bad'), { timeoutMs: 15_000 });
  assert.equal(rej.kind, 'Ingress');
  assert.match(rej.errors.map((e) => `${e.path}: ${e.message}`).join('\n'), /backend/);
  assert.equal(store.getObject('Ingress', 'default', 'bad'), undefined);
  assert.ok(store.getObject('Ingress', 'default', 'first'), 'other objects are unaffected');

  await env.kubectlOk(['delete', 'ingress', 'bad']);
  await waitFor('rejection of bad cleared', () => !store.rejected().some((r) => r.name === 'bad'), { timeoutMs: 15_000 });
});

test('the source resumes after the API server restarts', async () => {
  const env = kube();
  await applyObjects(env, [tlsSecret('before-restart')]);
  await waitFor('Secret before-restart', () => store.getObject('Secret', 'default', 'before-restart'), { timeoutMs: 15_000 });
  await env.restartApiServer();
  await applyObjects(env, [tlsSecret('after-restart')]);
  await env.kubectlOk(['delete', 'secret', 'before-restart']);
  await waitFor('Secret after-restart added and before-restart removed', () => store.getObject('Secret', 'default', 'after-restart') && !store.getObject('Secret', 'default', 'before-restart'), {
    timeoutMs: 60_000,
    intervalMs: 100,
  });
  assert.ok(store.getObject('Ingress', 'default', 'first'), 'objects from before the restart are still there');
});

test('stop ends the watches: later changes do not reach the store', async () => {
  const env = kube();
  await source.stop();
  await applyObjects(env, [tlsSecret('after-stop')]);
  // The API server has it (a read after the write) and the store, stopped, does not.
  await env.kubectlOk(['get', 'secret', 'after-stop']);
  assert.equal(store.getObject('Secret', 'default', 'after-stop'), undefined);
});

test('start fails with a clear error when the API server cannot be reached', async () => {
  const env = kube();
  const kc = new KubeConfig();
  kc.loadFromFile(env.kubeconfig);
  const closed = `https://127.0.0.1:${await freePort()}`;
  kc.loadFromOptions({
    clusters: kc.clusters.map((c) => ({ ...c, server: closed })),
    users: kc.users,
    contexts: kc.contexts,
    currentContext: kc.currentContext,
  });
  const lonely = new KubeSource({ store: new Store(), logger: silentLogger(), kubeConfig: kc, syncTimeoutMs: 1500, maxBackoffMs: 200 });
  await assert.rejects(lonely.start(), (err: Error) => {
    assert.match(err.message, new RegExp(`no complete list from ${closed.replace(/[.]/g, '\\.')} within 1500 ms`));
    assert.match(err.message, /ECONNREFUSED/);
    return true;
  });
});
