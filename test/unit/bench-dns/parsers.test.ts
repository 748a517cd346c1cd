import assert from 'node:assert/strict';
import { test } from 'node:test';
import { convergence } from '../../../bench/dns/converge.js';
import { parseDnsperf } from '../../../bench/dns/dnsperf-output.js';
import { diff, parseProm, sumBy } from '../../../bench/dns/prom.js';
import { classifyRoute53, countChanges } from '../../../bench/dns/route53-ops.js';

test('Route 53 requests are classified by method and path', () => {
  const cases: [string, string, ReturnType<typeof classifyRoute53>][] = [
    ['GET', '/2013-04-01/hostedzone', { op: 'ListHostedZones' }],
    ['GET', '/2013-04-01/hostedzone?marker=Z2', { op: 'ListHostedZones' }],
    ['POST', '/2013-04-01/hostedzone', { op: 'CreateHostedZone' }],
    ['GET', '/2013-04-01/hostedzone/Z1ABC/rrset?maxitems=300', { op: 'ListResourceRecordSets', zoneId: 'Z1ABC' }],
    ['GET', '/2013-04-01/hostedzone/Z1ABC/rrset/', { op: 'ListResourceRecordSets', zoneId: 'Z1ABC' }],
    ['POST', '/2013-04-01/hostedzone/Z1ABC/rrset/', { op: 'ChangeResourceRecordSets', zoneId: 'Z1ABC' }],
    ['GET', '/2013-04-01/hostedzone/Z1ABC', { op: 'GetHostedZone', zoneId: 'Z1ABC' }],
    ['GET', '/2013-04-01/change/C123', { op: 'GetChange' }],
    ['POST', '/moto-api/reset', { op: 'other' }],
  ];
  for (const [method, url, want] of cases) assert.deepEqual(classifyRoute53(method, url), want, `${method} ${url}`);
});

test('the changes of a ChangeResourceRecordSets body are counted by action', () => {
  const xml =
    '<ChangeResourceRecordSetsRequest><ChangeBatch><Changes>' +
    '<Change><Action>CREATE</Action><ResourceRecordSet><Name>a.z.</Name></ResourceRecordSet></Change>' +
    '<Change><Action>CREATE</Action></Change><Change><Action>DELETE</Action></Change><Change><Action>UPSERT</Action></Change>' +
    '</Changes></ChangeBatch></ChangeResourceRecordSetsRequest>';
  assert.deepEqual(countChanges(xml), { total: 4, byAction: { CREATE: 2, DELETE: 1, UPSERT: 1 } });
  assert.deepEqual(countChanges(''), { total: 0, byAction: {} });
});

test('Prometheus counters are summed by label and diffed between snapshots', () => {
  const text = [
    '# HELP gangplank_dns_provider_calls_total Calls',
    '# TYPE gangplank_dns_provider_calls_total counter',
    'gangplank_dns_provider_calls_total{op="zones",result="success"} 3',
    'gangplank_dns_provider_calls_total{op="records",result="success"} 15',
    'gangplank_dns_provider_calls_total{op="apply",result="error"} 1',
    'gangplank_dns_changes_total{zone="z0.test",action="create",result="success"} 400',
    'gangplank_dns_changes_total{zone="z1.test",action="create",result="success"} 600',
    'process_cpu_seconds_total 1.5',
  ].join('\n');
  const s = parseProm(text);
  assert.deepEqual(sumBy(s, 'gangplank_dns_provider_calls_total', ['op']), { zones: 3, records: 15, apply: 1 });
  assert.deepEqual(sumBy(s, 'gangplank_dns_provider_calls_total', ['op'], { result: 'success' }), { zones: 3, records: 15 });
  assert.deepEqual(sumBy(s, 'gangplank_dns_changes_total', ['action']), { create: 1000 });
  assert.deepEqual(diff({ zones: 3, records: 15 }, { zones: 4, records: 15, apply: 2 }), { zones: 1, apply: 2 });
});

test('dnsperf statistics are parsed', () => {
  const out = `
Statistics:

  Queries sent:         201234
  Queries completed:    201200 (99.98%)
  Queries lost:         34 (0.02%)

  Response codes:       NOERROR 201190 (99.99%), NXDOMAIN 10 (0.00%)
  Average packet size:  request 33, response 49
  Run time (s):         10.001234
  Queries per second:   20117.5

  Average Latency (s):  0.004900 (min 0.000089, max 0.052156)
  Latency StdDev (s):   0.000400
`;
  const r = parseDnsperf(out);
  assert.equal(r.sent, 201234);
  assert.equal(r.completed, 201200);
  assert.equal(r.lost, 34);
  assert.equal(r.qps, 20117.5);
  assert.deepEqual([r.requestBytes, r.responseBytes], [33, 49]);
  assert.deepEqual(r.rcodes, { NOERROR: 201190, NXDOMAIN: 10 });
  assert.ok(Math.abs(r.avgLatencyMs - 4.9) < 1e-9);
  assert.ok(Math.abs(r.maxLatencyMs - 52.156) < 1e-9);
  assert.throws(() => parseDnsperf('garbage'), /Queries sent/);
});

test('convergence needs every desired record present with its targets and no zone errors', () => {
  const desired = [
    { name: 'a.z0.test', type: 'A', targets: ['192.0.2.1'] },
    { name: 'b.z1.test', type: 'A', targets: ['192.0.2.1'] },
  ];
  const zones = (recs: { name: string; type: string; targets: string[] }[], errors: unknown[] = []) => [
    { zone: 'z0.test', records: recs.filter((r) => r.name.includes('z0')), errors },
    { zone: 'z1.test', records: recs.filter((r) => r.name.includes('z1')), errors: [] },
  ];
  const full = [
    { name: 'A.z0.test.', type: 'A', targets: ['192.0.2.1'] },
    { name: 'b.z1.test', type: 'A', targets: ['192.0.2.1'] },
    { name: 'a-a.z0.test', type: 'TXT', targets: ['"heritage=external-dns"'] },
  ];
  assert.equal(convergence({ desired, zones: zones(full) }, 2).converged, true);
  assert.equal(convergence({ desired, zones: zones(full) }, 3).converged, false, 'fewer desired than generated');
  const stale = convergence({ desired, zones: zones([full[0]!, { ...full[1]!, targets: ['192.0.2.9'] }]) }, 2);
  assert.deepEqual([stale.converged, stale.present, stale.missing], [false, 1, ['b.z1.test A']]);
  assert.equal(convergence({ desired, zones: zones(full, [{ message: 'throttled' }]) }, 2).converged, false);
});

test('proxy calls are summarised per operation and split into drift-check bursts', async () => {
  const { summarize, bursts } = await import('../../../bench/dns/calls.js');
  const c = (op: string, start: number, extra: object = {}) => ({ op, start, end: start + 10, status: 200, ...extra }) as Parameters<typeof summarize>[0][number];
  const calls = [
    c('ListHostedZones', 0),
    c('ListResourceRecordSets', 20, { zoneId: 'Z1' }),
    c('ListResourceRecordSets', 40, { zoneId: 'Z1' }),
    c('ListResourceRecordSets', 60, { zoneId: 'Z2' }),
    c('ChangeResourceRecordSets', 80, { zoneId: 'Z1', changes: 1000 }),
    c('ChangeResourceRecordSets', 100, { zoneId: 'Z2', changes: 200, status: 400 }),
    c('ListHostedZones', 60_000),
    c('ListResourceRecordSets', 60_020, { zoneId: 'Z1' }),
  ];
  const s = summarize(calls);
  assert.deepEqual(
    [s.listZones, s.listRecords, s.writes, s.changes, s.minBatch, s.maxBatch, s.errors, s.pagesPerZone, s.writesPerZone],
    [2, 4, 2, 1200, 200, 1000, 1, { Z1: 3, Z2: 1 }, { Z1: 1, Z2: 1 }],
  );
  assert.deepEqual(bursts(calls, 5000).map((b) => b.length), [6, 2]);
  assert.deepEqual(bursts([], 5000), []);
});

test('the busy fraction of one CPU comes from its /proc/stat line', async () => {
  const { busyFraction, cpuTimes } = await import('../../../bench/dns/cpustat.js');
  const a = 'cpu  10 0 10 100 0 0 0 0 0 0\ncpu0 5 0 5 50 0 0 0 0 0 0\ncpu1 100 0 50 800 50 0 0 0 0 0\n';
  const b = 'cpu  10 0 10 100 0 0 0 0 0 0\ncpu0 5 0 5 50 0 0 0 0 0 0\ncpu1 160 0 80 805 55 0 5 0 0 0\n';
  assert.deepEqual(cpuTimes(a, 1), { busy: 150, total: 1000 });
  assert.equal(busyFraction(cpuTimes(a, 1), cpuTimes(b, 1)), 95 / 105);
  assert.throws(() => cpuTimes(a, 7), /cpu7/);
});
