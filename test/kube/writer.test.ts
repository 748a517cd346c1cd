/**
 * The Kubernetes writer and the cluster-side parts of the source against a real API server, read
 * back with kubectl as a user would: statuses on the status subresource, server-side applied
 * Secrets, deletes, deduplicated Events, our cert-manager CRDs, Secrets read because an Issuer
 * names them, and custom resources watched once their CRD appears.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { registerCertManagerKinds } from '../../src/api/certmanager.js';
import { createLogger, silentLogger } from '../../src/runtime/logger.js';
import { KubeSource } from '../../src/sources/kube.js';
import { Store } from '../../src/store/store.js';
import { KubeWriter } from '../../src/writers/kube.js';
import type { Ingress, Secret } from '../../src/api/types.js';
import { useKube } from '../harness/kube.js';
import { applyObjects } from '../harness/kube/fixtures.js';
import { waitFor } from '../harness/wait.js';

const CRDS = fileURLToPath(new URL('../../deploy/crds/', import.meta.url));
const kube = useKube({ controllerManager: false });
const store = new Store();
let source: KubeSource;
let writer: KubeWriter;

const ingress = (name: string) => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: { name, namespace: 'default' },
  spec: { ingressClassName: 'gangplank', rules: [{ host: `${name}.example.test`, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } }] },
});

before(async () => {
  registerCertManagerKinds();
  const env = await kube.ready;
  await env.kubectlOk(['create', 'namespace', 'gangplank']);
  const logger = process.env.GANGPLANK_TEST_ECHO ? createLogger({ level: 'debug' }) : silentLogger();
  // Started before the CRDs exist: the cert-manager kinds must be picked up when they appear.
  source = new KubeSource({ store, logger, kubeconfig: env.kubeconfig, watchTimeoutSeconds: 30, maxBackoffMs: 1000, clusterResourceNamespace: 'gangplank' });
  await source.start();
  writer = new KubeWriter({ http: source.kubeHttp, store, logger, observe: (raw) => source.observe(raw), forget: (k, ns, n) => source.forget(k, ns, n), minBackoffMs: 50 });
});

after(async () => {
  await source?.stop();
});

test('Ingress status is written to the status subresource and replaced as a whole', async () => {
  const env = kube();
  await applyObjects(env, [ingress('st')]);
  const ing = await waitFor('Ingress st in the store', () => store.getObject<Ingress>('Ingress', 'default', 'st'), { timeoutMs: 15_000 });
  const ref = { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', namespace: 'default', name: 'st', uid: ing.metadata.uid };
  await writer.writeStatus(ref, { loadBalancer: { ingress: [{ ip: '192.0.2.50' }, { hostname: 'lb.example.test' }] } });
  assert.equal(await env.kubectlOk(['get', 'ingress', 'st', '-o', 'jsonpath={.status.loadBalancer.ingress[*].ip} {.status.loadBalancer.ingress[*].hostname}']), '192.0.2.50 lb.example.test');
  await writer.writeStatus(ref, { loadBalancer: { ingress: [{ ip: '192.0.2.51' }] } });
  assert.equal(await env.kubectlOk(['get', 'ingress', 'st', '-o', 'jsonpath={.status.loadBalancer.ingress}']), '[{"ip":"192.0.2.51"}]');
  // The spec is untouched by status writes, and readStatus defers to the object itself.
  assert.equal(await env.kubectlOk(['get', 'ingress', 'st', '-o', 'jsonpath={.spec.rules[0].host}']), 'st.example.test');
  assert.equal(writer.readStatus(), undefined);

  // A status meant for an object that was deleted and made again never lands on the new one.
  await env.kubectlOk(['delete', 'ingress', 'st']);
  await applyObjects(env, [ingress('st')]);
  await assert.rejects(writer.writeStatus(ref, { loadBalancer: { ingress: [{ ip: '192.0.2.52' }] } }), /deleted and made again \(uid [0-9a-f-]+ is gone\)/);
  assert.equal(await env.kubectlOk(['get', 'ingress', 'st', '-o', 'jsonpath={.status.loadBalancer.ingress}']), '');
  // The status of an object that is gone is nothing to write.
  await writer.writeStatus({ ...ref, name: 'never-was', uid: undefined }, { loadBalancer: { ingress: [{ ip: '192.0.2.53' }] } });
});

test('owned Secrets are server-side applied, read back at once, updated and deleted', async () => {
  const env = kube();
  const secret = (data: Record<string, string>): Secret => ({
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: { name: 'owned-tls', namespace: 'default', annotations: { 'cert-manager.io/certificate-name': 'c' } },
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  });
  await writer.applyObject(secret({ 'tls.crt': 'one', 'tls.key': 'k', 'ca.crt': 'ca' }));
  // The writer hands the answer to the source: no wait for the watch.
  assert.equal(store.getObject<Secret>('Secret', 'default', 'owned-tls')?.data?.['tls.crt'], Buffer.from('one').toString('base64'));
  const got = JSON.parse(await env.kubectlOk(['get', 'secret', 'owned-tls', '-o', 'json', '--show-managed-fields'])) as { type: string; metadata: { labels: Record<string, string>; managedFields: { manager: string; operation: string }[] }; data: Record<string, string> };
  assert.equal(got.type, 'kubernetes.io/tls');
  assert.equal(got.metadata.labels['app.kubernetes.io/managed-by'], 'gangplank');
  assert.ok(got.metadata.managedFields.some((f) => f.manager === 'gangplank' && f.operation === 'Apply'), 'written by server-side apply as gangplank');

  // A field gangplank stops applying is removed (it owned it); a changed value is replaced.
  await writer.applyObject(secret({ 'tls.crt': 'two', 'tls.key': 'k' }));
  const data = JSON.parse(await env.kubectlOk(['get', 'secret', 'owned-tls', '-o', 'jsonpath={.data}'])) as Record<string, string>;
  assert.deepEqual(Object.keys(data).sort(), ['tls.crt', 'tls.key']);
  assert.equal(Buffer.from(data['tls.crt']!, 'base64').toString(), 'two');

  // An Opaque Secret gangplank owns (an ACME account key) is read by the owned-Secrets watch.
  await writer.applyObject({ apiVersion: 'v1', kind: 'Secret', type: 'Opaque', metadata: { name: 'acct', namespace: 'default' }, data: { 'tls.key': Buffer.from('x').toString('base64') } } as Secret);
  await env.kubectlOk(['label', 'secret', 'acct', 'touched=yes']);
  await waitFor('the watch reports the labelled change', () => store.getObject<Secret>('Secret', 'default', 'acct')?.metadata.labels?.touched === 'yes', { timeoutMs: 15_000 });

  await writer.deleteObject({ kind: 'Secret', namespace: 'default', name: 'owned-tls' });
  assert.equal(store.getObject('Secret', 'default', 'owned-tls'), undefined);
  const r = await env.kubectl(['get', 'secret', 'owned-tls']);
  assert.match(r.stderr, /NotFound/);
  // Deleting what is already gone is fine.
  await writer.deleteObject({ kind: 'Secret', namespace: 'default', name: 'owned-tls' });
});

test('Events are recorded on the object and repeated ones are counted', async () => {
  const env = kube();
  await applyObjects(env, [ingress('ev')]);
  const ing = await waitFor('Ingress ev in the store', () => store.getObject<Ingress>('Ingress', 'default', 'ev'), { timeoutMs: 15_000 });
  const ref = { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', namespace: 'default', name: 'ev' };
  await writer.event(ref, 'Warning', 'MissingBackend', 'ev.example.test/: Service default/web does not exist');
  await writer.event(ref, 'Warning', 'MissingBackend', 'ev.example.test/: Service default/web does not exist');
  await writer.event(ref, 'Normal', 'Fixed', 'all good');
  const list = JSON.parse(await env.kubectlOk(['get', 'events', '--field-selector', 'involvedObject.name=ev', '-o', 'json'])) as {
    items: { type: string; reason: string; message: string; count: number; source: { component: string }; involvedObject: { kind: string; uid?: string } }[];
  };
  const byReason = new Map(list.items.map((e) => [e.reason, e]));
  assert.equal(list.items.length, 2);
  assert.equal(byReason.get('MissingBackend')?.count, 2);
  assert.equal(byReason.get('MissingBackend')?.type, 'Warning');
  assert.equal(byReason.get('MissingBackend')?.source.component, 'gangplank');
  assert.equal(byReason.get('MissingBackend')?.involvedObject.uid, ing.metadata.uid, 'the uid comes from the store');
  assert.equal(byReason.get('Fixed')?.count, 1);
  // kubectl describe shows them (it selects Events by the object's uid).
  assert.match(await env.kubectlOk(['describe', 'ingress', 'ev']), /Warning\s+MissingBackend/);
  assert.equal(writer.recentEvents().find((e) => e.reason === 'MissingBackend')?.count, 2);
});

test('the cert-manager kinds are watched once our CRDs are installed, and statuses print as columns', async () => {
  const env = kube();
  await env.kubectlOk(['apply', '-f', CRDS]);
  await env.kubectlOk(['wait', '--for=condition=Established', '--timeout=60s', 'crd/certificates.cert-manager.io', 'crd/issuers.cert-manager.io', 'crd/clusterissuers.cert-manager.io']);
  await applyObjects(env, [
    { apiVersion: 'cert-manager.io/v1', kind: 'ClusterIssuer', metadata: { name: 'self' }, spec: { selfSigned: {} } },
    { apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: { name: 'web', namespace: 'default' }, spec: { secretName: 'web-tls', dnsNames: ['web.example.test'], issuerRef: { name: 'self', kind: 'ClusterIssuer' } } },
  ]);
  const cert = await waitFor('Certificate web in the store', () => store.getObject('Certificate', 'default', 'web'), { timeoutMs: 30_000 });
  assert.ok(store.getObject('ClusterIssuer', undefined, 'self'));
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  await writer.writeStatus(
    { apiVersion: 'cert-manager.io/v1', kind: 'Certificate', namespace: 'default', name: 'web', uid: cert.metadata.uid },
    { conditions: [{ type: 'Ready', status: 'True', reason: 'Ready', message: 'Certificate is up to date and has not expired', lastTransitionTime: now, observedGeneration: cert.metadata.generation }], notAfter: now, revision: 1 },
  );
  const table = await env.kubectlOk(['get', 'certificate', 'web']);
  assert.match(table, /^NAME\s+READY\s+SECRET\s+AGE$/m);
  assert.match(table, /^web\s+True\s+web-tls\s+/m);
  assert.equal(await env.kubectlOk(['get', 'certificate', 'web', '-o', 'jsonpath={.status.conditions[0].observedGeneration}']), String(cert.metadata.generation));
  await writer.writeStatus({ apiVersion: 'cert-manager.io/v1', kind: 'ClusterIssuer', name: 'self' }, { conditions: [{ type: 'Ready', status: 'True', reason: 'IsReady', message: 'ok', lastTransitionTime: now }] });
  assert.match(await env.kubectlOk(['get', 'clusterissuer', 'self']), /^self\s+True\s+/m);
  // The status written comes back through the watch.
  await waitFor('Certificate status in the store', () => (store.getObject('Certificate', 'default', 'web') as unknown as { status?: { revision?: number } })?.status?.revision === 1, { timeoutMs: 15_000 });
});

test('Secrets an Issuer names are read one by one; other non-TLS Secrets are not', async () => {
  const env = kube();
  const opaque = (namespace: string, name: string) => ({ apiVersion: 'v1', kind: 'Secret', type: 'Opaque', metadata: { name, namespace }, stringData: { secret: 'c2VjcmV0' } });
  await applyObjects(env, [opaque('default', 'tsig'), opaque('gangplank', 'ca-pair'), opaque('default', 'unrelated')]);
  await applyObjects(env, [
    {
      apiVersion: 'cert-manager.io/v1',
      kind: 'Issuer',
      metadata: { name: 'acme', namespace: 'default' },
      spec: {
        acme: {
          server: 'https://127.0.0.1:14000/dir',
          privateKeySecretRef: { name: 'acme-account' },
          solvers: [{ dns01: { rfc2136: { nameserver: '127.0.0.1:53', tsigKeyName: 'k', tsigAlgorithm: 'HMACSHA256', tsigSecretSecretRef: { name: 'tsig', key: 'secret' } } } }],
        },
      },
    },
    { apiVersion: 'cert-manager.io/v1', kind: 'ClusterIssuer', metadata: { name: 'ca' }, spec: { ca: { secretName: 'ca-pair' } } },
  ]);
  await waitFor('referenced Secrets in the store', () => store.getObject('Secret', 'default', 'tsig') && store.getObject('Secret', 'gangplank', 'ca-pair'), { timeoutMs: 30_000 });
  assert.equal(store.getObject('Secret', 'default', 'unrelated'), undefined);
  // A referenced Secret made later (the account key) is seen when it appears.
  await applyObjects(env, [opaque('default', 'acme-account')]);
  await waitFor('Secret acme-account in the store', () => store.getObject('Secret', 'default', 'acme-account'), { timeoutMs: 15_000 });
  // When no Issuer names it any more, it leaves the store.
  await env.kubectlOk(['delete', 'clusterissuer', 'ca']);
  await waitFor('Secret ca-pair gone from the store', () => !store.getObject('Secret', 'gangplank', 'ca-pair'), { timeoutMs: 15_000 });
});

test('objects of a deleted CRD leave the store', async () => {
  const env = kube();
  await env.kubectlOk(['delete', 'crd', 'certificates.cert-manager.io']);
  await waitFor('Certificates gone from the store', () => store.objects('Certificate').length === 0, { timeoutMs: 30_000 });
  assert.ok(store.objects('Issuer').length > 0, 'the other kinds stay');
});

test('--namespace restricts the namespaced kinds to one namespace', async () => {
  const env = kube();
  await applyObjects(env, [
    { apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: 'in-ns', namespace: 'gangplank' }, data: { 'tls.crt': '', 'tls.key': '' } },
    { apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: 'elsewhere', namespace: 'default' }, data: { 'tls.crt': '', 'tls.key': '' } },
  ]);
  const own = new Store();
  const scoped = new KubeSource({ store: own, logger: silentLogger(), kubeconfig: env.kubeconfig, namespace: 'gangplank', watchTimeoutSeconds: 30 });
  await scoped.start();
  try {
    assert.ok(own.getObject('Secret', 'gangplank', 'in-ns'));
    assert.equal(own.getObject('Secret', 'default', 'elsewhere'), undefined);
    assert.equal(own.objects('Ingress').length, 0, 'the Ingresses are all in default');
    // Cluster-scoped kinds are still read.
    assert.ok(own.getObject('ClusterIssuer', undefined, 'self'));
  } finally {
    await scoped.stop();
  }
});
