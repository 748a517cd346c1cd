/**
 * The certificates controller in-process (Store + StateDirWriter + controller), with the
 * selfSigned and CA issuers: what a user sees in the Secret, the Certificate status, Events,
 * /api/certificates and metrics.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { RENEW_ANNOTATION, RENEWED_ANNOTATION } from '../../../src/controllers/certs/controller.js';
import { requireBinary } from '../../harness/proc.js';
import { waitFor } from '../../harness/wait.js';
import { b64d, caChain, certificateDoc, cond, startCertEnv, type CertEnv } from './controller-env.js';

const run = promisify(execFile);
const OPENSSL = requireBinary('/usr/bin/openssl', 'apt-get install -y openssl');

async function openssl(args: string[], files: Record<string, string>): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'gangplank-openssl-'));
  for (const [n, v] of Object.entries(files)) writeFileSync(join(dir, n), v);
  const { stdout } = await run(OPENSSL, args.map((a) => (a.startsWith('@') ? join(dir, a.slice(1)) : a)));
  return stdout;
}

async function sans(pem: string): Promise<string[]> {
  const out = await openssl(['x509', '-in', '@c.pem', '-noout', '-ext', 'subjectAltName'], { 'c.pem': pem });
  return [...out.matchAll(/DNS:([^,\s]+)/g)].map((m) => m[1]!).sort();
}

describe('certificates controller with selfSigned and CA issuers', { timeout: 60_000 }, () => {
  const envs: CertEnv[] = [];
  after(async () => {
    for (const e of envs) await e.destroy();
  });

  const shop = () => certificateDoc('shop', ['shop.demo.localhost']);

  test('selfSigned -> CA certificate -> CA ClusterIssuer -> leaf: Secrets, chain, status, events, view, metrics', async () => {
    const env = await startCertEnv({ manifests: [...caChain(), shop()] });
    envs.push(env);
    const leaf = await waitFor('the leaf Secret', () => env.secret('demo', 'shop-tls'), { timeoutMs: 20_000 });
    const ca = env.secret('gangplank', 'root-ca')!;
    assert.equal(leaf.type, 'kubernetes.io/tls');
    const caPem = b64d(ca.data!['tls.crt']);
    assert.equal(b64d(leaf.data!['ca.crt']), caPem, 'ca.crt of the leaf is the root');
    assert.match(await openssl(['verify', '-CAfile', '@ca.pem', '@leaf.pem'], { 'ca.pem': caPem, 'leaf.pem': b64d(leaf.data!['tls.crt']) }), /OK/);
    assert.deepEqual(await sans(b64d(leaf.data!['tls.crt'])), ['shop.demo.localhost']);
    assert.equal(leaf.metadata.annotations?.['cert-manager.io/issuer-name'], 'ca');
    assert.equal(leaf.metadata.annotations?.['cert-manager.io/issuer-kind'], 'ClusterIssuer');

    const st = await waitFor('Ready status', () => {
      const s = env.status('Certificate', 'demo', 'shop');
      return cond(s, 'Ready')?.status === 'True' ? s : undefined;
    });
    assert.equal(st.revision, 1);
    assert.equal(cond(st, 'Issuing'), undefined, 'Issuing is removed after success');
    assert.ok(st.notAfter && st.notBefore && st.renewalTime);
    // Default 90 days, renewal at 2/3 of the lifetime (minus at most 2% jitter).
    const life = Date.parse(st.notAfter) - Date.parse(st.notBefore);
    assert.ok(Math.abs(life - 2160 * 3_600_000) < 5000, `lifetime ${life}`);
    const renewIn = Date.parse(st.notAfter) - Date.parse(st.renewalTime);
    assert.ok(renewIn >= life / 3 && renewIn <= (life / 3) * 1.021, `renewal ${renewIn} before notAfter`);

    const issuerSt = await waitFor('CA ClusterIssuer Ready', () => cond(env.status('ClusterIssuer', undefined, 'ca'), 'Ready'));
    assert.equal(issuerSt.status, 'True');
    assert.equal(issuerSt.reason, 'KeyPairVerified');

    // The Issued event follows the status write: wait for it rather than race it.
    const shopEvents = () => env.writer.recentEvents().filter((e) => e.involved.kind === 'Certificate' && e.involved.name === 'shop').map((e) => e.reason);
    await waitFor('the Issued event', () => shopEvents().includes('Issued'));
    assert.deepEqual(shopEvents(), ['Issuing', 'Issued']);

    const row = env.certs.view().find((r) => r.name === 'shop')!;
    assert.deepEqual({ secret: row.secret, names: row.names, issuer: row.issuer, ready: row.ready, notAfter: row.notAfter }, { secret: 'shop-tls', names: ['shop.demo.localhost'], issuer: 'ClusterIssuer/ca', ready: 'True', notAfter: st.notAfter });

    const metrics = await env.registry.metrics();
    assert.match(metrics, new RegExp(`gangplank_certificate_expiration_timestamp_seconds\\{namespace="demo",name="shop"\\} ${Math.floor(Date.parse(st.notAfter) / 1000)}`));
    assert.match(metrics, /gangplank_certificate_ready_status\{namespace="demo",name="shop",condition="True"\} 1/);
    assert.match(metrics, /gangplank_certificate_issuance_attempts_total\{result="success"\} 2/);
  });

  test('a spec change re-issues; a deleted Secret is re-issued; the renew annotation re-issues once per value', async () => {
    const env = await startCertEnv({ manifests: [...caChain(), shop()] });
    envs.push(env);
    const revision = () => env.status('Certificate', 'demo', 'shop')?.revision ?? 0;
    await waitFor('first issuance', () => revision() === 1 && cond(env.status('Certificate', 'demo', 'shop'), 'Ready')?.status === 'True', { timeoutMs: 20_000 });

    env.setManifests([...caChain(), certificateDoc('shop', ['shop.demo.localhost', 'www.shop.demo.localhost'])]);
    await waitFor('re-issue after a spec change', () => revision() === 2, { timeoutMs: 20_000 });
    assert.deepEqual(await sans(b64d(env.secret('demo', 'shop-tls')!.data!['tls.crt'])), ['shop.demo.localhost', 'www.shop.demo.localhost']);
    const issuing = env.writer.recentEvents().filter((e) => e.involved.name === 'shop' && e.reason === 'Issuing').map((e) => e.message);
    assert.match(issuing.at(-1)!, /dnsNames/);

    await env.writer.deleteObject({ kind: 'Secret', namespace: 'demo', name: 'shop-tls' });
    await waitFor('re-issue after the Secret was deleted', () => revision() === 3 && env.secret('demo', 'shop-tls'), { timeoutMs: 20_000 });

    const serial = () => b64d(env.secret('demo', 'shop-tls')!.data!['tls.crt']);
    const before = serial();
    env.setManifests([...caChain(), certificateDoc('shop', ['shop.demo.localhost', 'www.shop.demo.localhost'], { annotations: { [RENEW_ANNOTATION]: 'one' } })]);
    await waitFor('re-issue on the renew annotation', () => revision() === 4, { timeoutMs: 20_000 });
    assert.notEqual(serial(), before);
    assert.equal(env.secret('demo', 'shop-tls')!.metadata.annotations?.[RENEWED_ANNOTATION], 'one');
    const evt = env.writer.recentEvents().filter((e) => e.involved.name === 'shop' && e.reason === 'Issuing').at(-1)!;
    assert.match(evt.message, /gangplank\.dev\/renew/);
    // Same value again (the file is re-read): nothing happens.
    env.setManifests([...caChain(), certificateDoc('shop', ['shop.demo.localhost', 'www.shop.demo.localhost'], { annotations: { [RENEW_ANNOTATION]: 'one', touched: 'x' } })]);
    await env.certs.controller.idle();
    assert.equal(revision(), 4);
  });

  test('a Secret of the same name in the manifests wins: Ready=False SecretOverridden with the file, backoff, no issuance loop', async () => {
    const manual = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'shop-tls', namespace: 'demo' }, type: 'Opaque', data: { note: Buffer.from('mine').toString('base64') } };
    const env = await startCertEnv({ manifests: [...caChain(), shop(), manual], cfg: { 'issuance-backoff-base': '1h' } });
    envs.push(env);
    const st = await waitFor('the failure', () => {
      const s = env.status('Certificate', 'demo', 'shop');
      return s?.failedIssuanceAttempts ? s : undefined;
    }, { timeoutMs: 20_000 });
    const ready = cond(st, 'Ready')!;
    assert.equal(ready.status, 'False');
    assert.equal(ready.reason, 'SecretOverridden');
    assert.match(ready.message!, /another definition of that Secret \(manifests \(document 4\)\) takes precedence/);
    await env.certs.controller.idle();
    assert.equal(env.status('Certificate', 'demo', 'shop')!.failedIssuanceAttempts, 1, 'backing off (1h), not retrying');
    assert.equal(b64d(env.secret('demo', 'shop-tls')!.data!.note), 'mine', 'the user\'s Secret is what the store serves');
    assert.match(env.certs.view().find((r) => r.name === 'shop')!.nextAttemptTime!, /^\d{4}-/);
  });

  test('an issuer that does not exist: Ready=False IssuerNotReady; issued once it appears; a restart does not re-issue', async () => {
    const env = await startCertEnv({ manifests: [certificateDoc('late', ['late.demo.localhost'], { issuer: { name: 'later', kind: 'ClusterIssuer' } })] });
    envs.push(env);
    const ready = await waitFor('Ready False', () => cond(env.status('Certificate', 'demo', 'late'), 'Ready'));
    assert.equal(ready.status, 'False');
    assert.equal(ready.reason, 'IssuerNotReady');
    assert.match(ready.message!, /ClusterIssuer later does not exist/);
    assert.equal(env.secret('demo', 'late-tls'), undefined);

    const docs = [{ apiVersion: 'cert-manager.io/v1', kind: 'ClusterIssuer', metadata: { name: 'later' }, spec: { selfSigned: {} } }, certificateDoc('late', ['late.demo.localhost'], { issuer: { name: 'later', kind: 'ClusterIssuer' } })];
    env.setManifests(docs);
    await waitFor('issued', () => cond(env.status('Certificate', 'demo', 'late'), 'Ready')?.status === 'True', { timeoutMs: 20_000 });
    const crt = env.secret('demo', 'late-tls')!.data!['tls.crt'];
    await env.stop();

    // Restart on the same state dir: the Secret and status are loaded, nothing is issued again.
    const again = await startCertEnv({ dir: env.dir, manifests: docs });
    envs.push(again);
    await again.certs.controller.idle();
    assert.equal(again.secret('demo', 'late-tls')!.data!['tls.crt'], crt);
    assert.equal(again.status('Certificate', 'demo', 'late')!.revision, 1);
    assert.equal(again.writer.recentEvents().filter((e) => e.reason === 'Issuing').length, 0);
    const row = again.certs.view().find((r) => r.name === 'late')!;
    assert.equal(row.ready, 'True');
  });
});
