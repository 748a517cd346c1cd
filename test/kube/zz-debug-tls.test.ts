import { test } from 'node:test';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { useKube } from '../harness/kube.js';
import { startKubeGangplank } from '../harness/kube-gangplank.js';
import { waitFor } from '../harness/wait.js';
const kube = useKube({ controllerManager: false });
test('debug', async () => {
  const env = kube();
    const g = await startKubeGangplank(env.kubeconfig, ['--dns-port', '0']);
    try {
    await env.kubectlOk(['apply', '-f', fileURLToPath(new URL('../../deploy/crds/', import.meta.url))]);
    await env.kubectlOk(['wait', '--for=condition=Established', 'crd/certificates.cert-manager.io', 'crd/clusterissuers.cert-manager.io']);
    await env.kubectlOk(['apply', '-f', '-'], `apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: gangplank}
spec: {controller: gangplank.dev/ingress-controller}
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: selfsigned}
spec: {selfSigned: {}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: secure, namespace: default, annotations: {cert-manager.io/cluster-issuer: selfsigned}}
spec:
  ingressClassName: gangplank
  tls: [{hosts: [secure.example.test], secretName: secure-tls}]
  rules: [{host: secure.example.test, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}}]
`);
    await waitFor('ready', async () => (await env.kubectl(['get', 'certificate', 'secure-tls', '-o', 'jsonpath={.status.conditions[0].status}'])).stdout === 'True', { timeoutMs: 60000 });
    for (let i = 0; i < 3; i++) {
      const out = execFileSync('sh', ['-c', `echo | openssl s_client -connect 127.0.0.1:${g.httpsPort} -servername secure.example.test 2>/dev/null | grep subject=`]).toString();
      console.error('SERVED', out);
      await new Promise((r) => setTimeout(r, 1000));
    }
    {
      const tls = await import('node:tls');
      const crt = Buffer.from((await env.kubectlOk(['get', 'secret', 'secure-tls', '-o', 'jsonpath={.data.tls\\.crt}'])).trim(), 'base64').toString();
      const key = Buffer.from((await env.kubectlOk(['get', 'secret', 'secure-tls', '-o', 'jsonpath={.data.tls\\.key}'])).trim(), 'base64').toString();
      console.error('KEYHEAD', key.split('\n')[0], 'CRTCOUNT', crt.split('BEGIN CERT').length - 1);
      const ctx = tls.createSecureContext({ cert: crt, key });
      const srv = tls.createServer({ cert: readFileSync('/tmp/kubemode-dbg/c.pem'), key: readFileSync('/tmp/kubemode-dbg/k.pem'), SNICallback: (_n, cb) => cb(null, ctx) }, (s) => s.end());
      await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
      const port = (srv.address() as { port: number }).port;
      console.error('PLAIN SERVED', execFileSync('sh', ['-c', `echo | openssl s_client -connect 127.0.0.1:${port} -servername secure.example.test 2>&1 | grep -E 'subject=|error|alert|Cipher' ; true`]).toString());
      const x = new (await import('node:crypto')).X509Certificate(crt);
      console.error('CERTINFO', x.publicKey.asymmetricKeyType, x.publicKey.asymmetricKeyDetails, 'keymatch', x.checkPrivateKey((await import('node:crypto')).createPrivateKey(key)));
      srv.close();
    }
    console.error('ROUTES', JSON.stringify(await g.admin('/api/routes')).slice(0, 3000));
    const objs = JSON.stringify(await g.admin('/api/objects'));
    console.error('OBJECTS', objs.slice(0, 4000));
    await g.stop();
    const g2 = await startKubeGangplank(env.kubeconfig, ['--dns-port', '0']);
    console.error('RESTARTED SERVED', execFileSync('sh', ['-c', `echo | openssl s_client -connect 127.0.0.1:${g2.httpsPort} -servername secure.example.test 2>/dev/null | grep subject=`]).toString());
    await g2.stop();
    console.error(g.proc.output().split('\n').filter((l) => /DBG/.test(l)).map((l) => l.slice(0, 300)).join('\n'));
  } finally {
    await g.stop();
  }
});
