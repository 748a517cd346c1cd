import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { desiredFromIngress, desiredFromService, hostnameProblem } from '../../../src/controllers/dns/endpoints.js';
import { ingress, service } from './helpers.js';

const GA = 'external-dns.kubernetes.io/';
const ALPHA = 'external-dns.alpha.kubernetes.io/';

/** `TYPE name -> t1,t2` lines, sorted, for compact expectations. */
function summary(eps: { name: string; type: string; targets: string[] }[]): string[] {
  return eps.map((e) => `${e.type} ${e.name} -> ${e.targets.join(',')}`).sort();
}

describe('ingress hostnames and hostname sources', () => {
  const lb = [{ ip: '10.0.0.1' }];
  const cases: { name: string; ing: Parameters<typeof ingress>[0]; opts?: Parameters<typeof desiredFromIngress>[1]; want: string[] }[] = [
    { name: 'rules hosts', ing: { hosts: ['a.example.com', 'b.example.com'], lb }, want: ['A a.example.com -> 10.0.0.1', 'A b.example.com -> 10.0.0.1'] },
    { name: 'tls hosts too', ing: { hosts: ['a.example.com'], tlsHosts: ['t.example.com'], lb }, want: ['A a.example.com -> 10.0.0.1', 'A t.example.com -> 10.0.0.1'] },
    { name: 'tls hosts ignored on request', ing: { hosts: ['a.example.com'], tlsHosts: ['t.example.com'], lb }, opts: { ignoreIngressTlsSpec: true }, want: ['A a.example.com -> 10.0.0.1'] },
    { name: 'duplicate hosts merge', ing: { hosts: ['a.example.com', 'A.Example.com.'], tlsHosts: ['a.example.com'], lb }, want: ['A a.example.com -> 10.0.0.1'] },
    { name: 'rule without host ignored', ing: { hosts: [''], lb }, want: [] },
    {
      name: 'hostname annotation added',
      ing: { hosts: ['a.example.com'], annotations: { [`${GA}hostname`]: 'x.example.com, y.example.com' }, lb },
      want: ['A a.example.com -> 10.0.0.1', 'A x.example.com -> 10.0.0.1', 'A y.example.com -> 10.0.0.1'],
    },
    {
      name: 'hostname annotation ignored with --ignore-hostname-annotation',
      ing: { hosts: ['a.example.com'], annotations: { [`${GA}hostname`]: 'x.example.com' }, lb },
      opts: { ignoreHostnameAnnotation: true },
      want: ['A a.example.com -> 10.0.0.1'],
    },
    {
      name: 'defined-hosts-only ignores the annotation',
      ing: { hosts: ['a.example.com'], annotations: { [`${GA}hostname`]: 'x.example.com', [`${GA}ingress-hostname-source`]: 'defined-hosts-only' }, lb },
      want: ['A a.example.com -> 10.0.0.1'],
    },
    {
      name: 'annotation-only ignores rules and tls',
      ing: { hosts: ['a.example.com'], tlsHosts: ['t.example.com'], annotations: { [`${ALPHA}hostname`]: 'x.example.com', [`${ALPHA}ingress-hostname-source`]: 'annotation-only' }, lb },
      want: ['A x.example.com -> 10.0.0.1'],
    },
    {
      name: 'wildcard host',
      ing: { hosts: ['*.apps.example.com'], lb },
      want: ['A *.apps.example.com -> 10.0.0.1'],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const d = desiredFromIngress(ingress(c.ing), c.opts);
      assert.deepEqual(summary(d.endpoints), c.want);
    });
  }
});

describe('target mapping', () => {
  const cases: { name: string; lb?: { ip?: string; hostname?: string }[]; target?: string; want: string[]; reason?: RegExp }[] = [
    { name: 'IPv4 -> A, sorted', lb: [{ ip: '10.0.0.2' }, { ip: '10.0.0.1' }], want: ['A www.example.com -> 10.0.0.1,10.0.0.2'] },
    { name: 'IPv6 -> AAAA, canonical form', lb: [{ ip: '2001:0DB8:0000::0001' }], want: ['AAAA www.example.com -> 2001:db8::1'] },
    { name: 'dual stack -> A and AAAA', lb: [{ ip: '10.0.0.1' }, { ip: 'fd00::1' }], want: ['A www.example.com -> 10.0.0.1', 'AAAA www.example.com -> fd00::1'] },
    { name: 'hostname -> CNAME', lb: [{ hostname: 'LB-1.elb.Amazonaws.com' }], want: ['CNAME www.example.com -> lb-1.elb.amazonaws.com'] },
    {
      name: 'two hostnames -> one CNAME target, with a reason',
      lb: [{ hostname: 'b.lb.example.net' }, { hostname: 'a.lb.example.net' }],
      want: ['CNAME www.example.com -> a.lb.example.net'],
      reason: /a CNAME holds one/,
    },
    {
      name: 'ip and hostname -> addresses only, with a reason',
      lb: [{ ip: '10.0.0.1', hostname: 'lb.example.net' }],
      want: ['A www.example.com -> 10.0.0.1'],
      reason: /CNAME cannot sit beside A\/AAAA/,
    },
    { name: 'target annotation overrides status', lb: [{ ip: '10.0.0.1' }], target: '192.0.2.7', want: ['A www.example.com -> 192.0.2.7'] },
    { name: 'target annotation: host name with trailing dot', target: 'edge.example.net.', want: ['CNAME www.example.com -> edge.example.net'] },
    { name: 'target annotation: list', target: '192.0.2.2, 192.0.2.1', want: ['A www.example.com -> 192.0.2.1,192.0.2.2'] },
    { name: 'no targets -> no record, with a reason', want: [], reason: /no targets for www\.example\.com: status\.loadBalancer\.ingress is empty/ },
    { name: 'empty status entries -> no record', lb: [{}], want: [], reason: /no targets/ },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const ann = c.target !== undefined ? { [`${GA}target`]: c.target } : undefined;
      const d = desiredFromIngress(ingress({ hosts: ['www.example.com'], lb: c.lb, annotations: ann }));
      assert.deepEqual(summary(d.endpoints), c.want);
      if (c.reason) assert.ok(d.reasons.some((r) => c.reason!.test(r)), `reasons: ${d.reasons.join(' | ')}`);
      else assert.deepEqual(d.reasons, []);
    });
  }
});

describe('endpoint fields from annotations', () => {
  test('owner, resource label, ttl, set identifier, provider-specific', () => {
    const d = desiredFromIngress(
      ingress({
        namespace: 'shop',
        name: 'front',
        created: '2024-01-01T00:00:00Z',
        hosts: ['www.example.com'],
        lb: [{ hostname: 'lb.example.net' }],
        annotations: {
          [`${GA}ttl`]: '1m30s',
          [`${GA}set-identifier`]: 'eu',
          [`${GA}aws-weight`]: '20',
          [`${ALPHA}alias`]: 'true',
        },
      }),
    );
    assert.equal(d.endpoints.length, 1);
    const e = d.endpoints[0]!;
    assert.equal(e.owner, 'ingress/shop/front');
    assert.deepEqual(e.labels, { resource: 'ingress/shop/front' });
    assert.equal(e.ttl, 90);
    assert.equal(e.setIdentifier, 'eu');
    assert.deepEqual(e.providerSpecific, { alias: 'true', 'aws/weight': '20' });
    assert.equal(e.source.metadata.creationTimestamp, '2024-01-01T00:00:00Z');
  });
  test('no ttl annotation -> ttl 0 (provider default), no provider-specific', () => {
    const e = desiredFromIngress(ingress({ hosts: ['www.example.com'], lb: [{ ip: '10.0.0.1' }] })).endpoints[0]!;
    assert.equal(e.ttl, 0);
    assert.equal(e.providerSpecific, undefined);
    assert.equal(e.setIdentifier, undefined);
  });
  test('controller annotation for another controller -> object ignored with a reason', () => {
    const d = desiredFromIngress(ingress({ hosts: ['www.example.com'], lb: [{ ip: '10.0.0.1' }], annotations: { [`${GA}controller`]: 'someone-else' } }));
    assert.deepEqual(d.endpoints, []);
    assert.match(d.reasons[0]!, /^ingress\/default\/web: annotation external-dns\.kubernetes\.io\/controller is "someone-else"/);
  });
  test('unknown ingress-hostname-source -> nothing published, reason says the allowed values', () => {
    const d = desiredFromIngress(ingress({ hosts: ['www.example.com'], lb: [{ ip: '10.0.0.1' }], annotations: { [`${GA}ingress-hostname-source`]: 'rules' } }));
    assert.deepEqual(d.endpoints, []);
    assert.match(d.reasons[0]!, /"defined-hosts-only" or "annotation-only"/);
  });
  test('an invalid hostname is reported, the others published', () => {
    const d = desiredFromIngress(ingress({ hosts: ['ok.example.com'], lb: [{ ip: '10.0.0.1' }], annotations: { [`${GA}hostname`]: 'bad_-.exa mple.com,a.*.example.com' } }));
    assert.deepEqual(summary(d.endpoints), ['A ok.example.com -> 10.0.0.1']);
    assert.equal(d.reasons.length, 2);
    assert.match(d.reasons.join('\n'), /has "\*" outside the first label/);
  });
});

describe('hostname validation', () => {
  const cases: [string, boolean][] = [
    ['www.example.com', true],
    ['*.example.com', true],
    ['_acme-challenge.example.com', true],
    ['a.*.example.com', false],
    ['-a.example.com', false],
    ['a..example.com', false],
    ['x'.repeat(64) + '.example.com', false],
    ['', false],
  ];
  for (const [name, ok] of cases) test(`${name.slice(0, 30)} -> ${ok ? 'valid' : 'invalid'}`, () => assert.equal(hostnameProblem(name) === undefined, ok));
});

describe('services', () => {
  const cases: { name: string; svc: Parameters<typeof service>[0]; want: string[]; reason?: RegExp }[] = [
    {
      name: 'LoadBalancer with hostname annotation and IP',
      svc: { annotations: { [`${GA}hostname`]: 'api.example.com' }, lb: [{ ip: '203.0.113.5' }] },
      want: ['A api.example.com -> 203.0.113.5'],
    },
    {
      name: 'LoadBalancer with alpha hostname annotation and hostname',
      svc: { annotations: { [`${ALPHA}hostname`]: 'api.example.com,api2.example.com' }, lb: [{ hostname: 'nlb.example.net' }] },
      want: ['CNAME api.example.com -> nlb.example.net', 'CNAME api2.example.com -> nlb.example.net'],
    },
    { name: 'LoadBalancer without hostname annotation -> nothing, silently', svc: { lb: [{ ip: '203.0.113.5' }] }, want: [] },
    {
      name: 'ClusterIP with hostname annotation -> nothing, with a reason',
      svc: { type: 'ClusterIP', annotations: { [`${GA}hostname`]: 'api.example.com' } },
      want: [],
      reason: /only Services of type LoadBalancer/,
    },
    {
      name: 'LoadBalancer not yet provisioned -> reason',
      svc: { annotations: { [`${GA}hostname`]: 'api.example.com' } },
      want: [],
      reason: /^service\/default\/api: no targets/,
    },
    {
      name: 'target annotation wins over status',
      svc: { annotations: { [`${GA}hostname`]: 'api.example.com', [`${GA}target`]: '198.51.100.1' }, lb: [{ ip: '203.0.113.5' }] },
      want: ['A api.example.com -> 198.51.100.1'],
    },
    {
      name: 'controller mismatch',
      svc: { annotations: { [`${GA}hostname`]: 'api.example.com', [`${GA}controller`]: 'x' }, lb: [{ ip: '203.0.113.5' }] },
      want: [],
      reason: /controller is "x"/,
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const d = desiredFromService(service(c.svc));
      assert.deepEqual(summary(d.endpoints), c.want);
      for (const e of d.endpoints) assert.equal(e.owner, 'service/default/api');
      if (c.reason) assert.ok(d.reasons.some((r) => c.reason!.test(r)), `reasons: ${d.reasons.join(' | ')}`);
      else assert.deepEqual(d.reasons, []);
    });
  }
});
