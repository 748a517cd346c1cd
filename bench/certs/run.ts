/**
 * bench:certs — N certificates (one name each) from Pebble via ACME DNS-01, the TXT records
 * written over RFC 2136 (TSIG) to gangplank's embedded DNS server, which Pebble validates
 * against. The certificates controller runs in this process as `gangplank run` runs it (Store +
 * state-dir writer + controller). Reports wall time, ACME requests per certificate, time to
 * Ready per certificate and peak RSS, against the target (100 certificates in <= 60 s).
 *
 *   npm run bench:certs -- [--count 100] [--concurrency 60] [--out bench/results/certs-<date>.md]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cpus } from 'node:os';
import { startAcmePeers } from '../../test/e2e/certs-acme-env.js';
import { cond, startCertEnv } from '../../test/unit/certs/controller-env.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const { values } = parseArgs({ options: { count: { type: 'string', default: '100' }, concurrency: { type: 'string', default: '60' }, out: { type: 'string' } } });
const count = Number(values.count);
const concurrency = Number(values.concurrency);
const TARGET_S = 60;

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

async function main(): Promise<void> {
  const peers = await startAcmePeers();
  const names = Array.from({ length: count }, (_, i) => `c${i}`);
  const docs = [
    ...peers.issuerDocs(),
    ...names.map((n) => ({
      apiVersion: 'cert-manager.io/v1',
      kind: 'Certificate',
      metadata: { name: n, namespace: 'apps' },
      spec: { secretName: `${n}-tls`, dnsNames: [`${n}.bench.example.test`], issuerRef: { name: 'pebble' }, privateKey: { algorithm: 'ECDSA' } },
    })),
  ];
  const rssBefore = process.memoryUsage().rss;
  const t0 = performance.now();
  const env = await startCertEnv({
    manifests: docs,
    cfg: { 'max-concurrent-challenges': String(concurrency) },
    overrides: { acmePollIntervalMs: 250, propagation: { timeoutMs: 60_000, intervalMs: 250 } },
  });
  const readyAt = new Map<string, number>();
  let peakRss = process.memoryUsage().rss;
  let failed = 0;
  const deadline = Date.now() + 10 * 60_000;
  while (readyAt.size < count) {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    for (const n of names) {
      if (readyAt.has(n)) continue;
      const st = env.status('Certificate', 'apps', n);
      if (cond(st, 'Ready')?.status === 'True' && env.secret('apps', `${n}-tls`)) readyAt.set(n, performance.now() - t0);
    }
    failed = names.filter((n) => (env.status('Certificate', 'apps', n)?.failedIssuanceAttempts ?? 0) > 0).length;
    if (Date.now() > deadline) throw new Error(`only ${readyAt.size}/${count} certificates Ready after 10 minutes (${failed} with failures)`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const wallS = (performance.now() - t0) / 1000;
  const metrics = await env.registry.metrics();
  const acmeRequests = Number(/^gangplank_acme_requests_total (\d+)/m.exec(metrics)?.[1] ?? NaN);
  const maxRssKb = process.resourceUsage().maxRSS;
  await env.destroy();
  await peers.stop();

  const times = [...readyAt.values()].map((ms) => ms / 1000);
  const date = new Date().toISOString().slice(0, 10);
  const command = `npm run bench:certs -- --count ${count} --concurrency ${concurrency}`;
  const md = [
    '## Certificates (bench:certs)',
    '',
    `${count} Certificates, one DNS name each, issued by Pebble 2.4 (\`PEBBLE_VA_NOSLEEP=1\`, authz reuse off) over ACME DNS-01; TXT records written over RFC 2136 with TSIG to gangplank's embedded DNS server, which Pebble validates against; ECDSA P-256 keys; at most ${concurrency} issuances at once (\`--max-concurrent-challenges\`). The controller runs in the bench process (Store + state-dir writer + certificates controller, as in \`gangplank run\`). ${cpus().length} CPUs, Node ${process.version}, ${date}.`,
    '',
    `Command: \`${command}\``,
    '',
    '| certificates | wall time s | vs target (60 s) | certs/s | time to Ready p50 s | p95 s | max s | ACME requests / cert | peak RSS MB | failed attempts |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    `| ${count} | ${wallS.toFixed(1)} | ${(wallS / TARGET_S).toFixed(2)}× | ${(count / wallS).toFixed(2)} | ${pct(times, 50).toFixed(1)} | ${pct(times, 95).toFixed(1)} | ${Math.max(...times).toFixed(1)} | ${(acmeRequests / count).toFixed(1)} | ${(Math.max(peakRss, maxRssKb * 1024) / 2 ** 20).toFixed(0)} | ${failed} |`,
    '',
    `Peak RSS is the bench process (gangplank's controller plus the test harness), ${(rssBefore / 2 ** 20).toFixed(0)} MB before the run; Pebble runs in its own process. "vs target" below 1.00× meets the target.`,
    '',
  ].join('\n');
  process.stdout.write(md);
  const out = values.out ?? join(ROOT, 'bench/results', `certs-${date}.md`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, md);
  process.stderr.write(`\nwritten to ${out}\n`);
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`bench:certs failed: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
