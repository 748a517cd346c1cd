/**
 * h2load: runner and parsers. h2load prints throughput but no percentiles, so latencies come
 * from its per-request `--log-file` (start time, status, microseconds to the end of the response).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runPinned } from './procs.js';
import { percentile } from './stats.js';
import type { LoadResult } from './wrk.js';

export interface H2loadSummary {
  durationS: number;
  rps: number;
  total: number;
  succeeded: number;
  failed: number;
  errored: number;
  timeout: number;
  status: { '2xx': number; '3xx': number; '4xx': number; '5xx': number };
  /** The negotiated application protocol ("h2", "http/1.1"), when h2load printed it. */
  protocol?: string;
}

/** Parses h2load's stdout summary. */
export function parseH2loadSummary(stdout: string): H2loadSummary {
  const fin = /^finished in ([\d.]+)s, ([\d.]+) req\/s/m.exec(stdout);
  const req = /^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/m.exec(stdout);
  const st = /^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/m.exec(stdout);
  if (!fin || !req || !st) throw new Error(`not h2load output (no "finished in", "requests:" or "status codes:" line):\n${stdout.slice(-1500)}`);
  const proto = /^Application protocol: (\S+)/m.exec(stdout);
  return {
    durationS: Number(fin[1]),
    rps: Number(fin[2]),
    total: Number(req[1]),
    succeeded: Number(req[4]),
    failed: Number(req[5]),
    errored: Number(req[6]),
    timeout: Number(req[7]),
    status: { '2xx': Number(st[1]), '3xx': Number(st[2]), '4xx': Number(st[3]), '5xx': Number(st[4]) },
    ...(proto ? { protocol: proto[1] } : {}),
  };
}

/** Reads h2load's --log-file: latencies (ms, ascending) of requests answered 2xx/3xx. */
export function parseH2loadLog(text: string): number[] {
  const out: number[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const [, status, us] = line.split('\t');
    const code = Number(status);
    const dur = Number(us);
    if (!Number.isFinite(code) || !Number.isFinite(dur)) throw new Error(`bad h2load log line: ${JSON.stringify(line)}`);
    if (code >= 200 && code < 400) out.push(dur / 1000);
  }
  return out.sort((a, b) => a - b);
}

/** Combines summary and log into one result row. */
export function h2loadResult(s: H2loadSummary, latenciesMs: readonly number[]): LoadResult {
  const errors = s.failed + s.status['4xx'] + s.status['5xx'];
  const notes: string[] = [];
  if (errors) notes.push(`${s.failed} failed, ${s.status['4xx']} 4xx, ${s.status['5xx']} 5xx`);
  if (s.protocol && s.protocol !== 'h2') notes.push(`negotiated ${s.protocol}, not h2`);
  return {
    requests: s.succeeded,
    durationS: s.durationS,
    rps: s.rps,
    p50Ms: percentile(latenciesMs, 50),
    p99Ms: percentile(latenciesMs, 99),
    p999Ms: percentile(latenciesMs, 99.9),
    errors,
    ...(notes.length ? { note: notes.join('; ') } : {}),
  };
}

export interface H2loadRun {
  url: string;
  /** Host:port to connect to instead of the URL's authority (keeps SNI and :authority from the URL). */
  connectTo?: string;
  clients: number;
  streams: number;
  durationS: number;
  cpus: string;
  workDir: string;
}

let seq = 0;

/** `h2load -cC -mM -t1 -D S` pinned to `cpus`, with a per-request log for percentiles. */
export async function runH2load(r: H2loadRun): Promise<LoadResult> {
  const log = join(r.workDir, `h2load-${++seq}.log`);
  const args = [`-c${r.clients}`, `-m${r.streams}`, '-t1', '-D', String(r.durationS), `--log-file=${log}`];
  if (r.connectTo) args.push(`--connect-to=${r.connectTo}`);
  args.push(r.url);
  const out = await runPinned('h2load', args, { cpus: r.cpus, name: 'h2load', timeoutMs: (r.durationS + 30) * 1000 });
  const summary = parseH2loadSummary(out.stdout);
  return h2loadResult(summary, parseH2loadLog(await readFile(log, 'utf8')));
}
