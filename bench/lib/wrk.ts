/**
 * wrk: a Lua script that prints the summary as one JSON line in `done()` (wrk's own text has no
 * p99.9), a runner, and a parser that reads both the JSON line and wrk's text.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runPinned } from './procs.js';
import { parseDurationMs } from './stats.js';

export const JSON_MARK = 'BENCH_JSON ';

export interface LoadResult {
  requests: number;
  durationS: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  /** Socket errors plus responses that were not 2xx/3xx. */
  errors: number;
  /** The generator's own summary line(s), for the report when something looks wrong. */
  note?: string;
}

function luaString(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * The wrk Lua script. With `hosts`, every request picks its Host header at random from the list
 * (requests are pre-formatted in init() so the generator does no string work per request).
 */
export function wrkScript(opts: { path: string; hosts?: readonly string[] }): string {
  const lines: string[] = [];
  if (opts.hosts && opts.hosts.length) {
    lines.push('local hosts = {');
    for (const h of opts.hosts) lines.push(`  ${luaString(h)},`);
    lines.push('}');
    lines.push(`local path = ${luaString(opts.path)}`);
    lines.push('local reqs = {}');
    lines.push('init = function(args)');
    lines.push('  for i, h in ipairs(hosts) do reqs[i] = wrk.format("GET", path, { Host = h }) end');
    lines.push('end');
    lines.push('request = function() return reqs[math.random(#reqs)] end');
  }
  lines.push('done = function(summary, latency, requests)');
  lines.push(
    `  io.write(string.format('${JSON_MARK}{"requests":%d,"duration_us":%d,"bytes":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},"latency_us":{"p50":%.1f,"p99":%.1f,"p999":%.1f,"max":%.1f,"mean":%.1f}}\\n',`,
  );
  lines.push('    summary.requests, summary.duration, summary.bytes, summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status, summary.errors.timeout,');
  lines.push('    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max, latency.mean))');
  lines.push('end');
  return lines.join('\n') + '\n';
}

interface WrkJson {
  requests: number;
  duration_us: number;
  bytes: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  latency_us: { p50: number; p99: number; p999: number; max: number; mean: number };
}

/** Parses wrk's output (text + the script's JSON line). Throws when the output is not wrk's. */
export function parseWrk(stdout: string): LoadResult {
  const line = stdout.split('\n').find((l) => l.startsWith(JSON_MARK));
  if (!line) throw new Error(`wrk output has no ${JSON_MARK.trim()} line (was the done() script passed with -s?):\n${stdout.slice(-1500)}`);
  const j = JSON.parse(line.slice(JSON_MARK.length)) as WrkJson;
  const durationS = j.duration_us / 1e6;
  if (!(durationS > 0)) throw new Error(`wrk reported a duration of ${j.duration_us} us`);
  // wrk's text, when present, must agree with the JSON on the p50 (both come from one histogram).
  const text50 = /^\s+50%\s+(\S+)$/m.exec(stdout);
  if (text50) {
    const ms = parseDurationMs(text50[1]!);
    const json = j.latency_us.p50 / 1000;
    if (Math.abs(ms - json) > Math.max(0.02, json * 0.02)) throw new Error(`wrk p50 in text (${ms} ms) and JSON (${json} ms) disagree`);
  }
  const e = j.errors;
  const sock = e.connect + e.read + e.write + e.timeout;
  const notes: string[] = [];
  if (e.status) notes.push(`${e.status} non-2xx/3xx`);
  if (sock) notes.push(`socket errors: connect ${e.connect}, read ${e.read}, write ${e.write}, timeout ${e.timeout}`);
  return {
    requests: j.requests,
    durationS,
    rps: j.requests / durationS,
    p50Ms: j.latency_us.p50 / 1000,
    p99Ms: j.latency_us.p99 / 1000,
    p999Ms: j.latency_us.p999 / 1000,
    errors: e.status + sock,
    ...(notes.length ? { note: notes.join('; ') } : {}),
  };
}

export interface WrkRun {
  url: string;
  connections: number;
  durationS: number;
  /** Extra request headers (e.g. Host, Connection: close); ignored for the requests of `hosts`. */
  headers?: Record<string, string>;
  hosts?: readonly string[];
  cpus: string;
  workDir: string;
}

let scriptSeq = 0;

/** Runs `wrk -t1 -cN -dS --latency -s script URL` pinned to `cpus` and parses its output. */
export async function runWrk(r: WrkRun): Promise<LoadResult> {
  const path = new URL(r.url).pathname;
  const script = join(r.workDir, `wrk-${++scriptSeq}.lua`);
  await writeFile(script, wrkScript({ path, hosts: r.hosts }));
  const args = ['-t1', `-c${r.connections}`, `-d${r.durationS}s`, '--latency', '--timeout', '10s', '-s', script];
  for (const [k, v] of Object.entries(r.headers ?? {})) args.push('-H', `${k}: ${v}`);
  args.push(r.url);
  const out = await runPinned('wrk', args, { cpus: r.cpus, name: 'wrk', timeoutMs: (r.durationS + 30) * 1000 });
  return parseWrk(out.stdout);
}
