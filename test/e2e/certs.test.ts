/**
 * `gangplank run` issues certificates (black box, the built binary): a selfSigned ClusterIssuer
 * and an ACME Issuer whose DNS-01 challenges go to gangplank's own embedded DNS server over
 * RFC 2136 with TSIG, validated by Pebble against that server. The Secrets land in the state
 * directory and /api/certificates reports them Ready.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort } from '../harness/net.js';
import { startGangplank, tempDir } from '../harness/gangplank.js';
import { startPebble } from '../harness/pebble.js';
import { acmeIssuer, embeddedDnsArgs, tsigSecret } from '../harness/acme-manifests.js';
import { waitFor } from '../harness/wait.js';

interface Row {
  namespace: string;
  name: string;
  secret: string;
  ready: string;
  notAfter?: string;
  lastError?: string;
}

test('gangplank run: selfSigned and ACME DNS-01 (through its own DNS server) certificates land in the state dir', { timeout: 180_000 }, async (t) => {
  const dnsPort = await freePort({ udp: true });
  const tsig = randomBytes(32).toString('base64');
  const dir = await tempDir('gangplank-certs-e2e-');
  t.after(() => dir.remove());
  const secretFile = join(dir.path, 'tsig.secret');
  writeFileSync(secretFile, tsig, { mode: 0o600 });
  const pebble = await startPebble({ dnsServer: `127.0.0.1:${dnsPort}` });
  t.after(() => pebble.stop());

  const manifests = join(dir.path, 'manifests');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(manifests);
  const docs = [
    { apiVersion: 'cert-manager.io/v1', kind: 'ClusterIssuer', metadata: { name: 'selfsigned' }, spec: { selfSigned: {} } },
    { apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: { name: 'site', namespace: 'demo' }, spec: { secretName: 'site-tls', dnsNames: ['site.demo.localhost'], privateKey: { algorithm: 'ECDSA' }, issuerRef: { name: 'selfsigned', kind: 'ClusterIssuer' } } },
    tsigSecret('apps', tsig),
    acmeIssuer({ name: 'pebble', namespace: 'apps', pebble, dnsPort }),
    { apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: { name: 'api', namespace: 'apps' }, spec: { secretName: 'api-tls', dnsNames: ['api.example.test'], privateKey: { algorithm: 'ECDSA' }, issuerRef: { name: 'pebble' } } },
  ];
  writeFileSync(join(manifests, 'certs.yaml'), docs.map((d) => stringify(d)).join('---\n'));

  const g = await startGangplank(manifests, embeddedDnsArgs(dnsPort, 'example.test', secretFile));
  t.after(() => g.stop());

  const rows = await waitFor('both certificates Ready in /api/certificates', async () => {
    const r = await g.admin<Row[]>('/api/certificates');
    return r.length === 2 && r.every((x) => x.ready === 'True') ? r : undefined;
  }, { timeoutMs: 90_000, intervalMs: 200 });
  assert.deepEqual(rows.map((r) => `${r.namespace}/${r.name}:${r.secret}`).sort(), ['apps/api:api-tls', 'demo/site:site-tls']);

  const secretOf = (ns: string, name: string) => JSON.parse(readFileSync(join(g.stateDir, 'objects', `Secret_${ns}_${name}.json`), 'utf8')) as { type: string; data: Record<string, string> };
  const site = secretOf('demo', 'site-tls');
  assert.equal(site.type, 'kubernetes.io/tls');
  assert.equal(new X509Certificate(Buffer.from(site.data['tls.crt']!, 'base64')).subjectAltName, 'DNS:site.demo.localhost');
  const api = secretOf('apps', 'api-tls');
  const leaf = new X509Certificate(Buffer.from(api.data['tls.crt']!, 'base64'));
  assert.equal(leaf.subjectAltName, 'DNS:api.example.test');
  const intermediate = new X509Certificate((await pebble.intermediates()).match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/)![0]);
  assert.ok(leaf.verify(intermediate.publicKey), 'issued by Pebble');
  // The readiness metric follows the status write: eventually consistent, like the status itself.
  await waitFor('the readiness metric', async () => /gangplank_certificate_ready_status\{namespace="apps",name="api",condition="True"\} 1/.test(await fetch(`http://127.0.0.1:${g.adminPort}/metrics`).then((r) => r.text())));
});
