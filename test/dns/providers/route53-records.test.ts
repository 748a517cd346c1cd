import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalHostedZone } from '../../../src/controllers/dns/providers/aws-canonical-zones.js';
import { fromRecordSet, isAlias, toRecordSets, txtQuote, txtUnquote, unescapeName } from '../../../src/controllers/dns/providers/route53-records.js';
import { toProviderError } from '../../../src/controllers/dns/providers/route53.js';
import type { DnsRecord } from '../../../src/controllers/dns/types.js';

describe('Route 53 TXT quoting', () => {
  const cases: [string, string, string][] = [
    ['plain', 'hello', '"hello"'],
    ['commas and quotes', 'a,b "c" \\d', '"a,b \\"c\\" \\\\d"'],
    ['non-ASCII as octal bytes', 'é', '"\\303\\251"'],
    ['empty', '', '""'],
  ];
  for (const [name, text, quoted] of cases) {
    it(`${name}: quote and unquote`, () => {
      assert.equal(txtQuote(text), quoted);
      assert.equal(txtUnquote(quoted), text);
    });
  }
  it('splits values longer than 255 bytes into several strings and joins them back', () => {
    const long = 'y'.repeat(600);
    const q = txtQuote(long);
    assert.deepEqual(q.split(' ').map((s) => s.length - 2), [255, 255, 90]);
    assert.equal(txtUnquote(q), long);
  });
  it('reads an unquoted value as it is', () => assert.equal(txtUnquote('bare'), 'bare'));
});

describe('Route 53 names and alias targets', () => {
  it('unescapes \\052 and drops the trailing dot', () => assert.equal(unescapeName('\\052.Apps.Example.com.'), '*.apps.example.com'));
  const zones: [string, string | undefined][] = [
    ['k8s-web-0123.elb.us-east-1.amazonaws.com', 'Z26RNL4JYFTOTI'],
    ['my-alb-1234.eu-west-1.elb.amazonaws.com', 'Z32O12XQLNTSW2'],
    ['dualstack.my-alb-1234.us-west-2.elb.amazonaws.com.', 'Z1H1FL5HABSF5'],
    ['internal-x-1.ap-northeast-3.elb.amazonaws.com', 'Z5LXEXXYW11ES'],
    ['net-1.elb.cn-north-1.amazonaws.com.cn', 'Z3QFB96KMJ7ED6'],
    ['d111111abcdef8.cloudfront.net', 'Z2FDTNDATAQYW2'],
    ['a1234.awsglobalaccelerator.com', 'Z2BJ6XQ5FK7U4H'],
    ['web.example.com', undefined],
    ['x.elb.xx-nowhere-9.amazonaws.com', undefined],
  ];
  for (const [host, want] of zones) it(`canonical zone of ${host}`, () => assert.equal(canonicalHostedZone(host), want));

  const cname = (target: string, ps?: Record<string, string>): DnsRecord => ({ name: 'www.example.com', type: 'CNAME', ttl: 300, targets: [target], ...(ps ? { providerSpecific: ps } : {}) });
  const alias: [string, DnsRecord, boolean][] = [
    ['ELB target becomes an alias', cname('lb-1.elb.us-east-1.amazonaws.com'), true],
    ['alias=false keeps a CNAME', cname('lb-1.elb.us-east-1.amazonaws.com', { alias: 'false' }), false],
    ['alias=true on any name', cname('other.example.com', { alias: 'true' }), true],
    ['ordinary CNAME', cname('other.example.com'), false],
  ];
  for (const [name, rec, want] of alias) it(name, () => assert.equal(isAlias(rec), want));
});

describe('toRecordSets / fromRecordSet', () => {
  const o = { hostedZoneId: '/hostedzone/ZSELF', evaluateTargetHealth: true, defaultTtl: 300 };
  it('an alias to a name in the same zone uses the zone itself', () => {
    const [rs] = toRecordSets({ name: 'www.example.com', type: 'CNAME', ttl: 0, targets: ['app.example.com'], providerSpecific: { alias: 'true' } }, o);
    assert.deepEqual(rs, { Name: 'www.example.com', Type: 'A', AliasTarget: { DNSName: 'app.example.com', HostedZoneId: 'ZSELF', EvaluateTargetHealth: true } });
  });
  it('routing policy fields', () => {
    const [rs] = toRecordSets({ name: 'a.example.com', type: 'A', ttl: 0, targets: ['192.0.2.1'], setIdentifier: 'eu', providerSpecific: { 'aws/failover': 'primary', 'aws/health-check-id': 'hc-1' } }, o);
    assert.deepEqual(rs, { Name: 'a.example.com', Type: 'A', TTL: 300, ResourceRecords: [{ Value: '192.0.2.1' }], SetIdentifier: 'eu', Failover: 'PRIMARY', HealthCheckId: 'hc-1' });
  });
  const bad: [string, DnsRecord, RegExp][] = [
    ['weight without setIdentifier', { name: 'a.example.com', type: 'A', ttl: 60, targets: ['192.0.2.1'], providerSpecific: { 'aws/weight': '10' } }, /needs a setIdentifier/],
    ['weight out of range', { name: 'a.example.com', type: 'A', ttl: 60, targets: ['192.0.2.1'], setIdentifier: 's', providerSpecific: { 'aws/weight': '300' } }, /0\.\.255/],
    ['two policies', { name: 'a.example.com', type: 'A', ttl: 60, targets: ['192.0.2.1'], setIdentifier: 's', providerSpecific: { 'aws/weight': '1', 'aws/region': 'eu-west-1' } }, /one routing policy/],
    ['no targets', { name: 'a.example.com', type: 'A', ttl: 60, targets: [] }, /no targets/],
  ];
  for (const [name, rec, err] of bad) it(`refuses ${name}`, () => assert.throws(() => toRecordSets(rec, o), err));

  it('lists TXT unquoted, CNAME without dot, alias as CNAME with alias=true', () => {
    assert.deepEqual(fromRecordSet({ Name: 't.example.com.', Type: 'TXT', TTL: 60, ResourceRecords: [{ Value: '"a" "b"' }] }), { name: 't.example.com', type: 'TXT', ttl: 60, targets: ['ab'] });
    assert.deepEqual(fromRecordSet({ Name: 'c.example.com.', Type: 'CNAME', TTL: 60, ResourceRecords: [{ Value: 'x.example.net.' }] })?.targets, ['x.example.net']);
    assert.deepEqual(fromRecordSet({ Name: 'w.example.com.', Type: 'A', AliasTarget: { DNSName: 'lb.elb.us-east-1.amazonaws.com.', HostedZoneId: 'Z26RNL4JYFTOTI', EvaluateTargetHealth: false } }), {
      name: 'w.example.com', type: 'CNAME', ttl: 0, targets: ['lb.elb.us-east-1.amazonaws.com'], providerSpecific: { alias: 'true', 'aws/evaluate-target-health': 'false' },
    });
    assert.equal(fromRecordSet({ Name: 'example.com.', Type: 'SOA', TTL: 900, ResourceRecords: [{ Value: 'x' }] }), undefined);
  });
});

describe('Route 53 errors as DnsProviderError', () => {
  const err = (name: string, message: string, status = 400) => Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });
  const cases: [string, Error, string, boolean][] = [
    ['throttling', err('Throttling', 'Rate exceeded'), 'throttled', true],
    ['HTTP 429', err('Unknown', 'slow down', 429), 'throttled', true],
    ['prior request not complete', err('PriorRequestNotComplete', 'wait', 400), 'throttled', true],
    ['create of an existing set', err('InvalidChangeBatch', "Tried to create resource record set [name='a.example.com.', type='A'] but it already exists"), 'conflict', false],
    ['delete of a missing set', err('InvalidChangeBatch', "Tried to delete resource record set [name='a.example.com.', type='A'] but it was not found"), 'not-found', false],
    ['bad values', err('InvalidChangeBatch', 'ARRDATAIllegalIPv4Address'), 'invalid-change', false],
    ['zone gone', err('NoSuchHostedZone', 'No hosted zone found', 404), 'zone-not-found', true],
    ['credentials', err('InvalidClientTokenId', 'bad token', 403), 'auth', true],
    ['network', err('Error', 'connect ECONNREFUSED', 0), 'unavailable', true],
  ];
  for (const [name, e, code, retryable] of cases) {
    it(name, () => {
      const p = toProviderError(e, 'applying a batch');
      assert.equal(p.code, code);
      assert.equal(p.retryable, retryable);
      if (code === 'throttled') assert.ok((p.retryAfter ?? 0) > 0);
      assert.match(p.message, /applying a batch/);
    });
  }
});
