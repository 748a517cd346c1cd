/**
 * bench:dns — gangplank's DNS controller against moto's Route 53 (initial convergence, an idle
 * period with only drift checks, then 100 changed hostnames), and the embedded authoritative
 * server under dnsperf next to BIND 9 with the same records. Provider calls are counted twice:
 * gangplank's own metrics and a counting proxy in front of moto.
 *
 *   node --import tsx bench/dns/run.ts [--quick] [--hosts N] [--idle SECONDS] [--interval 1m] [--out FILE]
 *   [--only route53|dnsperf] [--zones-cache 1h] [--dnsperf-clients 4] [--dnsperf-outstanding 200] [--bin dist/cli/main.js]
 *
 * gangplank and the DNS servers are pinned to CPU 0; moto and dnsperf to CPU 1.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus as osCpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CreateHostedZoneCommand, ListResourceRecordSetsCommand, Route53Client, type RRType } from '@aws-sdk/client-route-53';
import { installCleanup, requireBinary, startPinned, stopAll, type Pinned } from '../lib/procs.js';
import { treeCpuSeconds } from '../lib/procstat.js';
import { median } from '../lib/stats.js';
import { freePort, waitUntil } from '../lib/sut.js';
import { startNamed } from './bind.js';
import { busyFraction, readCpu } from './cpustat.js';
import { bursts, summarize, type CallSummary } from './calls.js';
import { convergence, type DnsView } from './converge.js';
import { startCountingProxy, type Call, type CountingProxy } from './counting-proxy.js';
import { parseDnsperf, type DnsperfResult } from './dnsperf-output.js';
import { startGangplank, type Gangplank } from './gangplank.js';
import { PER_FILE, writeHostFile, writeManifests, zoneNames } from './manifests.js';
import { diff, sumBy, type Sample } from './prom.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SUT_CPU = '0';
const PEER_CPU = '1';
/** The address every Ingress publishes (TEST-NET-1: record data only, never contacted). */
const ADDRESS = '192.0.2.10';
const ZONES = 5;
const CHANGED = 100;
const BATCH = 1000;
const CHANGE_TARGET_MS = 2000;
const DNSPERF_TARGET_QPS = 20_000;

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    hosts: { type: 'string' },
    idle: { type: 'string' },
    interval: { type: 'string' },
    'dnsperf-seconds': { type: 'string' },
    'dnsperf-clients': { type: 'string', default: '4' },
    'dnsperf-outstanding': { type: 'string', default: '200' },
    'zones-cache': { type: 'string' },
    only: { type: 'string' },
    /** Another build of gangplank (e.g. a snapshot of a commit, when dist/ is being rebuilt). */
    bin: { type: 'string' },
    out: { type: 'string' },
  },
});

const BIN = opts.bin ? resolve(opts.bin) : join(ROOT, 'dist/cli/main.js');
const QUICK = opts.quick!;
const HOSTS = Number(opts.hosts ?? (QUICK ? 1_000 : 10_000));
const IDLE_S = Number(opts.idle ?? (QUICK ? 20 : 300));
const INTERVAL = opts.interval ?? (QUICK ? '8s' : '1m');
const DNSPERF_S = Number(opts['dnsperf-seconds'] ?? (QUICK ? 5 : 15));
const TRIALS = QUICK ? 2 : 3;
for (const [k, v] of [['--hosts', HOSTS], ['--idle', IDLE_S], ['--dnsperf-seconds', DNSPERF_S]] as const) {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${k} must be a positive whole number, got ${String(v)}`);
}
if (HOSTS % PER_FILE !== 0 || HOSTS < CHANGED) throw new Error(`--hosts must be a multiple of ${PER_FILE} and at least ${CHANGED}, got ${HOSTS}`);

const ONLY = opts.only;
if (ONLY !== undefined && ONLY !== 'route53' && ONLY !== 'dnsperf') throw new Error(`--only must be route53 or dnsperf, got ${ONLY}`);
const DNSPERF_CLIENTS = Number(opts['dnsperf-clients']);
const DNSPERF_OUTSTANDING = Number(opts['dnsperf-outstanding']);
const ZONES_CACHE = opts['zones-cache'];

const MOTO = process.env.MOTO_SERVER ?? '/root/.pyenv/shims/moto_server';

// ---------------------------------------------------------------------------------------------
// Helpers

function log(msg: string): void {
  process.stderr.write(`[bench:dns ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

function requirePath(path: string, hint: string): string {
  if (!existsSync(path)) throw new Error(`benchmark peer ${path} is missing: ${hint}`);
  return path;
}

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const fmt = (n: number) => n.toLocaleString('en-US');

async function startMoto(): Promise<{ proc: Pinned; port: number }> {
  const port = await freePort();
  const proc = startPinned(MOTO, ['-H', '127.0.0.1', '-p', String(port)], { cpus: PEER_CPU, name: 'moto' });
  await waitUntil('moto_server to answer', async () => (await fetch(`http://127.0.0.1:${port}/moto-api/reset`, { method: 'POST' }).catch(() => undefined))?.ok === true, 60_000, proc);
  return { proc, port };
}

function motoClient(port: number): Route53Client {
  return new Route53Client({ endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
}

/** A records as moto holds them (read directly, past the counting proxy), and record sets per zone id. */
async function motoARecords(client: Route53Client, zoneIds: Map<string, string>): Promise<Set<string> & { setsPerZone: Map<string, number> }> {
  const names = Object.assign(new Set<string>(), { setsPerZone: new Map<string, number>() });
  for (const id of zoneIds.values()) {
    let sets = 0;
    let start: { StartRecordName?: string; StartRecordType?: RRType } = {};
    for (;;) {
      const page = await client.send(new ListResourceRecordSetsCommand({ HostedZoneId: id, MaxItems: 300, ...start }));
      for (const rs of page.ResourceRecordSets ?? []) {
        sets++;
        if (rs.Type === 'A' && rs.ResourceRecords?.some((r) => r.Value === ADDRESS)) names.add((rs.Name ?? '').replace(/\.$/, '').toLowerCase());
      }
      if (!page.IsTruncated) break;
      start = { StartRecordName: page.NextRecordName, StartRecordType: page.NextRecordType };
    }
    names.setsPerZone.set(id, sets);
  }
  return names;
}

function checkMoto(have: Set<string>, want: readonly string[], gone: readonly string[], phase: string): void {
  const missing = want.filter((n) => !have.has(n));
  const stale = gone.filter((n) => have.has(n));
  if (missing.length || stale.length || have.size !== want.length) {
    throw new Error(
      `${phase}: moto holds ${have.size} A records, expected exactly ${want.length}; missing ${missing.length} (${missing.slice(0, 3).join(', ')}), stale ${stale.length} (${stale.slice(0, 3).join(', ')})`,
    );
  }
}

const callMetric = (m: Sample[]) => sumBy(m, 'gangplank_dns_provider_calls_total', ['op', 'result']);
const changeMetric = (m: Sample[]) => sumBy(m, 'gangplank_dns_changes_total', ['action', 'result']);
const fmtCounts = (c: Record<string, number>) =>
  Object.entries(c)
    .sort()
    .map(([k, v]) => `${k} ${fmt(v)}`)
    .join(', ') || 'none';

function viewHas(names: readonly string[], gone: readonly string[]): (v: DnsView) => boolean {
  return (v) => {
    const have = new Set(v.zones.flatMap((z) => z.records.filter((r) => r.type === 'A').map((r) => r.name.replace(/\.$/, '').toLowerCase())));
    return names.every((n) => have.has(n)) && gone.every((n) => !have.has(n));
  };
}

// ---------------------------------------------------------------------------------------------
// Route 53 phases

interface PhaseResult {
  phase: string;
  wallMs: number;
  note: string;
  calls: CallSummary;
  metricCalls: Record<string, number>;
  metricChanges: Record<string, number>;
  target: string;
  met: boolean | undefined;
}

interface Route53Result {
  phases: PhaseResult[];
  checks: { at: number; s: CallSummary; durationMs: number }[];
  zoneIds: Map<string, string>;
  startupMs: number;
  firstWriteMs: number;
  lastWriteMs: number;
  changeLastWriteMs: number;
}

async function route53(dir: string): Promise<Route53Result> {
  requirePath(MOTO, "install moto: pip install 'moto[server]' (or set MOTO_SERVER)");
  const zones = zoneNames(ZONES);
  const moto = await startMoto();
  const direct = motoClient(moto.port);
  const zoneIds = new Map<string, string>();
  for (const z of zones) {
    const r = await direct.send(new CreateHostedZoneCommand({ Name: z, CallerReference: `bench-${z}-${Date.now()}` }));
    zoneIds.set(z, (r.HostedZone?.Id ?? '').replace(/^\/hostedzone\//, ''));
  }
  const proxy: CountingProxy = await startCountingProxy({ host: '127.0.0.1', port: moto.port });
  const manifests = join(dir, 'manifests-r53');
  const names = await writeManifests(manifests, HOSTS, zones);
  log(`moto on :${moto.port}, ${ZONES} hosted zones, ${fmt(HOSTS)} Ingresses written; starting gangplank --provider aws`);
  let g: Gangplank | undefined;
  try {
    g = await startGangplank({
      bin: BIN,
      manifests,
      stateDir: join(dir, 'state-r53'),
      cpus: SUT_CPU,
      args: [
        '--provider', 'aws', '--dns-port', '0', '--publish-address', ADDRESS, '--interval', INTERVAL, '--aws-batch-change-size', String(BATCH),
        ...(ZONES_CACHE ? ['--aws-zones-cache-duration', ZONES_CACHE] : []),
      ],
      env: { AWS_ENDPOINT_URL: proxy.endpoint, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_EC2_METADATA_DISABLED: 'true' },
    });
    const t0 = g.startedAt;
    const startupMs = Date.now() - t0;
    log(`gangplank ready after ${s(startupMs)}; waiting for convergence`);
    const gw = g;
    const tConv = await pollConverged(gw, HOSTS, 'initial convergence', 30 * 60_000, 1000);
    await waitQuiet(proxy);
    const initialCalls = proxy.between(t0, Date.now());
    const writes = initialCalls.filter((c) => c.op === 'ChangeResourceRecordSets');
    const inMoto = await motoARecords(direct, zoneIds);
    checkMoto(inMoto, names, [], 'initial convergence');
    // The fewest calls a full listing can take: one zone list and ceil(sets / 300) pages per zone.
    const minPages = [...inMoto.setsPerZone.values()].reduce((a, n) => a + Math.max(1, Math.ceil(n / 300)), 0);
    const m1 = await g.metrics();
    const initial = summarize(initialCalls);
    const bound = Math.ceil(initial.changes / BATCH) + ZONES;
    const phases: PhaseResult[] = [
      {
        phase: `initial: ${fmt(HOSTS)} hostnames in ${ZONES} zones`,
        wallMs: tConv - t0,
        note: `process start to converged (ready after ${s(startupMs)}); first provider call ${s(Math.min(...initialCalls.map((c) => c.start)) - t0)} after start; writes took ${s(Math.min(...writes.map((c) => c.end - c.start)))}–${s(Math.max(...writes.map((c) => c.end - c.start)))} each at moto`,
        calls: initial,
        metricCalls: callMetric(m1),
        metricChanges: changeMetric(m1),
        target: `writes <= ceil(${fmt(initial.changes)}/${BATCH}) + ${ZONES} = ${bound}`,
        met: initial.writes <= bound,
      },
    ];
    log(`converged in ${s(tConv - t0)}: ${fmtCounts({ listZones: initial.listZones, listRecords: initial.listRecords, writes: initial.writes })}, ${fmt(initial.changes)} changes`);

    // Idle: nothing changes; only the periodic drift check may call the provider.
    log(`idle for ${IDLE_S} s (--interval ${INTERVAL})`);
    const tIdle = Date.now();
    await sleep(IDLE_S * 1000); // the measurement window itself, not a wait for a condition
    await waitQuiet(proxy);
    const tIdleEnd = Date.now();
    const m2 = await g.metrics();
    const idleCalls = proxy.between(tIdle, tIdleEnd);
    const idle = summarize(idleCalls);
    const checks = bursts(idleCalls, 3000).map((b) => ({ at: b[0]!.start - tIdle, s: summarize(b), durationMs: Math.max(...b.map((c) => c.end)) - b[0]!.start }));
    const lean = checks.every((c) => c.s.listZones <= 1 && c.s.listRecords <= minPages && c.s.writes === 0);
    phases.push({
      phase: `idle ${IDLE_S} s, no change`,
      wallMs: tIdleEnd - tIdle,
      note: `${checks.length} drift checks; calls per check: ${checks.map((c) => c.s.listZones + c.s.listRecords + c.s.writes).join(', ') || '–'} (the least a full listing needs: 1 ListHostedZones + ${minPages} pages of 300 record sets for ${fmt([...inMoto.setsPerZone.values()].reduce((a, b) => a + b, 0))} record sets)`,
      calls: idle,
      metricCalls: diff(callMetric(m1), callMetric(m2)),
      metricChanges: diff(changeMetric(m1), changeMetric(m2)),
      target: `drift checks only: 1 zone list + ${minPages} pages each, no writes`,
      met: idle.writes === 0 && idle.other === 0 && checks.length > 0 && lean,
    });
    log(`idle: ${checks.length} checks, ${fmtCounts({ listZones: idle.listZones, listRecords: idle.listRecords, writes: idle.writes })}`);

    // 100 changed hostnames: rename the hosts of one manifests file.
    const oldNames = names.slice(0, CHANGED);
    const tChange = Date.now();
    const newNames = await writeHostFile(manifests, 0, HOSTS, zones, 1);
    log(`renamed ${CHANGED} hostnames; waiting for convergence`);
    const tChangeConv = await waitChange(gw, proxy, tChange, HOSTS, newNames, oldNames);
    await waitQuiet(proxy);
    const changeCalls = proxy.between(tChange, Date.now());
    const lastWrite = Math.max(...changeCalls.filter((c) => c.op === 'ChangeResourceRecordSets').map((c) => c.end));
    const m3 = await g.metrics();
    checkMoto(await motoARecords(direct, zoneIds), [...newNames, ...names.slice(CHANGED)], oldNames, 'after the change');
    const change = summarize(changeCalls);
    phases.push({
      phase: `${CHANGED} hostnames renamed`,
      wallMs: tChangeConv - tChange,
      note: `file rewritten to /api/dns converged; first write sent after ${s(Math.min(...changeCalls.filter((c) => c.op === 'ChangeResourceRecordSets').map((c) => c.start)) - tChange)}, writes took ${changeCalls
        .filter((c) => c.op === 'ChangeResourceRecordSets')
        .map((c) => s(c.end - c.start))
        .join(', ')} at moto, last write answered after ${s(lastWrite - tChange)}`,
      calls: change,
      metricCalls: diff(callMetric(m2), callMetric(m3)),
      metricChanges: diff(changeMetric(m2), changeMetric(m3)),
      target: `<= ${s(CHANGE_TARGET_MS)}`,
      met: tChangeConv - tChange <= CHANGE_TARGET_MS,
    });
    log(`change converged in ${s(tChangeConv - tChange)} (${change.writes} writes, ${change.changes} changes)`);
    return {
      phases,
      checks,
      zoneIds,
      startupMs,
      firstWriteMs: Math.min(...writes.map((c) => c.start)) - t0,
      lastWriteMs: Math.max(...writes.map((c) => c.end)) - t0,
      changeLastWriteMs: lastWrite - tChange,
    };
  } finally {
    await g?.stop();
    await proxy.close();
    await moto.proc.stop();
  }
}

/** Polls /api/dns at a pace that does not load gangplank (the view of 10,000 hosts is megabytes). */
async function pollConverged(g: Gangplank, expected: number, what: string, timeoutMs: number, everyMs: number, extra?: (v: DnsView) => boolean): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    if (g.proc.child.exitCode !== null) throw new Error(`gangplank exited while waiting for ${what}:\n${g.proc.output().slice(-2000)}`);
    const v = await g.dnsView();
    const c = convergence(v, expected);
    if (c.converged && (!extra || extra(v))) return Date.now();
    last = `desired ${c.desired}/${expected}, present ${c.present}, zone errors ${c.errors}, missing e.g. ${c.missing.join(', ')}`;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last seen: ${last}\n${g.proc.output().slice(-2000)}`);
    await sleep(everyMs);
  }
}

/**
 * Waits for the change to land. The proxy sees each write the moment it is answered, so the bench
 * polls its own counters (free) and asks gangplank's /api/dns only once a write has been seen.
 */
async function waitChange(g: Gangplank, proxy: CountingProxy, since: number, expected: number, names: string[], gone: string[]): Promise<number> {
  const deadline = Date.now() + 120_000;
  const check = viewHas(names, gone);
  let lastAsked = 0;
  for (;;) {
    const wrote = proxy.between(since).some((c: Call) => c.op === 'ChangeResourceRecordSets');
    if (wrote && proxy.inFlight() === 0 && Date.now() - lastAsked > 100) {
      lastAsked = Date.now();
      const v = await g.dnsView();
      if (convergence(v, expected).converged && check(v)) return Date.now();
    }
    if (Date.now() > deadline) throw new Error(`the ${names.length} renamed hostnames did not converge within 120 s (writes seen: ${wrote})\n${g.proc.output().slice(-2000)}`);
    await sleep(10);
  }
}

/** Waits until no request to moto is in flight (a phase ends between calls, not inside one). */
async function waitQuiet(proxy: CountingProxy): Promise<void> {
  await waitUntil('the calls to moto in flight to finish', async () => proxy.inFlight() === 0, 300_000);
}

// ---------------------------------------------------------------------------------------------
// Embedded server under dnsperf

interface Trial {
  r: DnsperfResult;
  /** CPU the server used, in cores (its pinned CPU: at most 1). */
  cpuCores: number;
  /** CPU dnsperf itself used, in cores (near 1 = the load generator is the limit, not the server). */
  dnsperfCores: number;
  /** How busy each CPU was in all (other processes on this shared machine included). */
  cpu0Busy: number;
  cpu1Busy: number;
}

interface DnsperfRow {
  system: string;
  trials: Trial[];
}

/** Runs dnsperf pinned; its own CPU time is sampled from /proc while it runs (the last sample counts). */
async function dnsperfRun(dnsperf: string, port: number, queries: string, seconds: number): Promise<{ r: DnsperfResult; cpuSeconds: number }> {
  const args = ['-s', '127.0.0.1', '-p', String(port), '-d', queries, '-l', String(seconds), '-c', String(DNSPERF_CLIENTS), '-q', String(DNSPERF_OUTSTANDING), '-T', '1', '-t', '2'];
  const p = startPinned(dnsperf, args, { cpus: PEER_CPU, name: 'dnsperf' });
  let cpuSeconds = 0;
  const sampler = setInterval(() => {
    const c = treeCpuSeconds(p.pid);
    if (c > 0) cpuSeconds = c;
  }, 100);
  const killer = setTimeout(() => p.child.kill('SIGKILL'), (seconds + 30) * 1000);
  const code = await p.exited;
  clearInterval(sampler);
  clearTimeout(killer);
  if (code !== 0) throw new Error(`dnsperf ${args.join(' ')} exited with ${String(code)}: ${p.output().slice(-2000)}`);
  return { r: parseDnsperf(p.output()), cpuSeconds };
}

async function trial(system: string, pid: number, dnsperf: string, port: number, queries: string): Promise<Trial> {
  const before = treeCpuSeconds(pid);
  const c0 = readCpu(0);
  const c1 = readCpu(1);
  const t = Date.now();
  const { r, cpuSeconds } = await dnsperfRun(dnsperf, port, queries, DNSPERF_S);
  const wall = (Date.now() - t) / 1000;
  const cpuCores = (treeCpuSeconds(pid) - before) / wall;
  const cpu0Busy = busyFraction(c0, readCpu(0));
  const cpu1Busy = busyFraction(c1, readCpu(1));
  const dnsperfCores = cpuSeconds / wall;
  const bad = Object.entries(r.rcodes).filter(([k]) => k !== 'NOERROR');
  if (r.completed === 0 || bad.length) throw new Error(`${system}: dnsperf got ${r.completed} answers, rcodes ${JSON.stringify(r.rcodes)}: the server does not answer the benchmark names`);
  log(`${system}: ${fmt(Math.round(r.qps))} qps, server ${cpuCores.toFixed(2)} cores, dnsperf ${dnsperfCores.toFixed(2)} cores; CPU0 ${(cpu0Busy * 100).toFixed(0)}% busy, CPU1 ${(cpu1Busy * 100).toFixed(0)}% busy`);
  return { r, cpuCores, dnsperfCores, cpu0Busy, cpu1Busy };
}

function digA(dig: string, port: number, name: string): string {
  return execFileSync(dig, ['@127.0.0.1', '-p', String(port), '+short', '+time=2', '+tries=1', name, 'A'], { encoding: 'utf8' }).trim();
}

async function embedded(dir: string): Promise<DnsperfRow[]> {
  const dnsperf = requireBinary('dnsperf', 'apt-get install -y dnsperf');
  const dig = requireBinary('dig', 'apt-get install -y bind9-dnsutils');
  const named = requireBinary('named', 'apt-get install -y bind9');
  const zones = zoneNames(ZONES);
  const manifests = join(dir, 'manifests-embedded');
  const names = await writeManifests(manifests, HOSTS, zones);
  const queries = join(dir, 'queries.txt');
  writeFileSync(queries, names.map((n) => `${n} A`).join('\n') + '\n');
  const bindDir = join(dir, 'bind');
  mkdirSync(bindDir, { recursive: true });
  const byZone = new Map(zones.map((z) => [z, [] as { name: string; address: string }[]]));
  names.forEach((n, i) => byZone.get(zones[i % ZONES]!)!.push({ name: n, address: ADDRESS }));
  const last = names[names.length - 1]!;

  // Both servers run at once on the same CPU (the idle one costs nothing) and the trials
  // alternate, so that a noisy neighbour on this shared machine hits both rows alike.
  const port = await freePort();
  const bport = await freePort();
  log(`starting gangplank with the embedded DNS server on :${port} and BIND 9 on :${bport} (${fmt(HOSTS)} hostnames)`);
  let g: Gangplank | undefined;
  let bind: Pinned | undefined;
  try {
    g = await startGangplank({
      bin: BIN,
      manifests,
      stateDir: join(dir, 'state-embedded'),
      cpus: SUT_CPU,
      args: ['--provider', 'embedded', '--dns-port', String(port), ...zones.flatMap((z) => ['--dns-zone', z]), '--publish-address', ADDRESS, '--interval', '1m'],
    });
    await pollConverged(g, HOSTS, 'the embedded zones to hold every hostname', 10 * 60_000, 500);
    const probe = digA(dig, port, last);
    if (probe !== ADDRESS) throw new Error(`gangplank's DNS server answers ${last} A with ${JSON.stringify(probe)}, expected ${ADDRESS}`);
    bind = startNamed(named, bindDir, bport, byZone, SUT_CPU);
    const b = bind;
    await waitUntil('named to answer', async () => digA(dig, bport, last) === ADDRESS, 60_000, b);
    const servers = [
      { system: 'gangplank (embedded server)', pid: g.proc.pid, port },
      { system: 'BIND 9 (named -n 1)', pid: b.pid, port: bport },
    ];
    for (const x of servers) await dnsperfRun(dnsperf, x.port, queries, 2); // warm-up, discarded
    const rows: DnsperfRow[] = servers.map((x) => ({ system: x.system, trials: [] }));
    for (let i = 0; i < TRIALS; i++) for (const [k, x] of servers.entries()) rows[k]!.trials.push(await trial(x.system, x.pid, dnsperf, x.port, queries));
    return rows;
  } finally {
    await g?.stop();
    await bind?.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Report

function route53Markdown(r: Route53Result): string {
  const zoneName = new Map([...r.zoneIds].map(([z, id]) => [id, z]));
  const perZone = (m: Record<string, number>) =>
    Object.entries(m)
      .map(([id, n]) => `${zoneName.get(id) ?? id}: ${n}`)
      .join(', ');
  const lines = [
    '### Route 53 (moto): provider calls and time to converge',
    '',
    `${fmt(HOSTS)} Ingresses (one hostname each, A record + ownership TXT) spread over ${ZONES} hosted zones; \`--aws-batch-change-size ${BATCH}\`, \`--interval ${INTERVAL}\`, ${ZONES_CACHE ? `\`--aws-zones-cache-duration ${ZONES_CACHE}\`` : '\`--aws-zones-cache-duration\` left at its default (0)'}. Calls counted on moto's side by a counting proxy (ListHostedZones / ListResourceRecordSets pages / ChangeResourceRecordSets) and by gangplank's \`gangplank_dns_provider_calls_total\` (op zones / records / apply; one "records" call may be several pages, one "apply" call several batches).`,
    '',
    '| phase | wall time | ListHostedZones | ListResourceRecordSets | ChangeResourceRecordSets | changes (per call min–max) | gangplank metric (op/result) | target | met |',
    '| --- | ---: | ---: | ---: | ---: | --- | --- | --- | --- |',
  ];
  for (const p of r.phases) {
    const c = p.calls;
    lines.push(
      `| ${p.phase} | ${s(p.wallMs)} | ${c.listZones} | ${c.listRecords} | ${c.writes} | ${fmt(c.changes)}${c.writes ? ` (${c.minBatch}–${c.maxBatch})` : ''} | ${fmtCounts(p.metricCalls)} | ${p.target} | ${p.met === undefined ? '–' : p.met ? 'yes' : '**no**'} |`,
    );
  }
  lines.push('', 'Notes per phase:', '');
  for (const p of r.phases) {
    lines.push(`- ${p.phase}: ${p.note}. Changes by gangplank's metric: ${fmtCounts(p.metricChanges)}. Pages per zone: ${perZone(p.calls.pagesPerZone) || 'none'}; writes per zone: ${perZone(p.calls.writesPerZone) || 'none'}; HTTP errors: ${p.calls.errors}.`);
  }
  lines.push(`- initial writes ran from ${s(r.firstWriteMs)} to ${s(r.lastWriteMs)} after the process started; the change's last write was answered ${s(r.changeLastWriteMs)} after the file was rewritten.`);
  lines.push('', '#### Drift checks during the idle phase', '', '| check | starts at | ListHostedZones | ListResourceRecordSets | writes | duration |', '| ---: | ---: | ---: | ---: | ---: | ---: |');
  r.checks.forEach((c, i) => lines.push(`| ${i + 1} | ${s(c.at)} | ${c.s.listZones} | ${c.s.listRecords} | ${c.s.writes} | ${s(c.durationMs)} |`));
  return lines.join('\n') + '\n';
}

function dnsperfMarkdown(rows: DnsperfRow[]): string {
  const med = (row: DnsperfRow, f: (t: Trial) => number) => median(row.trials.map(f));
  const qps = (t: Trial) => t.r.qps;
  const us = (t: Trial) => (t.cpuCores / t.r.qps) * 1e6;
  const ref = rows.find((r) => r.system.startsWith('BIND'));
  const lines = [
    '### Embedded DNS server under dnsperf',
    '',
    `dnsperf 1 thread, UDP, ${DNSPERF_CLIENTS} sockets, ${DNSPERF_OUTSTANDING} queries outstanding, pinned to CPU ${PEER_CPU}; each server pinned to CPU ${SUT_CPU}; ${TRIALS} trials of ${DNSPERF_S} s per server, alternating, after a 2 s warm-up each; medians (qps range in brackets). Queries cycle through the ${fmt(HOSTS)} A names in ${ZONES} zones; every answer was NOERROR. BIND 9 serves the same records from zone files with one worker thread. "projected qps/core" = 1 / (server CPU per query): what the server would answer if its core were saturated. Target: >= ${fmt(DNSPERF_TARGET_QPS)} qps for gangplank.`,
    '',
    '| system | qps | avg latency ms | lost | response bytes | server CPU (cores) | server CPU µs/query | projected qps/core | dnsperf CPU (cores) | CPU0 / CPU1 busy (all processes) | qps vs BIND | CPU/query vs BIND | target met |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const x of rows) {
    const isG = x.system.startsWith('gangplank');
    const q = med(x, qps);
    const lost = x.trials.reduce((a, t) => a + t.r.lost, 0);
    const sent = x.trials.reduce((a, t) => a + t.r.sent, 0);
    lines.push(
      `| ${x.system} | ${fmt(Math.round(q))} (${fmt(Math.round(Math.min(...x.trials.map(qps))))}–${fmt(Math.round(Math.max(...x.trials.map(qps))))}) | ${med(x, (t) => t.r.avgLatencyMs).toFixed(2)} | ${fmt(lost)} of ${fmt(sent)} | ${x.trials[0]!.r.responseBytes} | ${med(x, (t) => t.cpuCores).toFixed(2)} | ${med(x, us).toFixed(1)} | ${fmt(Math.round(1e6 / med(x, us)))} | ${med(x, (t) => t.dnsperfCores).toFixed(2)} | ${(med(x, (t) => t.cpu0Busy) * 100).toFixed(0)}% / ${(med(x, (t) => t.cpu1Busy) * 100).toFixed(0)}% | ${ref ? `${(q / med(ref, qps)).toFixed(2)}×` : '–'} | ${ref ? `${(med(x, us) / med(ref, us)).toFixed(2)}×` : '–'} | ${isG ? (q >= DNSPERF_TARGET_QPS ? 'yes' : '**no**') : ''} |`,
    );
  }
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  installCleanup();
  requireBinary('taskset', 'apt-get install -y util-linux');
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  const dir = await mkdtemp(join(tmpdir(), 'gangplank-bench-dns-'));
  const started = new Date();
  try {
    const r53 = ONLY === 'dnsperf' ? undefined : await route53(dir);
    const perf = ONLY === 'route53' ? undefined : await embedded(dir);
    const cmd = `node --import tsx bench/dns/run.ts${process.argv.slice(2).length ? ' ' + process.argv.slice(2).join(' ') : ''}`;
    const md = [
      '## DNS (bench:dns)',
      '',
      `Command: \`${cmd}\` (\`npm run bench:dns${process.argv.slice(2).length ? ' -- ' + process.argv.slice(2).join(' ') : ''}\`). Run ${started.toISOString()} on ${osCpus().length} × ${osCpus()[0]?.model.trim() ?? 'unknown CPU'}, Node ${process.version}; gangplank \`${BIN}\`${opts.bin ? '' : ` (working tree at ${gitHead()})`}; moto ${motoVersion()}, ${execFileSync('named', ['-v'], { encoding: 'utf8' }).trim()}, dnsperf ${dnsperfVersion()}.`,
      '',
      r53 ? route53Markdown(r53) : '',
      perf ? dnsperfMarkdown(perf) : '',
    ].filter(Boolean).join('\n\n');
    process.stdout.write('\n' + md);
    const out = opts.out ?? join(ROOT, 'bench/results', `dns-${started.toISOString().slice(0, 10)}${QUICK ? '-quick' : ''}${ONLY ? `-${ONLY}` : ''}.md`);
    mkdirSync(join(out, '..'), { recursive: true });
    writeFileSync(out, md);
    log(`wrote ${out}`);
  } finally {
    await stopAll();
    await rm(dir, { recursive: true, force: true });
  }
}

function gitHead(): string {
  try {
    return execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown commit';
  }
}

function motoVersion(): string {
  try {
    return execFileSync('python3', ['-c', 'import moto; print(moto.__version__)'], { encoding: 'utf8', env: { ...process.env, PATH: `/root/.pyenv/shims:${process.env.PATH ?? ''}` } }).trim();
  } catch {
    return '(version unknown)';
  }
}

function dnsperfVersion(): string {
  const out = execFileSync('dnsperf', ['-h'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  return /Version ([\d.]+)/.exec(out)?.[1] ?? '(version unknown)';
}

main().then(
  () => process.exit(0),
  async (err: Error) => {
    process.stderr.write(`bench:dns failed: ${err.stack ?? err.message}\n`);
    await stopAll();
    process.exit(1);
  },
);
