import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { useKube } from '../harness/kube.js';
import { kubeVersion } from '../harness/kube/binaries.js';
import { applyObjects, createNode, createReadyPods, setPodStatus } from '../harness/kube/fixtures.js';
import { waitFor } from '../harness/wait.js';

const kube = useKube();

interface EndpointSliceLite {
  endpoints?: { addresses: string[]; conditions?: { ready?: boolean } }[];
  ports?: { port?: number }[];
}

async function slicesOf(service: string, namespace = 'default'): Promise<EndpointSliceLite[]> {
  const out = await kube().kubectlOk([
    'get', 'endpointslices.discovery.k8s.io', '-n', namespace, '-l', `kubernetes.io/service-name=${service}`, '-o', 'json',
  ]);
  return (JSON.parse(out) as { items: EndpointSliceLite[] }).items;
}

/** address -> ready, over all slices of a Service. */
async function endpointsOf(service: string): Promise<Map<string, boolean>> {
  const m = new Map<string, boolean>();
  for (const s of await slicesOf(service)) for (const e of s.endpoints ?? []) for (const a of e.addresses) m.set(a, e.conditions?.ready === true);
  return m;
}

test('kubectl talks to the API server with the admin kubeconfig', async () => {
  const out = await kube().kubectlOk(['get', 'namespaces', '-o', 'name']);
  assert.match(out, /^namespace\/default$/m);
  assert.match(out, /^namespace\/kube-system$/m);
  // RBAC is on and the admin certificate is in system:masters.
  assert.equal((await kube().kubectlOk(['auth', 'can-i', '*', '*', '--all-namespaces'])).trim(), 'yes');
  // The server reports the release it was built from.
  const version = await kube().request('GET', '/version');
  assert.equal(version.status, 200);
  assert.equal((version.body as { gitVersion?: string }).gitVersion, kubeVersion);
});

test('a client without the admin certificate is refused by RBAC', async () => {
  const env = kube();
  const status = await new Promise<number>((resolve, reject) => {
    const req = httpsRequest(`${env.server}/api/v1/secrets`, { ca: readFileSync(env.pki.caCert) }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
  // system:anonymous may not list Secrets.
  assert.ok(status === 401 || status === 403, `anonymous list of secrets answered ${status}`);
});

test('ready Pods behind a Service become ready endpoints of its EndpointSlice', async () => {
  const env = kube();
  await createNode(env);
  await applyObjects(env, [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: 'default' },
      spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
    },
  ]);
  await createReadyPods(env, [
    { name: 'web-1', labels: { app: 'web' }, ip: '192.0.2.2' },
    { name: 'web-2', labels: { app: 'web' }, ip: '192.0.2.3' },
  ]);
  const ready = await waitFor('EndpointSlice of web with 192.0.2.2 and 192.0.2.3 ready', async () => {
    const eps = await endpointsOf('web');
    return eps.get('192.0.2.2') === true && eps.get('192.0.2.3') === true ? eps : undefined;
  }, { timeoutMs: 30_000, intervalMs: 200 });
  assert.equal(ready.size, 2);
  const [slice] = await slicesOf('web');
  assert.deepEqual(slice?.ports?.map((p) => p.port), [8080]);

  // A Pod that stops being ready stays listed but is no longer ready.
  await setPodStatus(env, { name: 'web-2' }, { ip: '192.0.2.3', ready: false });
  await waitFor('192.0.2.3 not ready', async () => (await endpointsOf('web')).get('192.0.2.3') === false, {
    timeoutMs: 30_000,
    intervalMs: 200,
  });
});

test('a deleted namespace goes away with its contents (namespace controller)', async () => {
  const env = kube();
  await env.kubectlOk(['create', 'namespace', 'doomed']);
  await applyObjects(env, [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'doomed' }, data: { a: '1' } }]);
  await createReadyPods(env, [{ namespace: 'doomed', name: 'p', labels: { app: 'x' }, ip: '192.0.2.4' }]);
  await env.kubectlOk(['delete', 'namespace', 'doomed', '--wait=false']);
  await waitFor('namespace doomed to be gone', async () => {
    const r = await env.kubectl(['get', 'namespace', 'doomed']);
    return r.code !== 0 && /NotFound/.test(r.stderr);
  }, { timeoutMs: 60_000, intervalMs: 250 });
});

test('an owner-referenced object is garbage collected with its owner', async () => {
  const env = kube();
  await applyObjects(env, [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'owner', namespace: 'default' } }]);
  const uid = (await env.kubectlOk(['get', 'configmap', 'owner', '-o', 'jsonpath={.metadata.uid}'])).trim();
  assert.ok(uid, 'owner has a uid');
  await applyObjects(env, [
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'dependent', namespace: 'default', ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid }] },
    },
  ]);
  await env.kubectlOk(['delete', 'configmap', 'owner', '--cascade=background']);
  await waitFor('dependent ConfigMap to be collected', async () => {
    const r = await env.kubectl(['get', 'configmap', 'dependent']);
    return r.code !== 0 && /NotFound/.test(r.stderr);
  }, { timeoutMs: 60_000, intervalMs: 250 });
});

test('restartApiServer keeps the data and serves on the same address', async () => {
  const env = kube();
  await applyObjects(env, [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'survivor', namespace: 'default' }, data: { k: 'v' } }]);
  const server = env.server;
  await env.restartApiServer();
  assert.equal(env.server, server);
  assert.equal((await env.kubectlOk(['get', 'configmap', 'survivor', '-o', 'jsonpath={.data.k}'])).trim(), 'v');
  // The controller manager reconnects to the restarted API server and keeps working.
  await createReadyPods(env, [{ name: 'web-3', labels: { app: 'web' }, ip: '192.0.2.5' }]);
  await waitFor('192.0.2.5 in the EndpointSlice after restart', async () => (await endpointsOf('web')).get('192.0.2.5') === true, {
    timeoutMs: 60_000,
    intervalMs: 250,
  });
});

test('stop leaves no process and no data behind', async () => {
  const env = kube();
  const pids = env.pids();
  assert.equal(pids.length, 3, 'etcd, kube-apiserver and kube-controller-manager were running');
  await env.stop();
  for (const pid of pids) {
    assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `process ${pid} is gone`);
    assert.throws(() => process.kill(-pid, 0), { code: 'ESRCH' }, `process group ${pid} is gone`);
  }
  assert.equal(existsSync(env.dir), false, `${env.dir} removed`);
});
