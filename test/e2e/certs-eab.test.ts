/** ACME external account binding against a Pebble that requires it: with the binding an account is made and a certificate issued; without it, Ready=False with the CA's reason. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startGangplank, tempDir } from '../harness/gangplank.js';
import { freePort } from '../harness/net.js';
import { startPebble } from '../harness/pebble.js';
import { acmeIssuer, embeddedDnsArgs, tsigSecret } from '../harness/acme-manifests.js';
import { waitFor } from '../harness/wait.js';

test('external account binding: required by the CA, honoured by the Issuer', { timeout: 180_000 }, async (t) => {
  const dnsPort = await freePort({ udp: true });
  const tsig = randomBytes(32).toString('base64');
  const hmac = randomBytes(32).toString('base64url');
  const dir = await tempDir('gangplank-eab-');
  t.after(() => dir.remove());
  const secretFile = join(dir.path, 'tsig.secret');
  writeFileSync(secretFile, tsig, { mode: 0o600 });
  const pebble = await startPebble({ dnsServer: `127.0.0.1:${dnsPort}`, eab: { 'kid-gangplank': hmac } });
  t.after(() => pebble.stop());
  const manifests = join(dir.path, 'manifests');
  mkdirSync(manifests);
  const issuer = (name: string, eab: boolean) => acmeIssuer({ name, namespace: 'apps', pebble, dnsPort, ...(eab ? { eab: { keyID: 'kid-gangplank', secretName: 'eab' } } : {}) });
  const docs = [
    tsigSecret('apps', tsig),
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'eab', namespace: 'apps' }, data: { secret: Buffer.from(hmac).toString('base64') } },
    issuer('bound', true),
    issuer('unbound', false),
    { apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: { name: 'api', namespace: 'apps' }, spec: { secretName: 'api-tls', dnsNames: ['api.example.test'], privateKey: { algorithm: 'ECDSA' }, issuerRef: { name: 'bound' } } },
    { apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: { name: 'nope', namespace: 'apps' }, spec: { secretName: 'nope-tls', dnsNames: ['nope.example.test'], privateKey: { algorithm: 'ECDSA' }, issuerRef: { name: 'unbound' } } },
  ];
  writeFileSync(join(manifests, 'certs.yaml'), docs.map((d) => stringify(d)).join('---\n'));
  const g = await startGangplank(manifests, embeddedDnsArgs(dnsPort, 'example.test', secretFile));
  t.after(() => g.stop());
  type Row = { name: string; ready: string; lastError?: string; message?: string };
  // The Issuer without a binding cannot register: its Certificate waits with the CA's reason.
  const rows = await waitFor('api Ready, nope refused', async () => {
    const r = await g.admin<Row[]>('/api/certificates');
    const api = r.find((x) => x.name === 'api');
    const nope = r.find((x) => x.name === 'nope');
    return api?.ready === 'True' && nope && nope.ready !== 'True' && (nope.lastError || nope.message) ? r : undefined;
  }, { timeoutMs: 90_000, intervalMs: 250 });
  const nope = rows.find((x) => x.name === 'nope')!;
  assert.equal(nope.ready, 'False');
  // The CA's own reason, also when both issuers register with the server at the same moment
  // (test/e2e/certs-acme-register-race.test.ts covers that race tightly).
  assert.match(nope.message ?? '', /Issuer unbound is not ready: .*failed to register an ACME account.*: ACME server policy requires newAccount requests must include a value for the 'externalAccountBinding' field/);
  assert.doesNotMatch(nope.message ?? '', /Cannot read properties/);
});
