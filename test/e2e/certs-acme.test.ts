/**
 * The certificates controller against real Pebble, with DNS-01 answered by gangplank's embedded
 * DNS server (updated over RFC 2136 with TSIG, as an Issuer's rfc2136 solver would any server)
 * and HTTP-01 answered from the controller's Http01Registry.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { AcmeStep } from '../../src/controllers/certs/issuers/acme.js';
import type { CertificatesControllerOptions } from '../../src/controllers/certs/controller.js';
import { waitFor } from '../harness/wait.js';
import { b64d, cond, startCertEnv, type CertEnv } from '../unit/certs/controller-env.js';
import { acmeCertificateDoc, startAcmePeers, type AcmePeers } from './certs-acme-env.js';

const run = promisify(execFile);

async function verify(chainPem: string, rootPem: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'gangplank-verify-'));
  const certs = chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
  writeFileSync(join(dir, 'leaf.pem'), certs[0]!);
  writeFileSync(join(dir, 'chain.pem'), certs.slice(1).join('\n'));
  writeFileSync(join(dir, 'root.pem'), rootPem);
  const { stdout } = await run('/usr/bin/openssl', ['verify', '-CAfile', join(dir, 'root.pem'), ...(certs.length > 1 ? ['-untrusted', join(dir, 'chain.pem')] : []), join(dir, 'leaf.pem')]);
  return stdout;
}

describe('certificates controller with ACME (Pebble) and the embedded DNS server', { timeout: 180_000 }, () => {
  let peers: AcmePeers;
  const envs: CertEnv[] = [];
  before(async () => {
    peers = await startAcmePeers();
  });
  after(async () => {
    for (const e of envs) await e.destroy().catch(() => undefined);
    await peers?.stop();
  });

  const overrides = (extra: Partial<CertificatesControllerOptions> = {}): Partial<CertificatesControllerOptions> => ({
    acmePollIntervalMs: 100,
    acmeStatusTimeoutMs: 30_000,
    propagation: { timeoutMs: 20_000, intervalMs: 100 },
    http01Check: { port: peers.pebble.httpPort, nameservers: [peers.dnsAddr], timeoutMs: 10_000, intervalMs: 100 },
    ...extra,
  });
  const start = async (manifests: unknown[], extra: Partial<CertificatesControllerOptions> = {}, dir?: string) => {
    const env = await startCertEnv({ manifests, overrides: overrides(extra), ...(dir ? { dir } : {}) });
    envs.push(env);
    peers.registries.add(env.certs.http01);
    return env;
  };
  const ready = (env: CertEnv, name: string) => waitFor(`Certificate ${name} Ready`, () => {
    const s = env.status('Certificate', 'apps', name);
    return cond(s, 'Ready')?.status === 'True' ? s : undefined;
  }, { timeoutMs: 60_000 });

  test('DNS-01 through the embedded DNS server: a name and a wildcard; account, issuer status, cleanup', async () => {
    const env = await start([...peers.issuerDocs(), acmeCertificateDoc('web', ['web.example.test', '*.web.example.test'])]);
    await ready(env, 'web');
    const secret = env.secret('apps', 'web-tls')!;
    assert.match(await verify(b64d(secret.data!['tls.crt']), await peers.pebble.roots()), /OK/);
    assert.deepEqual(peers.dns.records('example.test').filter((r) => r.type === 'TXT'), [], 'challenge TXT records are removed');
    const issuerSt = env.status('Issuer', 'apps', 'pebble')!;
    assert.equal(cond(issuerSt, 'Ready' as never)?.status, 'True');
    assert.match(String((issuerSt as { acme?: { uri?: string } }).acme?.uri), /^https:\/\/127\.0\.0\.1:\d+\//);
    assert.ok(env.secret('apps', 'pebble-account')?.data?.['tls.key'], 'the ACME account key is kept in its Secret');
    assert.match(await env.registry.metrics(), /gangplank_acme_requests_total \d+/);
  });

  test('HTTP-01 answered from the Http01Registry', async () => {
    peers.addA('shop.http.example.test');
    const env = await start([...peers.issuerDocs(), acmeCertificateDoc('shop', ['shop.http.example.test'])]);
    await ready(env, 'shop');
    assert.match(await verify(b64d(env.secret('apps', 'shop-tls')!.data!['tls.crt']), await peers.pebble.roots()), /OK/);
    assert.equal(env.certs.http01.size, 0, 'tokens are removed after validation');
  });

  test('a restart in the middle of an order resumes the same order', async () => {
    const steps: [AcmeStep, string][] = [];
    let reached!: () => void;
    const hung = new Promise<void>((r) => (reached = r));
    const docs = [...peers.issuerDocs(), acmeCertificateDoc('crash', ['crash.example.test'])];
    const first = await start(docs, {
      stopTimeoutMs: 100,
      onAcmeStep: (_issuer, step, detail) => {
        steps.push([step, detail]);
        // The process "dies" here: the flow never goes on.
        if (step === 'challenge-presented' && detail === 'crash.example.test') {
          reached();
          return new Promise<void>(() => undefined);
        }
      },
    });
    await hung;
    await first.stop();
    const orderUrl = steps.find(([s]) => s === 'order-persisted')![1];
    assert.equal(cond(first.status('Certificate', 'apps', 'crash'), 'Issuing')?.status, 'True', 'the interrupted issuance left Issuing=True');

    const steps2: [AcmeStep, string][] = [];
    const second = await start(docs, { onAcmeStep: (_i, step, detail) => void steps2.push([step, detail]) }, first.dir);
    const st = await ready(second, 'crash');
    assert.equal(st.revision, 1);
    assert.ok(!steps2.some(([s]) => s === 'order-persisted'), `no new order is opened (${JSON.stringify(steps2)})`);
    assert.equal(steps2.find(([s]) => s === 'finalized')?.[1], orderUrl, 'the same order is finalized');
  });

  test('issuances run in parallel up to --max-concurrent-challenges', async () => {
    let inFlight = 0;
    let peak = 0;
    const names = ['p0', 'p1', 'p2', 'p3', 'p4', 'p5'];
    const env = await startCertEnv({
      manifests: [...peers.issuerDocs(), ...names.map((n) => acmeCertificateDoc(n, [`${n}.par.example.test`]))],
      cfg: { 'max-concurrent-challenges': '2' },
      overrides: overrides({
        onAcmeStep: (_i, step) => {
          if (step === 'order-persisted') peak = Math.max(peak, ++inFlight);
          if (step === 'finalized') inFlight--;
        },
      }),
    });
    envs.push(env);
    for (const n of names) await ready(env, n);
    assert.equal(peak, 2, 'two orders at a time, no more and no fewer');
  });

  test('a CA refusal: Ready=False with the CA\'s reason, attempts counted, retried after a backoff', async () => {
    peers.addA('refused.http.example.test');
    // Nobody answers this controller's tokens (its registry is not served) and the self-check is off: Pebble itself refuses.
    const env = await startCertEnv({ manifests: [...peers.issuerDocs(), acmeCertificateDoc('refused', ['refused.http.example.test'])], cfg: { 'issuance-backoff-base': '2s', 'issuance-backoff-max': '4s' }, overrides: overrides({ http01Check: { skip: true } }) });
    envs.push(env);
    const st = await waitFor('a failed issuance', () => {
      const s = env.status('Certificate', 'apps', 'refused');
      return s?.failedIssuanceAttempts ? s : undefined;
    }, { timeoutMs: 60_000 });
    const r = cond(st, 'Ready')!;
    assert.equal(r.status, 'False');
    assert.equal(r.reason, 'Failed');
    assert.match(r.message!, /rejected the order: authorization for refused\.http\.example\.test is invalid: unauthorized/);
    assert.equal(cond(st, 'Issuing')?.status, 'False');
    assert.ok(st.lastFailureTime);
    const row = await waitFor('the view shows the failure and the next attempt', () => {
      const v = env.certs.view().find((x) => x.name === 'refused');
      return v?.lastError && v.nextAttemptTime ? v : undefined;
    });
    assert.match(row.lastError!, /unauthorized/);
    await waitFor('a Warning event', () => env.writer.recentEvents().some((e) => e.involved.name === 'refused' && e.type === 'Warning' && e.reason === 'Failed'));
    assert.ok(row.nextAttemptTime, 'the view says when the next attempt runs');
    // Backoff base 2 s here (status times have whole seconds, so the wait is 1-2 s): a second attempt follows, not at once.
    const firstFailure = Date.parse(st.lastFailureTime!);
    const st2 = await waitFor('a second attempt', () => {
      const s = env.status('Certificate', 'apps', 'refused');
      return (s?.failedIssuanceAttempts ?? 0) >= 2 ? s : undefined;
    }, { timeoutMs: 60_000 });
    assert.equal(st2.failedIssuanceAttempts, 2);
    assert.ok(Date.parse(st2.lastFailureTime!) - firstFailure >= 1000, 'the retry waited for the backoff');
    assert.ok(Date.now() - firstFailure < 30_000);
    await waitFor('two failures counted', async () => /gangplank_certificate_issuance_attempts_total\{result="failure"\} [2-9]/.test(await env.registry.metrics()));
  });
});

describe('renewal of a short-lived ACME certificate', { timeout: 120_000 }, () => {
  let peers: AcmePeers;
  let env: CertEnv | undefined;
  before(async () => {
    peers = await startAcmePeers({ validityPeriodSec: 30 });
  });
  after(async () => {
    await env?.destroy();
    await peers?.stop();
  });

  test('renewed at the renewal time (a third of the lifetime before notAfter), not before', async () => {
    env = await startCertEnv({
      manifests: [...peers.issuerDocs(), acmeCertificateDoc('short', ['short.example.test'])],
      overrides: { acmePollIntervalMs: 100, propagation: { timeoutMs: 20_000, intervalMs: 100 } },
    });
    const e = env;
    const first = await waitFor('first issuance', () => {
      const s = e.status('Certificate', 'apps', 'short');
      return s?.revision === 1 && s.renewalTime ? s : undefined;
    }, { timeoutMs: 60_000 });
    const life = Date.parse(first.notAfter!) - Date.parse(first.notBefore!);
    const renewAt = Date.parse(first.renewalTime!);
    assert.ok(Math.abs(Date.parse(first.notAfter!) - renewAt - life / 3) <= life * 0.021 + 1000, 'renewal a third of the lifetime before notAfter');
    const second = await waitFor('renewal', () => {
      const s = e.status('Certificate', 'apps', 'short');
      return s?.revision === 2 ? s : undefined;
    }, { timeoutMs: 60_000, intervalMs: 100 });
    const issuing = e.writer.recentEvents().filter((x) => x.involved.name === 'short' && x.reason === 'Issuing');
    const renewStarted = Date.parse(issuing.at(-1)!.time);
    assert.match(issuing.at(-1)!.message, /Renewing certificate as renewal was scheduled/);
    assert.ok(renewStarted >= renewAt - 50, `renewal started ${renewStarted - renewAt} ms after the renewal time`);
    assert.ok(renewStarted <= renewAt + 3000, `renewal started ${renewStarted - renewAt} ms after the renewal time`);
    assert.ok(Date.parse(second.notAfter!) > Date.parse(first.notAfter!));
  });
});
