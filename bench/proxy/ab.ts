/**
 * Two builds of gangplank side by side, several processes each, loaded in pairs at the same time
 * on the one CPU: whether a change makes the data plane cheaper per request. With 4 processes per
 * build at 10,000 hosts the mean's standard error was 1.0-1.3% (2026-11-27): a difference below
 * about 2.5% needs more processes.
 *
 *   npm run build && cp -r dist dist-a      # the build to compare against (inside the checkout:
 *                                           # it needs node_modules; dist-* is git-ignored)
 *   ... change, npm run build ...
 *   node --import tsx bench/proxy/ab.ts --a dist-a/cli/main.js --b dist/cli/main.js [--hosts 10000]
 *        [--processes 4] [--rounds 4] [--seconds 5] [--out FILE]
 *   node --import tsx bench/proxy/ab.ts --a dist/cli/main.js --b dist/cli/main.js --b-flags='--single-threaded-gc'
 *        (one build, Node flags on one side, given with '=': they go before the script)
 *   ... --b-env='GLIBC_TUNABLES=glibc.malloc.hugetlb=1' (variables added to one side's environment)
 *   node --import tsx bench/proxy/ab.ts --a dist/cli/main.js --b dist/cli/main.js --a-hosts 1 --b-hosts 10000 --alternate
 *        (the 10,000-host target with four processes a side: one build, two table sizes, each
 *        process loaded alone in turn as bench:proxy's alternated comparison does)
 *   ... --a-hosts 1 --b-hosts 10000 --b-requested 1 (B's table holds 10,000 hosts, wrk asks it for
 *        its first only: the cost of a large table apart from the requests' spread over it)
 *
 * Every process of a side serves the same manifests (--hosts, or --a-hosts / --b-hosts,
 * Ingresses, Services and EndpointSlices to one nginx backend) on CPU 0, one worker. A pair (one
 * process of each side) is loaded at the same time by two wrk on CPU 1 (64 connections each, a
 * random host per request): the kernel shares CPU 0 between the two, so B's requests per CPU
 * second over A's is the ratio of their costs per request with the machine's drift taken out,
 * but with the two sharing the CPU's TLB and caches: a change that shrinks what a request touches
 * (its memory footprint) gains more here than for one process alone (items 47-50 in
 * docs/benchmarks.md: +1.7-2.5% each at 10,000 hosts here, none seen in the alternated target).
 * With --alternate the two are loaded one after the other instead (each alone on CPU 0, the order
 * flipped every round): no cache shared between them while measured, the drift of the seconds
 * between them left in. Processes of one build differ by up to 4-6% for
 * their whole life, so each A process is paired with each B process (bench/lib/pairings.ts) and
 * the result is the mean over all pairings, its standard error from the spread of the processes'
 * own means, and each of those means to show the offsets.
 * Before counting, each process is loaded alone for the JIT (4 s), then two uncounted rounds of
 * pairings let every process reach its steady rate.
 */
import { chmodSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { makeCert, nginxBackendConf, SMALL_BODY } from '../lib/configs.js';
import { hostNames, writeLayout } from '../lib/manifests.js';
import { pairings, ratio, summarize, type PairMeasurement } from '../lib/pairings.js';
import { installCleanup, requireBinary, stopAll } from '../lib/procs.js';
import { treeCpuSeconds } from '../lib/procstat.js';
import { checkServes, freePort, httpGet, startGangplank, startNginx, type Sut } from '../lib/sut.js';
import { runWrk, type LoadResult } from '../lib/wrk.js';

const SUT_CPU = '0';
const LOAD_CPU = '1';
const JIT_WARMUP_S = 4;
const SETTLE_ROUNDS = 2;

const { values: opts } = parseArgs({
  options: {
    a: { type: 'string' },
    b: { type: 'string' },
    hosts: { type: 'string', default: '10000' },
    'a-hosts': { type: 'string' },
    'b-hosts': { type: 'string' },
    'a-requested': { type: 'string' },
    'b-requested': { type: 'string' },
    alternate: { type: 'boolean', default: false },
    processes: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '4' },
    seconds: { type: 'string', default: '5' },
    'a-flags': { type: 'string', default: '' },
    'b-flags': { type: 'string', default: '' },
    'a-env': { type: 'string', default: '' },
    'b-env': { type: 'string', default: '' },
    out: { type: 'string' },
  },
});

function positive(name: string, v: string | undefined): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${JSON.stringify(v)}`);
  return n;
}

/** `NAME=value NAME2=value2` (values without spaces): variables added to a side's environment. */
function envOf(name: string, v: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of v.split(' ').filter(Boolean)) {
    const eq = kv.indexOf('=');
    if (eq < 1) throw new Error(`--${name}: ${JSON.stringify(kv)} is not NAME=value`);
    out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

async function main(): Promise<void> {
  if (!opts.a || !opts.b) throw new Error('usage: bench/proxy/ab.ts --a <build A>/cli/main.js --b <build B>/cli/main.js [--hosts N | --a-hosts N --b-hosts M] [--a-requested N] [--b-requested M] [--alternate] [--processes K] [--rounds R] [--seconds S] [--out FILE]');
  const bins = { A: resolve(opts.a), B: resolve(opts.b) };
  const nodeFlags = { A: opts['a-flags']!.split(' ').filter(Boolean), B: opts['b-flags']!.split(' ').filter(Boolean) };
  const env = { A: envOf('a-env', opts['a-env']!), B: envOf('b-env', opts['b-env']!) };
  const describe = (side: 'A' | 'B') => [...Object.entries(env[side]).map(([n, v]) => `${n}=${v}`), ...nodeFlags[side], bins[side]].join(' ');
  const nHosts = { A: positive('a-hosts', opts['a-hosts'] ?? opts.hosts), B: positive('b-hosts', opts['b-hosts'] ?? opts.hosts) };
  const alternate = opts.alternate === true;
  const k = positive('processes', opts.processes);
  const rounds = positive('rounds', opts.rounds);
  const seconds = positive('seconds', opts.seconds);
  requireBinary('wrk', 'apt-get install -y wrk');
  requireBinary('nginx', 'apt-get install -y nginx');
  requireBinary('taskset', 'apt-get install -y util-linux');

  const work = await mkdtemp(join(tmpdir(), 'gangplank-ab-'));
  chmodSync(work, 0o755);
  installCleanup(async () => {
    await stopAll();
    await rm(work, { recursive: true, force: true });
  });
  try {
    const cert = makeCert(work);
    const bp = { http: await freePort(), tls: await freePort() };
    await startNginx('backend', join(work, 'backend'), nginxBackendConf({ dir: join(work, 'backend'), httpPort: bp.http, tlsPort: bp.tls, cert }), LOAD_CPU, async () => (await httpGet(bp.http, 'bench.test', '/small')).status === 200);
    const hosts = { A: hostNames(nHosts.A), B: hostNames(nHosts.B) };
    // The hosts wrk spreads its requests over: all of the side's, or its first --x-requested.
    const requested = {
      A: hosts.A.slice(0, opts['a-requested'] === undefined ? nHosts.A : Math.min(nHosts.A, positive('a-requested', opts['a-requested']))),
      B: hosts.B.slice(0, opts['b-requested'] === undefined ? nHosts.B : Math.min(nHosts.B, positive('b-requested', opts['b-requested']))),
    };
    const manifests = { A: join(work, 'manifests-A'), B: join(work, 'manifests-B') };
    for (const side of ['A', 'B'] as const) await writeLayout({ dir: manifests[side], hosts: hosts[side], backendPort: bp.http });

    // Started in turn (A0, B0, A1, B1, ...), so that whatever the start order does falls on both.
    const procs: Record<'A' | 'B', Sut[]> = { A: [], B: [] };
    for (let i = 0; i < k; i++) {
      for (const side of ['A', 'B'] as const) {
        const sut = await startGangplank(`${side}${i}`, {
          bin: bins[side],
          manifests: manifests[side],
          stateDir: join(work, `state-${side}${i}`),
          httpPort: await freePort(),
          httpsPort: await freePort(),
          adminPort: await freePort(),
          cpus: SUT_CPU,
          workers: 1,
          nodeFlags: nodeFlags[side],
          env: env[side],
          extraArgs: ['--dns-port', '0'],
        });
        await checkServes(sut.httpPort, hosts[side][nHosts[side] - 1]!, '/small', Buffer.byteLength(SMALL_BODY));
        procs[side].push(sut);
        log(`started ${side}${i} (${describe(side)}), pid ${sut.pid}, ${nHosts[side]} hosts`);
      }
    }
    const load = (side: 'A' | 'B', sut: Sut, s: number): Promise<LoadResult> => runWrk({ url: `http://127.0.0.1:${sut.httpPort}/small`, connections: 64, durationS: s, hosts: requested[side], cpus: LOAD_CPU, workDir: work });
    for (const side of ['A', 'B'] as const) for (const sut of procs[side]) await load(side, sut, JIT_WARMUP_S);

    const measure = async (p: { round: number; a: number; b: number }): Promise<PairMeasurement> => {
      const a = procs.A[p.a]!;
      const b = procs.B[p.b]!;
      const before = [treeCpuSeconds(a.pid), treeCpuSeconds(b.pid)];
      let ra: LoadResult;
      let rb: LoadResult;
      if (!alternate) [ra, rb] = await Promise.all([load('A', a, seconds), load('B', b, seconds)]);
      else if (p.round % 2 === 0) {
        ra = await load('A', a, seconds);
        rb = await load('B', b, seconds);
      } else {
        rb = await load('B', b, seconds);
        ra = await load('A', a, seconds);
      }
      const cpuA = treeCpuSeconds(a.pid) - before[0]!;
      const cpuB = treeCpuSeconds(b.pid) - before[1]!;
      for (const [name, r] of [[a.name, ra], [b.name, rb]] as const) if (r.errors) throw new Error(`${name}: ${r.errors} errors (${r.note ?? ''})`);
      return { ...p, requestsA: ra.requests, cpuA, requestsB: rb.requests, cpuB };
    };
    log(`settling: ${SETTLE_ROUNDS} rounds of pairings, not counted`);
    for (const p of pairings(k, SETTLE_ROUNDS)) await measure(p);

    const lines: string[] = [];
    const ms: PairMeasurement[] = [];
    for (const p of pairings(k, rounds)) {
      const m = await measure(p);
      ms.push(m);
      const line = `round ${p.round + 1}: A${p.a} ${m.requestsA} requests, ${m.cpuA.toFixed(2)} CPU s | B${p.b} ${m.requestsB} requests, ${m.cpuB.toFixed(2)} CPU s | B/A per CPU second ${ratio(m).toFixed(4)}`;
      log(line);
      lines.push(line);
    }
    const s = summarize(ms);
    const f = (x: number) => `${x.toFixed(3)}×`;
    const report = [
      `## gangplank A/B — ${new Date().toISOString()}`,
      '',
      `A: ${describe('A')}`,
      `B: ${describe('B')}`,
      `${k} processes a side, ${nHosts.A === nHosts.B ? `${nHosts.A} hosts each` : `A with ${nHosts.A} host${nHosts.A === 1 ? "" : "s"}, B with ${nHosts.B}`}${requested.A.length === nHosts.A && requested.B.length === nHosts.B ? '' : ` (requests for ${requested.A.length} of A's hosts, ${requested.B.length} of B's)`}, pairs loaded ${alternate ? 'one after the other (order flipped every round), each alone' : 'at the same time'} on CPU ${SUT_CPU} (wrk -t1 -c64 each on CPU ${LOAD_CPU}, a random host per request), ${rounds} rounds of ${k} pairings of ${seconds} s after ${SETTLE_ROUNDS} rounds not counted`,
      `Command: \`node --import tsx bench/proxy/ab.ts ${process.argv.slice(2).join(' ')}\``,
      '',
      `B's requests per CPU second over A's: mean ${f(s.mean)}, standard error ${s.spread.toFixed(3)} (from the processes' own means), median ${f(s.median)}, pairings ${f(s.min)} to ${f(s.max)} (${s.n})`,
      `per A process (mean of its pairings): ${s.perA.map(f).join(', ')}`,
      `per B process (mean of its pairings): ${s.perB.map(f).join(', ')}`,
      '',
      ...lines,
      '',
    ].join('\n');
    process.stdout.write(report);
    if (opts.out) writeFileSync(opts.out, report);
  } finally {
    await stopAll();
    await rm(work, { recursive: true, force: true });
  }
}

main().catch(async (err: Error) => {
  log(`bench/proxy/ab.ts: ${err.message}`);
  await stopAll();
  process.exit(1);
});
