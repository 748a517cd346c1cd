/** Result tables (ratios against nginx) and the CPU profile summary. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tableMarkdown, type Table } from '../../../bench/lib/table.js';
import { areaOf, selfTimeByArea, topSelfTime, type CpuProfile } from '../../../bench/lib/cpuprofile.js';

const result = (rps: number) => ({ requests: rps * 10, durationS: 10, rps, p50Ms: 1, p99Ms: 2, p999Ms: 3, errors: 0 });

test('table: ratios are against the reference row; n/a rows keep the column count', () => {
  const t: Table = {
    title: 'small',
    load: 'wrk',
    reference: 'nginx',
    rows: [
      { system: 'nginx', result: result(40_000), cpuPer1k: 0.02, othersPct: 3 },
      { system: 'gangplank', result: result(10_000), cpuPer1k: 0.08 },
      { system: 'gangplank --workers 2', na: 'n/a (not implemented yet)' },
    ],
  };
  const lines = tableMarkdown(t).trim().split('\n');
  const cells = (l: string) => l.split('|').slice(1, -1).map((c) => c.trim());
  const header = cells(lines[4]!);
  const nginx = cells(lines[6]!);
  const gp = cells(lines[7]!);
  const na = cells(lines[8]!);
  assert.equal(nginx[header.indexOf('req/s vs nginx')], '1.00×');
  assert.equal(gp[header.indexOf('req/s')], '10,000');
  assert.equal(gp[header.indexOf('req/s vs nginx')], '0.25×');
  assert.equal(gp[header.indexOf('CPU vs nginx')], '4.00×');
  assert.equal(nginx[header.indexOf('CPU 0 taken by others')], '3%');
  assert.equal(gp[header.indexOf('CPU 0 taken by others')], '–');
  assert.equal(na.length, header.length);
  assert.equal(na[1], 'n/a (not implemented yet)');
});

test('table: errors are shown with their note', () => {
  const t: Table = { title: 't', load: 'l', reference: 'nginx', rows: [{ system: 'x', result: { ...result(1), errors: 5, note: '5 non-2xx/3xx' } }] };
  assert.match(tableMarkdown(t), /\| 5 \(5 non-2xx\/3xx\) \|/);
});

const profile: CpuProfile = {
  nodes: [
    { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1 } },
    { id: 2, callFrame: { functionName: 'handle', url: 'file:///work/main/dist/proxy/handler.js', lineNumber: 9 } },
    { id: 3, callFrame: { functionName: 'writeH1', url: 'file:///work/main/node_modules/undici/lib/dispatcher/client-h1.js', lineNumber: 1143 } },
    { id: 4, callFrame: { functionName: '(garbage collector)', url: '', lineNumber: -1 } },
    { id: 5, callFrame: { functionName: 'handle', url: 'file:///work/main/dist/proxy/handler.js', lineNumber: 9 } },
    { id: 6, callFrame: { functionName: '(idle)', url: '', lineNumber: -1 } },
  ],
  // Each sample stands for the delta that follows it.
  samples: [2, 3, 5, 6, 4, 2],
  timeDeltas: [0, 1000, 3000, 500, 7000, 500],
};

test('cpu profile: self time per function, nodes of one function summed, idle apart', () => {
  const { total, idle, top } = topSelfTime(profile);
  assert.equal(total, 5);
  assert.equal(idle, 7);
  assert.equal(top[0]!.share, 3 / 5);
  assert.deepEqual(
    top.map((t) => [t.name, t.ms]),
    [
      ['writeH1 (node_modules/undici/lib/dispatcher/client-h1.js:1144)', 3],
      ['handle (dist/proxy/handler.js:10)', 1.5],
      ['(garbage collector)', 0.5],
    ],
  );
});

test('cpu profile: areas', () => {
  for (const [url, fn, want] of [
    ['file:///x/dist/proxy/handler.js', 'h', 'gangplank: proxy'],
    ['file:///x/node_modules/undici/lib/core/util.js', 'f', 'npm: undici'],
    ['file:///x/node_modules/@grpc/grpc-js/build/a.js', 'f', 'npm: @grpc/grpc-js'],
    ['node:_http_server', 'f', 'node: http_server'],
    ['node:internal/streams/readable', 'f', 'node: streams'],
    ['', '(garbage collector)', '(garbage collector)'],
    ['', 'writev', 'native: writev'],
  ] as const)
    assert.equal(areaOf({ url, functionName: fn, lineNumber: 0 }), want, url || fn);
  assert.deepEqual(
    selfTimeByArea(profile).map((a) => [a.name, a.ms]),
    [
      ['npm: undici', 3],
      ['gangplank: proxy', 1.5],
      ['(garbage collector)', 0.5],
    ],
  );
});
