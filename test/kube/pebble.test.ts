/**
 * Kube mode, ACME end to end: an Ingress with spec.tls annotated cert-manager.io/cluster-issuer
 * gets a Certificate from the ingress-shim; an ACME ClusterIssuer gets it issued by Pebble over
 * DNS-01, with the challenge TXT record written over RFC 2136 (TSIG) into gangplank's own
 * embedded DNS server, which Pebble validates against. The Secret lands in the cluster, and
 * websecure serves it for the host and routes to the backend Pod. Everything is applied with
 * kubectl and checked with kubectl, openssl and curl, as a user would.
 *
 * Pod IPs may not be loopback addresses, so, like e2e.test.ts, the file re-runs itself in a
 * network namespace of its own (`unshare -n`) where 192.0.2.10-11 sit on the loopback interface.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { requireBinary } from '../harness/proc.js';
import { addLoopbackAddresses, insideNetns, runInNetns } from '../harness/netns.js';

const NETNS_FLAG = 'GANGPLANK_KUBE_PEBBLE_NETNS';

if (!insideNetns(NETNS_FLAG)) runInNetns({ flag: NETNS_FLAG, file: import.meta.url, name: 'kube mode: a Certificate issued by Pebble over DNS-01 is served by websecure (in a private network namespace)', innerTests: 4, timeoutMs: 5 * 60_000 });
else await inNamespace();

async function inNamespace(): Promise<void> {
  const run = promisify(execFile);
  const { createServer } = await import('node:http');
  const { useKube } = await import('../harness/kube.js');
  const { createNode, createReadyPods } = await import('../harness/kube/fixtures.js');
  const { applyIngressClassAndWebService, ingressYaml } = await import('../harness/kube/fixtures.js');
  const { startKubeGangplank } = await import('../harness/kube-gangplank.js');
  const { startPebble } = await import('../harness/pebble.js');
  const { waitFor } = await import('../harness/wait.js');
  type KubeGangplank = Awaited<ReturnType<typeof startKubeGangplank>>;
  type Pebble = Awaited<ReturnType<typeof startPebble>>;

  // A fresh namespace has its loopback down and no other address.
  const PUBLISHED = '192.0.2.10';
  const BACKEND = '192.0.2.11';
  addLoopbackAddresses([PUBLISHED, BACKEND]);

  const CRDS = fileURLToPath(new URL('../../deploy/crds/', import.meta.url));
  const DIG = requireBinary('/usr/bin/dig', 'apt-get install -y bind9-dnsutils');
  const OPENSSL = requireBinary('/usr/bin/openssl', 'apt-get install -y openssl');
  const CURL = requireBinary('/usr/bin/curl', 'apt-get install -y curl');
  const ZONE = 'example.test';
  const HOST = `secure.${ZONE}`;
  const TSIG_NAME = 'acme-key';
  const kube = useKube();
  const dir = mkdtempSync(join(tmpdir(), 'gangplank-kube-pebble-'));
  let backend: Server | undefined;
  let g: KubeGangplank | undefined;
  let pebble: Pebble | undefined;

  const gp = (): KubeGangplank => {
    if (!g) throw new Error('gangplank did not start (see the before hook)');
    return g;
  };
  const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g;
  /** The PEM blocks of tls.crt in the Secret (leaf first, then the chain). */
  const secretChain = async (): Promise<string[]> => {
    const b64 = (await kube().kubectlOk(['get', 'secret', 'secure-tls', '-n', 'default', '-o', 'jsonpath={.data.tls\\.crt}'])).trim();
    return Buffer.from(b64, 'base64').toString('utf8').match(PEM_CERT) ?? [];
  };
  const readyOf = async (kind: string, name: string, ns?: string): Promise<string> =>
    (await kube().kubectl(['get', kind, name, ...(ns ? ['-n', ns] : []), '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].message}'])).stdout.trim();

  /** What `openssl s_client -connect 127.0.0.1:PORT -servername NAME </dev/null` prints (the served leaf among it). */
  const sClient = (port: number, servername: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const child = execFile(OPENSSL, ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', servername], { timeout: 10_000 }, (err, stdout, stderr) => {
        if (err && !stdout) reject(new Error(`openssl s_client ${servername}: ${err.message} ${stderr}`));
        else resolve(stdout);
      });
      // End of input makes s_client close the connection and exit once the handshake is done.
      child.stdin?.end();
    });

  before(async () => {
    const server = createServer((_req, res) => res.end(`backend ${BACKEND}`));
    backend = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(8080, BACKEND, resolve);
    });
    const env = await kube.ready;
    await createNode(env);
    await env.kubectlOk(['apply', '-f', CRDS]);
    await env.kubectlOk(['wait', '--for=condition=Established', '--timeout=60s', 'crd/certificates.cert-manager.io', 'crd/issuers.cert-manager.io', 'crd/clusterissuers.cert-manager.io']);
    // ClusterIssuers find their Secrets (TSIG key, ACME account key) in --cluster-resource-namespace.
    await env.kubectlOk(['create', 'namespace', 'gangplank']);
    await applyIngressClassAndWebService(env);
    await createReadyPods(env, [{ name: 'web-1', labels: { app: 'web' }, ip: BACKEND }]);

    // The same TSIG secret lets the embedded server accept the updates the ClusterIssuer's rfc2136 solver sends.
    const tsig = randomBytes(32).toString('base64');
    const tsigFile = join(dir, 'tsig.secret');
    writeFileSync(tsigFile, tsig, { mode: 0o600 });
    g = await startKubeGangplank(env.kubeconfig, [
      '--dns-zone', ZONE,
      '--dns-tsig-key', `${TSIG_NAME}:hmac-sha256:${tsigFile}`,
      '--publish-address', PUBLISHED,
      '--interval', '1h',
    ]);
    // Pebble resolves and validates with gangplank's embedded DNS server (its port is known only now).
    pebble = await startPebble({ dnsServer: `127.0.0.1:${g.dnsPort}` });
    writeFileSync(join(dir, 'root.pem'), await pebble.roots());

    const nameserver = `127.0.0.1:${g.dnsPort}`;
    await env.kubectlOk(['apply', '-f', '-'], `apiVersion: v1
kind: Secret
metadata:
  name: tsig
  namespace: gangplank
data:
  secret: ${Buffer.from(tsig).toString('base64')}
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata:
  name: pebble
spec:
  acme:
    server: ${pebble.directoryUrl}
    email: ops@${ZONE}
    caBundle: ${Buffer.from(pebble.caBundlePem).toString('base64')}
    privateKeySecretRef:
      name: pebble-account
    solvers:
      - dns01:
          rfc2136:
            nameserver: "${nameserver}"
            tsigKeyName: ${TSIG_NAME}
            tsigAlgorithm: HMACSHA256
            tsigSecretSecretRef:
              name: tsig
              key: secret
---
${ingressYaml({ name: 'secure', host: HOST, tls: { secretName: 'secure-tls', clusterIssuer: 'pebble' } })}`);
  }, { timeout: 4 * 60_000 });

  after(async () => {
    await g?.stop();
    await pebble?.stop();
    if (backend) await new Promise<void>((resolve) => backend!.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  test('the Certificate the ingress-shim makes becomes Ready=True, issued by Pebble over DNS-01', async () => {
    const env = kube();
    await waitFor('Certificate secure-tls Ready=True', async () => {
      const r = await readyOf('certificate', 'secure-tls', 'default');
      if (!r.startsWith('True')) throw new Error(`Ready is "${r}"; gangplank said: ${gp().proc.output().split('\n').filter((l) => /acme|certificate|issu/i.test(l)).slice(-5).join('\n')}`);
      return true;
    }, { timeoutMs: 60_000, intervalMs: 250 });
    const { spec } = JSON.parse(await env.kubectlOk(['get', 'certificate', 'secure-tls', '-n', 'default', '-o', 'json'])) as { spec: { dnsNames?: string[]; issuerRef?: { name: string; kind?: string } } };
    assert.deepEqual(spec.dnsNames, [HOST]);
    assert.deepEqual({ name: spec.issuerRef?.name, kind: spec.issuerRef?.kind }, { name: 'pebble', kind: 'ClusterIssuer' });
    assert.match(await env.kubectlOk(['get', 'certificate', 'secure-tls', '-n', 'default']), /^secure-tls\s+True\s+secure-tls\s+/m);
    // The ClusterIssuer registered its ACME account, whose key is kept in the named Secret.
    assert.match(await readyOf('clusterissuer', 'pebble'), /^True/);
    assert.ok((await env.kubectlOk(['get', 'secret', 'pebble-account', '-n', 'gangplank', '-o', 'jsonpath={.data.tls\\.key}'])).trim(), 'the ACME account key is in Secret gangplank/pebble-account');
  });

  test('the Secret is a kubernetes.io/tls Secret whose tls.crt chains to Pebble\'s root', async () => {
    const env = kube();
    assert.equal((await env.kubectlOk(['get', 'secret', 'secure-tls', '-n', 'default', '-o', 'jsonpath={.type}'])).trim(), 'kubernetes.io/tls');
    assert.ok((await env.kubectlOk(['get', 'secret', 'secure-tls', '-n', 'default', '-o', 'jsonpath={.data.tls\\.key}'])).trim(), 'tls.key is set');
    const chain = await secretChain();
    assert.ok(chain.length >= 2, `tls.crt holds the leaf and Pebble's intermediate (${chain.length} certificates)`);
    const leaf = new X509Certificate(chain[0]!);
    assert.equal(leaf.subjectAltName, `DNS:${HOST}`);
    writeFileSync(join(dir, 'leaf.pem'), chain[0]!);
    writeFileSync(join(dir, 'chain.pem'), chain.slice(1).join(''));
    const { stdout } = await run(OPENSSL, ['verify', '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, 'chain.pem'), join(dir, 'leaf.pem')]);
    assert.match(stdout, /leaf\.pem: OK/);
  });

  test('the DNS-01 challenge record is gone from the embedded DNS server afterwards', async () => {
    const txt = async () =>
      (await run(DIG, ['@127.0.0.1', '-p', String(gp().dnsPort), '+short', '+tries=1', '+time=2', `_acme-challenge.${HOST}`, 'TXT'])).stdout.trim();
    await waitFor('no TXT record at _acme-challenge.secure.example.test', async () => (await txt()) === '', { timeoutMs: 15_000, intervalMs: 200 });
    // The host itself is published with the Ingress.
    const a = await waitFor(`A record of ${HOST}`, async () => (await run(DIG, ['@127.0.0.1', '-p', String(gp().dnsPort), '+short', '+tries=1', '+time=2', HOST, 'A'])).stdout.trim(), { timeoutMs: 15_000, intervalMs: 200 });
    assert.equal(a, PUBLISHED);
  });

  test('websecure serves the issued certificate for the host and routes https requests to the backend', async () => {
    const leafPem = (await secretChain())[0]!;
    const want = new X509Certificate(leafPem).fingerprint256;
    const port = gp().httpsPort;
    // openssl s_client, as a user would check what a server presents for a name (SNI).
    const served = await waitFor(`websecure serving the Pebble certificate for ${HOST}`, async () => {
      const stdout = await sClient(port, HOST);
      const pem = stdout.match(PEM_CERT)?.[0];
      if (!pem) throw new Error(`openssl s_client printed no certificate: ${stdout.slice(0, 300)}`);
      const cert = new X509Certificate(pem);
      if (cert.fingerprint256 !== want) throw new Error(`served ${cert.subject.replace(/\n/g, ',')} (${cert.subjectAltName}) issued by ${cert.issuer.replace(/\n/g, ',')}, not the Secret's leaf`);
      return cert;
    }, { timeoutMs: 30_000, intervalMs: 250 });
    assert.equal(served.subjectAltName, `DNS:${HOST}`);
    // curl trusting only Pebble's root: the name, the chain websecure sends and the route all check out.
    const { stdout } = await run(CURL, ['-sS', '--max-time', '10', '--cacert', join(dir, 'root.pem'), '--resolve', `${HOST}:${port}:127.0.0.1`, '-w', '\\n%{http_code}', `https://${HOST}:${port}/`]);
    assert.equal(stdout, `backend ${BACKEND}\n200`);
  });
}
