import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveConflicts } from '../../../src/controllers/dns/conflicts.js';
import type { DnsEndpoint } from '../../../src/controllers/dns/endpoints.js';
import type { RecordType } from '../../../src/controllers/dns/types.js';

function ep(owner: string, created: string | undefined, name: string, type: RecordType, targets: string[], extra: Partial<DnsEndpoint> = {}): DnsEndpoint {
  const [, ns = '', n = ''] = owner.split('/');
  const metadata = created ? { name: n, namespace: ns, creationTimestamp: created } : { name: n, namespace: ns };
  return { name, type, ttl: 0, targets, labels: { resource: owner }, owner, source: { metadata }, ...extra };
}

const OLD = '2024-01-01T00:00:00Z';
const NEW = '2024-06-01T00:00:00Z';

describe('conflicts between objects', () => {
  const cases: {
    name: string;
    eps: DnsEndpoint[];
    kept: string[];
    losers: string[];
    message?: RegExp;
  }[] = [
    {
      name: 'no conflict: different names',
      eps: [ep('ingress/a/x', OLD, 'a.example.com', 'A', ['1.1.1.1']), ep('ingress/b/y', NEW, 'b.example.com', 'A', ['2.2.2.2'])],
      kept: ['ingress/a/x', 'ingress/b/y'],
      losers: [],
    },
    {
      name: 'same name+type, different targets: oldest wins whatever the input order',
      eps: [ep('ingress/b/new', NEW, 'www.example.com', 'A', ['2.2.2.2']), ep('ingress/a/old', OLD, 'www.example.com', 'A', ['1.1.1.1'])],
      kept: ['ingress/a/old'],
      losers: ['ingress/b/new'],
      message: /ingress\/b\/new wants www\.example\.com A \[2\.2\.2\.2\] but ingress\/a\/old already claims it .*oldest object wins/,
    },
    {
      name: 'same timestamp: namespace/name decides',
      eps: [ep('ingress/zz/web', OLD, 'www.example.com', 'A', ['2.2.2.2']), ep('ingress/aa/web', OLD, 'www.example.com', 'A', ['1.1.1.1'])],
      kept: ['ingress/aa/web'],
      losers: ['ingress/zz/web'],
    },
    {
      name: 'an object without timestamp loses to one with',
      eps: [ep('ingress/aa/web', undefined, 'www.example.com', 'A', ['1.1.1.1']), ep('ingress/zz/web', NEW, 'www.example.com', 'A', ['2.2.2.2'])],
      kept: ['ingress/zz/web'],
      losers: ['ingress/aa/web'],
    },
    {
      name: 'identical claims are not conflicts (oldest kept)',
      eps: [ep('ingress/b/new', NEW, 'www.example.com', 'A', ['1.1.1.1']), ep('ingress/a/old', OLD, 'www.example.com', 'A', ['1.1.1.1'])],
      kept: ['ingress/a/old'],
      losers: [],
    },
    {
      name: 'same targets but different ttl is a conflict',
      eps: [ep('ingress/a/old', OLD, 'www.example.com', 'A', ['1.1.1.1']), ep('ingress/b/new', NEW, 'www.example.com', 'A', ['1.1.1.1'], { ttl: 60 })],
      kept: ['ingress/a/old'],
      losers: ['ingress/b/new'],
    },
    {
      name: 'different set identifiers do not conflict',
      eps: [
        ep('ingress/a/eu', OLD, 'www.example.com', 'A', ['1.1.1.1'], { setIdentifier: 'eu' }),
        ep('ingress/b/us', NEW, 'www.example.com', 'A', ['2.2.2.2'], { setIdentifier: 'us' }),
      ],
      kept: ['ingress/a/eu', 'ingress/b/us'],
      losers: [],
    },
    {
      name: 'A and AAAA at one name from two objects coexist',
      eps: [ep('ingress/a/v4', OLD, 'www.example.com', 'A', ['1.1.1.1']), ep('ingress/b/v6', NEW, 'www.example.com', 'AAAA', ['fd00::1'])],
      kept: ['ingress/a/v4', 'ingress/b/v6'],
      losers: [],
    },
    {
      name: 'CNAME beside A: the later CNAME loses',
      eps: [ep('ingress/b/new', NEW, 'www.example.com', 'CNAME', ['lb.example.net']), ep('ingress/a/old', OLD, 'www.example.com', 'A', ['1.1.1.1'])],
      kept: ['ingress/a/old'],
      losers: ['ingress/b/new'],
      message: /CNAME cannot share a name with other records/,
    },
    {
      name: 'CNAME beside A and AAAA: the later A and AAAA lose to an older CNAME',
      eps: [
        ep('ingress/a/old', OLD, 'www.example.com', 'CNAME', ['lb.example.net']),
        ep('ingress/b/new', NEW, 'www.example.com', 'A', ['1.1.1.1']),
        ep('service/c/newer', '2024-07-01T00:00:00Z', 'www.example.com', 'AAAA', ['fd00::1']),
      ],
      kept: ['ingress/a/old'],
      losers: ['ingress/b/new', 'service/c/newer'],
      message: /already publishes a CNAME at www\.example\.com/,
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const r = resolveConflicts(c.eps);
      assert.deepEqual(r.endpoints.map((e) => e.owner).sort(), c.kept);
      assert.deepEqual(r.conflicts.map((x) => x.loser.owner).sort(), c.losers);
      if (c.message) assert.ok(r.conflicts.every((x) => c.message!.test(x.message)), r.conflicts.map((x) => x.message).join('\n'));
    });
  }
  test('deterministic: any input order gives the same result', () => {
    const eps = [
      ep('ingress/a/one', OLD, 'x.example.com', 'A', ['1.1.1.1']),
      ep('ingress/b/two', NEW, 'x.example.com', 'A', ['2.2.2.2']),
      ep('ingress/c/three', NEW, 'y.example.com', 'CNAME', ['lb.example.net']),
      ep('ingress/d/four', OLD, 'y.example.com', 'AAAA', ['fd00::2']),
    ];
    const want = JSON.stringify(resolveConflicts(eps));
    assert.equal(JSON.stringify(resolveConflicts([...eps].reverse())), want);
    assert.equal(JSON.stringify(resolveConflicts([eps[2]!, eps[0]!, eps[3]!, eps[1]!])), want);
  });
});
