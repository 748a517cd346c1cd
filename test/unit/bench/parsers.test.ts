/** The benchmark's parsers, fed with real wrk and h2load output captured on this machine. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseWrk, wrkScript } from '../../../bench/lib/wrk.js';
import { h2loadResult, parseH2loadLog, parseH2loadSummary } from '../../../bench/lib/h2load.js';
import { parseCpuLine, parseProcStat, parseVmRss } from '../../../bench/lib/procstat.js';
import { parseDurationMs, percentile } from '../../../bench/lib/stats.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

test('wrk: keep-alive run → requests, rate from the JSON line, percentiles incl. p99.9', () => {
  const r = parseWrk(fixture('wrk-http-small.txt'));
  assert.equal(r.requests, 122903);
  assert.ok(Math.abs(r.rps - 122903 / 2.051972) < 0.01);
  assert.equal(r.p50Ms, 0.662);
  assert.equal(r.p99Ms, 23.532);
  assert.equal(r.p999Ms, 48.223);
  assert.equal(r.errors, 0);
  assert.equal(r.note, undefined);
});

test('wrk: non-2xx responses count as errors and are named', () => {
  const r = parseWrk(fixture('wrk-http-404.txt'));
  assert.equal(r.errors, 48629);
  assert.match(r.note ?? '', /48629 non-2xx\/3xx/);
});

test('wrk: Connection: close over https (one handshake per request) parses', () => {
  const r = parseWrk(fixture('wrk-https-close.txt'));
  assert.equal(r.requests, 2747);
  assert.equal(r.p999Ms, 576.754);
});

test('wrk: output without the done() JSON line is refused with a hint', () => {
  const text = fixture('wrk-http-small.txt').split('\n').filter((l) => !l.startsWith('BENCH_JSON')).join('\n');
  assert.throws(() => parseWrk(text), /no BENCH_JSON line .*-s/);
});

test('wrk: text and JSON percentiles that disagree are refused', () => {
  const text = fixture('wrk-http-small.txt').replace('50%  662.00us', '50%    9.00ms');
  assert.throws(() => parseWrk(text), /disagree/);
});

test('wrk script: host list is quoted for Lua and requests are pre-formatted', () => {
  const s = wrkScript({ path: '/small', hosts: ['a.test', 'we"ird\\host'] });
  assert.match(s, /"a\.test",/);
  assert.match(s, /"we\\"ird\\\\host",/);
  assert.match(s, /local path = "\/small"/);
  assert.match(s, /request = function\(\) return reqs\[math\.random\(#reqs\)\] end/);
  assert.doesNotMatch(wrkScript({ path: '/' }), /request = /);
});

test('h2load: summary of a run where nginx sent GOAWAY (failures are reported)', () => {
  const s = parseH2loadSummary(fixture('h2load-goaway.txt'));
  assert.deepEqual(
    { rps: s.rps, total: s.total, succeeded: s.succeeded, failed: s.failed, errored: s.errored, protocol: s.protocol, d: s.durationS },
    { rps: 4000, total: 8031, succeeded: 8000, failed: 31, errored: 31, protocol: 'h2', d: 2 },
  );
  const r = h2loadResult(s, [1, 2, 3]);
  assert.equal(r.errors, 31);
  assert.match(r.note ?? '', /31 failed/);
});

test('h2load: clean run', () => {
  const s = parseH2loadSummary(fixture('h2load-ok.txt'));
  assert.equal(s.succeeded, 66363);
  assert.equal(s.status['2xx'], 66363);
  assert.equal(h2loadResult(s, [0.5]).errors, 0);
});

test('h2load: not h2load output is refused', () => {
  assert.throws(() => parseH2loadSummary('Running 2s test @ http://x'), /not h2load output/);
});

test('h2load log: latencies of 2xx/3xx requests in ms, ascending', () => {
  const lat = parseH2loadLog(fixture('h2load-log.tsv'));
  assert.equal(lat.length, 50);
  assert.equal(lat[0], Math.min(...lat));
  assert.ok(lat.every((v, i) => i === 0 || v >= lat[i - 1]!));
  assert.deepEqual(parseH2loadLog('1\t200\t1500\n2\t503\t9\n3\t302\t500\n'), [0.5, 1.5]);
  assert.throws(() => parseH2loadLog('garbage'), /bad h2load log line/);
});

test('percentile: nearest rank', () => {
  const xs = Array.from({ length: 1000 }, (_, i) => i + 1);
  for (const [p, want] of [
    [50, 500],
    [99, 990],
    [99.9, 999],
    [100, 1000],
    [0, 1],
  ] as const)
    assert.equal(percentile(xs, p), want, `p${p}`);
  assert.ok(Number.isNaN(percentile([], 50)));
});

test('durations as wrk prints them', () => {
  for (const [text, ms] of [
    ['662.00us', 0.662],
    ['1.42ms', 1.42],
    ['2.01s', 2010],
  ] as const)
    assert.ok(Math.abs(parseDurationMs(text) - ms) < 1e-9, `${text} → ${parseDurationMs(text)} ms, want ${ms}`);
  assert.throws(() => parseDurationMs('fast'), /not a duration/);
});

test('/proc/<pid>/stat: fields counted from the last ")" (command names may hold spaces and parentheses)', () => {
  const line = '4242 (node (worker) 1) S 4200 4242 4200 0 -1 4194560 9000 0 0 0 1234 567 0 0 20 0 11 0 100 1000 200 18446744073709551615';
  assert.deepEqual(parseProcStat(line), { pid: 4242, ppid: 4200, cpuTicks: 1801 });
  assert.throws(() => parseProcStat('nonsense'), /not a \/proc/);
});

test('/proc/<pid>/status VmRSS in bytes', () => {
  assert.equal(parseVmRss('Name:\tnode\nVmRSS:\t   88200 kB\nRssAnon: 1 kB\n'), 88200 * 1024);
  assert.equal(parseVmRss('Name:\tzombie\n'), 0);
});

test('/proc/stat per-CPU busy and total ticks', () => {
  const stat = 'cpu  10 0 10 100 0 0 0 0 0 0\ncpu0 5 1 4 50 2 1 1 3 0 0\ncpu1 5 0 6 50 0 0 0 0 0 0\n';
  assert.deepEqual(parseCpuLine(stat, 0), { busy: 15, total: 67 });
  assert.throws(() => parseCpuLine(stat, 7), /no line for cpu7/);
});
