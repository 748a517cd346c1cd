/**
 * Black-box crash safety: gangplank is SIGKILLed in the middle of an ACME order (after the order
 * was persisted, while Pebble's validation is still pending) and started again on the same state
 * directory: it finishes the same order instead of opening a new one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startGangplank, tempDir, type Gangplank } from '../harness/gangplank.js';
import { freePort } from '../harness/net.js';
import { startPebble } from '../harness/pebble.js';
import { acmeIssuer, embeddedDnsArgs, tsigSecret } from '../harness/acme-manifests.js';
import { waitFor } from '../harness/wait.js';

/** `acme step` debug lines of a gangplank's log: step and detail (the order URL for order steps). */
function steps(g: Gangplank): { step: string; detail: string }[] {
  const out: { step: string; detail: string }[] = [];
  for (const line of g.proc.output().split('\n')) {
    if (!line.includes('"acme step"')) continue;
    try {
      const o = JSON.parse(line) as { step: string; detail: string };
      out.push({ step: o.step, detail: o.detail });
    } catch {
      /* a partial line */
    }
  }
  return out;
}

test('SIGKILL in the middle of an ACME order, then a restart on the same state dir, finishes the same order', { timeout: 240_000 }, async (t) => {
  const dnsPort = await freePort({ udp: true });
  const tsig = randomBytes(32).toString('base64');
  const dir = await tempDir('gangplank-crash-');
  t.after(() => dir.remove());
  const secretFile = join(dir.path, 'tsig.secret');
  writeFileSync(secretFile, tsig, { mode: 0o600 });
  // Pebble waits a random 0-15 s before each validation without PEBBLE_VA_NOSLEEP: the window to crash in.
  const pebble = await startPebble({ dnsServer: `127.0.0.1:${dnsPort}`, env: { PEBBLE_VA_NOSLEEP: '0' } });
  t.after(() => pebble.stop());
  const manifests = join(dir.path, 'manifests');
  mkdirSync(manifests);
  const docs = [
    tsigSecret('apps', tsig),
    acmeIssuer({ name: 'pebble', namespace: 'apps', pebble, dnsPort }),
    { apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: { name: 'api', namespace: 'apps' }, spec: { secretName: 'api-tls', dnsNames: ['api.example.test'], privateKey: { algorithm: 'ECDSA' }, issuerRef: { name: 'pebble' } } },
  ];
  writeFileSync(join(manifests, 'certs.yaml'), docs.map((d) => stringify(d)).join('---\n'));
  const stateDir = join(dir.path, 'state');
  const args = [...embeddedDnsArgs(dnsPort, 'example.test', secretFile), '--state-dir', stateDir];

  const first = await startGangplank(manifests, args);
  const orderUrl = await waitFor('the order is persisted', () => steps(first).find((s) => s.step === 'order-persisted')?.detail, { timeoutMs: 60_000, intervalMs: 20 });
  first.proc.child.kill('SIGKILL');
  await first.proc.exited;
  assert.ok(!steps(first).some((s) => s.step === 'finalized'), 'killed before the order was finalized');
  await first.stop();

  const second = await startGangplank(manifests, args);
  t.after(() => second.stop());
  await waitFor('the certificate is Ready after the restart', async () => {
    const rows = await second.admin<{ name: string; ready: string }[]>('/api/certificates');
    return rows.some((r) => r.name === 'api' && r.ready === 'True');
  }, { timeoutMs: 120_000, intervalMs: 250 });
  const after = steps(second);
  assert.deepEqual([...new Set(after.filter((s) => s.step === 'finalized').map((s) => s.detail))], [orderUrl], 'the restarted gangplank finalized the order it had persisted');
  assert.ok(!after.some((s) => s.step === 'order-persisted' && s.detail !== orderUrl), 'no new order was opened');
});
