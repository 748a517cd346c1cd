/** examples/certificates.yaml: it parses, and the demo chain issues shop-tls and docs-tls from the CA. */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { X509Certificate } from 'node:crypto';
import { waitFor } from '../../harness/wait.js';
import { b64d, cond, startCertEnv, type CertEnv } from './controller-env.js';

let env: CertEnv | undefined;
after(async () => {
  await env?.destroy();
});

test('the demo certificates are issued from the demo CA', { timeout: 60_000 }, async () => {
  const docs = parseAllDocuments(readFileSync(new URL('../../../examples/certificates.yaml', import.meta.url), 'utf8')).map((d) => d.toJS());
  env = await startCertEnv({ manifests: docs });
  const e = env;
  for (const name of ['shop', 'docs']) await waitFor(`${name} Ready`, () => cond(e.status('Certificate', 'demo', name), 'Ready')?.status === 'True', { timeoutMs: 30_000 });
  const ca = new X509Certificate(b64d(e.secret('gangplank', 'demo-ca')!.data!['tls.crt']));
  assert.ok(ca.ca);
  for (const [secret, san] of [['shop-tls', 'DNS:shop.demo.localhost'], ['docs-tls', 'DNS:*.docs.demo.localhost']] as const) {
    const leaf = new X509Certificate(b64d(e.secret('demo', secret)!.data!['tls.crt']));
    assert.equal(leaf.subjectAltName, san);
    assert.ok(leaf.verify(ca.publicKey), `${secret} is signed by the demo CA`);
  }
});
