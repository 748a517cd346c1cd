import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  controllerMismatch,
  hostnameSourceOf,
  parseDnsAnnotations,
  parseGoDuration,
  parseTtl,
  resolveExternalDnsAnnotations,
  splitList,
} from '../../../src/controllers/dns/annotations.js';

const GA = 'external-dns.kubernetes.io/';
const ALPHA = 'external-dns.alpha.kubernetes.io/';

describe('annotation prefixes', () => {
  const cases: { name: string; ann: Record<string, string>; want: Record<string, string> }[] = [
    { name: 'alpha only', ann: { [`${ALPHA}hostname`]: 'a.example.com' }, want: { hostname: 'a.example.com' } },
    { name: 'GA only', ann: { [`${GA}hostname`]: 'b.example.com' }, want: { hostname: 'b.example.com' } },
    {
      name: 'both: GA wins',
      ann: { [`${ALPHA}ttl`]: '60', [`${GA}ttl`]: '120' },
      want: { ttl: '120' },
    },
    {
      name: 'mixed keys from both prefixes',
      ann: { [`${ALPHA}hostname`]: 'x.example.com', [`${GA}target`]: '1.2.3.4' },
      want: { hostname: 'x.example.com', target: '1.2.3.4' },
    },
    { name: 'unrelated annotations ignored', ann: { 'kubernetes.io/ingress.class': 'x', 'external-dns.io/hostname': 'y' }, want: {} },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.deepEqual(Object.fromEntries(resolveExternalDnsAnnotations(c.ann)), c.want);
    });
  }
});

describe('ttl parsing (integer seconds or Go duration)', () => {
  const cases: [string, number | 'error'][] = [
    ['600', 600],
    ['1', 1],
    ['+60', 60],
    ['10m', 600],
    ['1m30s', 90],
    ['1h', 3600],
    ['1h1m1s', 3661],
    ['1.5s', 1],
    ['1.5m', 90],
    ['.5h', 1800],
    ['2147483647', 2147483647],
    [' 300 ', 300],
    ['90000ms', 90],
    ['0', 'error'],
    ['0s', 'error'],
    ['-5', 'error'],
    ['-1m', 'error'],
    ['2147483648', 'error'],
    ['500ms', 'error'],
    ['abc', 'error'],
    ['10 m', 'error'],
    ['1d', 'error'],
    ['', 'error'],
    ['1.2.3s', 'error'],
  ];
  for (const [input, want] of cases) {
    test(`"${input}" -> ${want}`, () => {
      const got = parseTtl(input);
      if (want === 'error') assert.ok('error' in got, `expected an error, got ${JSON.stringify(got)}`);
      else assert.deepEqual(got, { ttl: want });
    });
  }
  test('Go duration units and microsecond spellings', () => {
    assert.equal(parseGoDuration('1us'), 1e3);
    assert.equal(parseGoDuration('1µs'), 1e3);
    assert.equal(parseGoDuration('1μs'), 1e3);
    assert.equal(parseGoDuration('3ns'), 3);
    assert.equal(parseGoDuration('-2m'), -120e9);
    assert.equal(parseGoDuration('5'), undefined);
    assert.equal(parseGoDuration('.s'), undefined);
  });
  test('an invalid ttl annotation is reported and falls back to the provider default', () => {
    const a = parseDnsAnnotations({ [`${GA}ttl`]: 'soon' });
    assert.equal(a.ttl, 0);
    assert.equal(a.problems.length, 1);
    assert.match(a.problems[0]!, /external-dns\.kubernetes\.io\/ttl: "soon" is not a valid TTL/);
  });
});

describe('list annotations', () => {
  const cases: [string, string[]][] = [
    ['a.example.com', ['a.example.com']],
    ['a.example.com,b.example.com', ['a.example.com', 'b.example.com']],
    [' a.example.com , b.example.com. ', ['a.example.com', 'b.example.com']],
    ['a.example.com,', ['a.example.com']],
    ['*.example.com', ['*.example.com']],
    ['', []],
  ];
  for (const [input, want] of cases) {
    test(JSON.stringify(input), () => assert.deepEqual(splitList(input), want));
  }
});

describe('parseDnsAnnotations', () => {
  test('everything at once, alpha and GA mixed', () => {
    const a = parseDnsAnnotations({
      [`${ALPHA}hostname`]: 'www.example.com, api.example.com',
      [`${GA}target`]: 'lb.example.net.',
      [`${GA}ttl`]: '5m',
      [`${ALPHA}alias`]: 'true',
      [`${GA}set-identifier`]: 'eu-1',
      [`${ALPHA}aws-weight`]: '10',
      [`${GA}aws-failover`]: 'PRIMARY',
      [`${GA}aws-region`]: 'eu-west-1',
      [`${GA}aws-evaluate-target-health`]: 'false',
      [`${GA}aws-health-check-id`]: 'hc-1',
    });
    assert.deepEqual(a.hostnames, ['www.example.com', 'api.example.com']);
    assert.deepEqual(a.targets, ['lb.example.net']);
    assert.equal(a.ttl, 300);
    assert.equal(a.setIdentifier, 'eu-1');
    assert.deepEqual(a.providerSpecific, {
      alias: 'true',
      'aws/weight': '10',
      'aws/failover': 'PRIMARY',
      'aws/region': 'eu-west-1',
      'aws/evaluate-target-health': 'false',
      'aws/health-check-id': 'hc-1',
    });
    assert.deepEqual(a.problems, []);
  });
  const aliasCases: [string, boolean][] = [
    ['true', true],
    ['True', false],
    ['yes', false],
    ['false', false],
  ];
  for (const [v, on] of aliasCases) {
    test(`alias "${v}" -> ${on ? 'alias=true' : 'no alias'}`, () => {
      const a = parseDnsAnnotations({ [`${GA}alias`]: v });
      assert.equal(a.providerSpecific['alias'], on ? 'true' : undefined);
    });
  }
  test('empty target annotation counts as absent', () => {
    assert.equal(parseDnsAnnotations({ [`${GA}target`]: '' }).targets, undefined);
  });
});

describe('controller annotation (ExternalDNS skips any value but dns-controller)', () => {
  const cases: [string | undefined, boolean][] = [
    [undefined, false],
    ['dns-controller', false],
    ['other-controller', true],
    ['', true],
  ];
  for (const [value, skipped] of cases) {
    test(`controller=${JSON.stringify(value)} -> ${skipped ? 'skipped' : 'ours'}`, () => {
      const ann: Record<string, string> = value === undefined ? {} : { [`${ALPHA}controller`]: value };
      const why = controllerMismatch(parseDnsAnnotations(ann));
      assert.equal(why !== undefined, skipped);
      if (why) assert.match(why, /not "dns-controller"/);
    });
  }
});

describe('ingress-hostname-source', () => {
  const cases: [string | undefined, string][] = [
    [undefined, 'all'],
    ['defined-hosts-only', 'defined-hosts-only'],
    ['annotation-only', 'annotation-only'],
    ['Annotation-Only', 'annotation-only'],
    ['both', 'error'],
  ];
  for (const [value, want] of cases) {
    test(`${JSON.stringify(value)} -> ${want}`, () => {
      const ann: Record<string, string> = value === undefined ? {} : { [`${GA}ingress-hostname-source`]: value };
      const got = hostnameSourceOf(parseDnsAnnotations(ann));
      if (want === 'error') assert.ok('error' in got);
      else assert.deepEqual(got, { source: want });
    });
  }
});
