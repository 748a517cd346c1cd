/**
 * End to end, as a user runs it: a real API server and controller manager, objects applied with
 * kubectl, `gangplank run --kubeconfig` routing to the Pods, publishing the address in the Ingress
 * status and in its embedded DNS, reporting problems as Events, and converging after the API
 * server restarts under it. gangplank runs as the ServiceAccount of deploy/rbac/gangplank.yaml,
 * bound to that ClusterRole alone.
 *
 * Pod IPs may not be loopback addresses (API validation), so the whole test runs in a network
 * namespace of its own (`unshare -n`), where 192.0.2.10-12 are put on the loopback interface and
 * the backends listen on them. Nothing leaves that namespace. The file re-runs itself inside it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { connect as tlsConnect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { requireBinary } from '../harness/proc.js';
import { addLoopbackAddresses, insideNetns, runInNetns } from '../harness/netns.js';

const NETNS_FLAG = 'GANGPLANK_KUBE_E2E_NETNS';

if (!insideNetns(NETNS_FLAG)) runInNetns({ flag: NETNS_FLAG, file: import.meta.url, name: 'kube mode end to end, in a private network namespace', innerTests: 9, timeoutMs: 15 * 60_000 });
else await inNamespace();

async function inNamespace(): Promise<void> {
  const run = promisify(execFile);
  const { serviceAccountKubeconfig, useKube } = await import('../harness/kube.js');
  const { createNode, createReadyPods, setPodStatus } = await import('../harness/kube/fixtures.js');
  const { applyIngressClassAndWebService, ingressYaml } = await import('../harness/kube/fixtures.js');
  const { startKubeGangplank } = await import('../harness/kube-gangplank.js');
  const { waitFor } = await import('../harness/wait.js');
  type KubeGangplank = Awaited<ReturnType<typeof startKubeGangplank>>;

  // A fresh namespace has its loopback down and no other address.
  const BACKENDS = ['192.0.2.10', '192.0.2.11', '192.0.2.12'];
  addLoopbackAddresses(BACKENDS);

  const CRDS = fileURLToPath(new URL('../../deploy/crds/', import.meta.url));
  const RBAC = fileURLToPath(new URL('../../deploy/rbac/gangplank.yaml', import.meta.url));
  const DIG = requireBinary('/usr/bin/dig', 'apt-get install -y bind9-dnsutils');
  const PUBLISHED = '192.0.2.100';
  const ZONE = 'example.test';
  const kube = useKube();
  /** Where in gangplank's output the API server restart test began and ended. */
  const restartLog = { from: 0, to: 0 };
  const servers: Server[] = [];
  let g: KubeGangplank;

  const dig = async (name: string): Promise<string[]> => {
    const { stdout } = await run(DIG, ['@127.0.0.1', '-p', String(g.dnsPort), '+short', '+tries=1', '+time=2', name, 'A']);
    return stdout.split('\n').map((l) => l.trim()).filter(Boolean).sort();
  };
  /** Which backends answer for a host over a few requests. */
  const answering = async (host: string, n = 8): Promise<string[]> => {
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) {
      const r = await g.get(host);
      if (r.status !== 200) throw new Error(`${host}: HTTP ${r.status}: ${r.body.slice(0, 200)}`);
      seen.add(r.body);
    }
    return [...seen].sort();
  };
  const eventsOf = async (name: string): Promise<{ reason: string; message: string; type: string; count: number }[]> => {
    const out = await kube().kubectlOk(['get', 'events', '-n', 'default', '--field-selector', `involvedObject.name=${name}`, '-o', 'json']);
    return (JSON.parse(out) as { items: { reason: string; message: string; type: string; count: number }[] }).items;
  };

  before(async () => {
    for (const addr of BACKENDS) {
      const s = createServer((req, res) => res.end(`backend ${addr}`));
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(8080, addr, resolve);
      });
      servers.push(s);
    }
    const env = await kube.ready;
    await createNode(env);
    await applyIngressClassAndWebService(env);
    await createReadyPods(env, [
      { name: 'web-1', labels: { app: 'web' }, ip: BACKENDS[0]! },
      { name: 'web-2', labels: { app: 'web' }, ip: BACKENDS[1]! },
    ]);
    // gangplank runs as the ServiceAccount of deploy/rbac, with those rules and no others: every
    // test below is also a test that the shipped RBAC suffices.
    await env.kubectlOk(['apply', '-f', RBAC]);
    const saKubeconfig = await serviceAccountKubeconfig(env, 'gangplank', 'gangplank');
    g = await startKubeGangplank(saKubeconfig, ['--dns-zone', ZONE, '--publish-address', PUBLISHED, '--interval', '1h']);
  }, { timeout: 5 * 60_000 });

  after(async () => {
    await g?.stop();
    for (const s of servers) s.close();
  });

  test('an Ingress applied with kubectl routes to the ready Pods behind its Service', async () => {
    await kube().kubectlOk(['apply', '-f', '-'], ingressYaml({ name: 'web', host: `web.${ZONE}` }));
    const backends = await waitFor('web.example.test answered by both Pods', async () => {
      const seen = await answering(`web.${ZONE}`);
      return seen.length === 2 ? seen : undefined;
    }, { timeoutMs: 30_000, intervalMs: 200 });
    assert.deepEqual(backends, ['backend 192.0.2.10', 'backend 192.0.2.11']);
    // A host no Ingress names is not routed.
    assert.equal((await g.get(`nobody.${ZONE}`)).status, 404);
  });

  test('the Ingress status shows the published address', async () => {
    const ip = await waitFor('status.loadBalancer of web', async () => (await kube().kubectlOk(['get', 'ingress', 'web', '-o', 'jsonpath={.status.loadBalancer.ingress[*].ip}'])).trim(), { timeoutMs: 30_000, intervalMs: 200 });
    assert.equal(ip, PUBLISHED);
    // kubectl's own table shows it too.
    assert.match(await kube().kubectlOk(['get', 'ingress', 'web']), new RegExp(`^web\\s+gangplank\\s+web\\.example\\.test\\s+${PUBLISHED.replace(/\./g, '\\.')}\\s+80\\s`, 'm'));
  });

  test('the embedded DNS server answers for the Ingress host', async () => {
    const a = await waitFor('A record of web.example.test', async () => {
      const r = await dig(`web.${ZONE}`);
      return r.length ? r : undefined;
    }, { timeoutMs: 30_000, intervalMs: 200 });
    assert.deepEqual(a, [PUBLISHED]);
  });

  test('a Pod that is no longer ready stops getting traffic (EndpointSlices from the controller manager)', async () => {
    await setPodStatus(kube(), { name: 'web-2' }, { ip: BACKENDS[1]!, ready: false });
    await waitFor('only web-1 answers', async () => (await answering(`web.${ZONE}`)).join() === 'backend 192.0.2.10', { timeoutMs: 30_000, intervalMs: 200 });
    await setPodStatus(kube(), { name: 'web-2' }, { ip: BACKENDS[1]!, ready: true });
    await waitFor('both answer again', async () => (await answering(`web.${ZONE}`)).length === 2, { timeoutMs: 30_000, intervalMs: 200 });
  });

  test('an invalid Ingress and one with a missing Service get Warning Events', async () => {
    const env = kube();
    // The API accepts resource backends; gangplank serves Service backends only.
    await env.kubectlOk(['apply', '-f', '-'], `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: bad
  namespace: default
spec:
  ingressClassName: gangplank
  rules:
    - host: bad.${ZONE}
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              resource:
                apiGroup: example.test
                kind: Bucket
                name: b
`);
    await env.kubectlOk(['apply', '-f', '-'], ingressYaml({ name: 'lost', host: `lost.${ZONE}`, service: 'no-such-service' }));
    // Same host and path as lost, which is older (or, made in the same second, first by name): this rule is ignored.
    await env.kubectlOk(['apply', '-f', '-'], ingressYaml({ name: 'lost-copy', host: `lost.${ZONE}` }));
    const invalid = await waitFor('Invalid Event on Ingress bad', async () => (await eventsOf('bad')).find((e) => e.reason === 'Invalid'), { timeoutMs: 30_000, intervalMs: 250 });
    assert.equal(invalid.type, 'Warning');
    assert.match(invalid.message, /backend/);
    const missing = await waitFor('MissingBackend Event on Ingress lost', async () => (await eventsOf('lost')).find((e) => e.reason === 'MissingBackend'), { timeoutMs: 30_000, intervalMs: 250 });
    assert.match(missing.message, /no-such-service/);
    const conflict = await waitFor('RouteConflict Event on Ingress lost-copy', async () => (await eventsOf('lost-copy')).find((e) => e.reason === 'RouteConflict'), { timeoutMs: 30_000, intervalMs: 250 });
    assert.match(conflict.message, /older Ingress default\/lost/);
    // kubectl get events lists them for the user.
    assert.match(await env.kubectlOk(['get', 'events', '-n', 'default']), /Warning\s+Invalid\s+ingress\/bad/);
    // A Service with no ready endpoints answers 503, and the valid Ingresses keep working.
    assert.equal((await g.get(`lost.${ZONE}`)).status, 503);
    assert.equal((await g.get(`web.${ZONE}`)).status, 200);
  });

  test('deleting the Ingress removes its route and its DNS record', async () => {
    await kube().kubectlOk(['delete', 'ingress', 'web']);
    await waitFor('web.example.test no longer routed', async () => (await g.get(`web.${ZONE}`)).status === 404, { timeoutMs: 30_000, intervalMs: 200 });
    await waitFor('web.example.test gone from DNS', async () => (await dig(`web.${ZONE}`)).length === 0, { timeoutMs: 30_000, intervalMs: 200 });
  });

  test('after the API server restarts under gangplank, changes made meanwhile converge', async () => {
    const env = kube();
    await env.kubectlOk(['apply', '-f', '-'], ingressYaml({ name: 'before', host: `before.${ZONE}` }));
    await waitFor('before.example.test routed', async () => (await g.get(`before.${ZONE}`)).status === 200, { timeoutMs: 30_000, intervalMs: 200 });
    restartLog.from = g.proc.output().length;
    await env.restartApiServer();
    // Made while gangplank's watches are still reconnecting (they back off after the restart).
    await env.kubectlOk(['apply', '-f', '-'], ingressYaml({ name: 'after', host: `after.${ZONE}` }));
    await env.kubectlOk(['delete', 'ingress', 'before']);
    await env.kubectlOk(['delete', 'pod', 'web-1', '--wait=false']);
    await createReadyPods(env, [{ name: 'web-3', labels: { app: 'web' }, ip: BACKENDS[2]! }]);

    await waitFor('after.example.test answered by web-2 and web-3 only', async () => (await answering(`after.${ZONE}`)).join() === 'backend 192.0.2.11,backend 192.0.2.12', { timeoutMs: 90_000, intervalMs: 250 });
    await waitFor('before.example.test no longer routed', async () => (await g.get(`before.${ZONE}`)).status === 404, { timeoutMs: 30_000, intervalMs: 200 });
    await waitFor('after.example.test in DNS and before.example.test not', async () => (await dig(`after.${ZONE}`)).join() === PUBLISHED && (await dig(`before.${ZONE}`)).length === 0, { timeoutMs: 30_000, intervalMs: 250 });
    const ip = await waitFor('status of Ingress after', async () => (await env.kubectlOk(['get', 'ingress', 'after', '-o', 'jsonpath={.status.loadBalancer.ingress[*].ip}'])).trim(), { timeoutMs: 30_000, intervalMs: 200 });
    assert.equal(ip, PUBLISHED);
    restartLog.to = g.proc.output().length;
  });

  /** The certificate websecure serves for a name (SNI), and the response to a GET through it. */
  const httpsGet = (host: string): Promise<{ cert: X509Certificate; status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const sock = tlsConnect({ host: '127.0.0.1', port: g.httpsPort, servername: host, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => {
        const cert = new X509Certificate(sock.getPeerCertificate(false).raw);
        let data = '';
        sock.setEncoding('utf8');
        sock.on('data', (d: string) => (data += d));
        sock.on('end', () => {
          const [head = '', body = ''] = data.split('\r\n\r\n');
          resolve({ cert, status: Number(head.split(' ')[1]), body });
        });
        sock.write(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      });
      sock.setTimeout(10_000, () => sock.destroy(new Error(`TLS GET ${host} timed out`)));
      sock.on('error', reject);
    });

  test('with the cert-manager CRDs installed under a running gangplank, an annotated Ingress gets a certificate and serves it', async () => {
    const env = kube();
    await env.kubectlOk(['apply', '-f', CRDS]);
    await env.kubectlOk(['wait', '--for=condition=Established', '--timeout=60s', 'crd/certificates.cert-manager.io', 'crd/issuers.cert-manager.io', 'crd/clusterissuers.cert-manager.io']);
    // The namespace gangplank came with deploy/rbac (the ServiceAccount lives there).
    await env.kubectlOk(['apply', '-f', '-'], `apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata:
  name: selfsigned
spec:
  selfSigned: {}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: root
  namespace: gangplank
spec:
  isCA: true
  commonName: e2e root
  secretName: root-ca
  privateKey:
    algorithm: ECDSA
    size: 256
  issuerRef:
    name: selfsigned
    kind: ClusterIssuer
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata:
  name: ca
spec:
  ca:
    secretName: root-ca
---
${ingressYaml({ name: 'secure', host: `secure.${ZONE}`, tls: { secretName: 'secure-tls', clusterIssuer: 'ca' } })}`);
    const readyOf = async (name: string, ns: string) =>
      (await env.kubectl(['get', 'certificate', name, '-n', ns, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'])).stdout;
    await waitFor('Certificate secure-tls (made by the ingress-shim) Ready=True', async () => (await readyOf('secure-tls', 'default')) === 'True', { timeoutMs: 90_000, intervalMs: 250 });
    assert.equal(await readyOf('root', 'gangplank'), 'True');
    assert.match(await env.kubectlOk(['get', 'certificate', 'secure-tls']), /^secure-tls\s+True\s+secure-tls\s+/m);
    assert.equal((await env.kubectlOk(['get', 'secret', 'secure-tls', '-o', 'jsonpath={.type}'])).trim(), 'kubernetes.io/tls');

    const root = new X509Certificate(Buffer.from((await env.kubectlOk(['get', 'secret', 'root-ca', '-n', 'gangplank', '-o', 'jsonpath={.data.tls\\.crt}'])).trim(), 'base64'));
    const res = await waitFor('websecure serves the issued certificate for secure.example.test', async () => {
      const r = await httpsGet(`secure.${ZONE}`);
      if (!r.cert.verify(root.publicKey)) throw new Error(`served ${r.cert.subject.replace(/\n/g, ',')} (${r.cert.subjectAltName}), not one issued by the root`);
      return r;
    }, { timeoutMs: 30_000, intervalMs: 250 });
    assert.match(res.cert.subjectAltName ?? '', /DNS:secure\.example\.test/);
    assert.equal(res.status, 200);
    assert.match(res.body, /^backend 192\.0\.2\.1[12]$/);
  });

  test('nothing gangplank did was refused by RBAC (best-effort writes such as Events included)', () => {
    // A restarted API server refuses requests for a moment, until its RBAC caches are filled
    // again: the log of that test is left out (its changes converged, which it checked).
    const out = g.proc.output();
    const log = restartLog.to > restartLog.from ? out.slice(0, restartLog.from) + out.slice(restartLog.to) : out;
    const refused = log.split('\n').filter((l) => /HTTP 403|forbidden/i.test(l));
    assert.deepEqual(refused.slice(0, 5), [], 'requests the ServiceAccount was not allowed to make');
  });
}
