import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TypedObject } from '../../../src/api/meta.js';
import type { PathType } from '../../../src/api/types.js';
import { Store } from '../../../src/store/store.js';
import { RouteCompiler, registerRouteIndexes } from '../../../src/controllers/routes/compiler.js';
import { normalizeHost, pathMatches, hostMatches } from '../../../src/controllers/routes/paths.js';
import { ingress, ingressClass, rule, service, slice } from './fixtures.js';

function compile(objects: TypedObject[], ingressClassName = 'gangplank') {
  const store = new Store();
  registerRouteIndexes(store);
  store.replaceSource('t', objects.map((object) => ({ object })));
  store.flush();
  const c = new RouteCompiler(store, { ingressClass: ingressClassName });
  return { table: c.rebuild(), compiler: c, store };
}

const cls = { ingressClassName: 'gangplank' };

// Every example of the path-matching table in the Kubernetes Ingress documentation, and more.
const pathCases: [string, [PathType, string][], string, string | null][] = [
  ['Prefix / matches all', [['Prefix', '/']], '/anything/at/all', '/'],
  ['Exact /foo matches /foo', [['Exact', '/foo']], '/foo', '/foo'],
  ['Exact /foo does not match /bar', [['Exact', '/foo']], '/bar', null],
  ['Exact /foo does not match /foo/', [['Exact', '/foo']], '/foo/', null],
  ['Exact /foo/ does not match /foo', [['Exact', '/foo/']], '/foo', null],
  ['Exact is case-sensitive', [['Exact', '/Foo']], '/foo', null],
  ['Prefix /foo matches /foo', [['Prefix', '/foo']], '/foo', '/foo'],
  ['Prefix /foo matches /foo/', [['Prefix', '/foo']], '/foo/', '/foo'],
  ['Prefix /foo/ matches /foo', [['Prefix', '/foo/']], '/foo', '/foo/'],
  ['Prefix /foo/ matches /foo/', [['Prefix', '/foo/']], '/foo/', '/foo/'],
  ['Prefix /aaa/bb does not match /aaa/bbb', [['Prefix', '/aaa/bb']], '/aaa/bbb', null],
  ['Prefix /aaa/bbb matches /aaa/bbb', [['Prefix', '/aaa/bbb']], '/aaa/bbb', '/aaa/bbb'],
  ['Prefix /aaa/bbb/ matches /aaa/bbb (trailing slash ignored)', [['Prefix', '/aaa/bbb/']], '/aaa/bbb', '/aaa/bbb/'],
  ['Prefix /aaa/bbb matches /aaa/bbb/ (matches trailing slash)', [['Prefix', '/aaa/bbb']], '/aaa/bbb/', '/aaa/bbb'],
  ['Prefix /aaa/bbb matches /aaa/bbb/ccc (subpath)', [['Prefix', '/aaa/bbb']], '/aaa/bbb/ccc', '/aaa/bbb'],
  ['Prefix /aaa/bbb does not match /aaa/bbbxyz', [['Prefix', '/aaa/bbb']], '/aaa/bbbxyz', null],
  ['Prefix /, /aaa: /aaa/ccc matches /aaa', [['Prefix', '/'], ['Prefix', '/aaa']], '/aaa/ccc', '/aaa'],
  ['Prefix /, /aaa, /aaa/bbb: /aaa/bbb matches /aaa/bbb', [['Prefix', '/'], ['Prefix', '/aaa'], ['Prefix', '/aaa/bbb']], '/aaa/bbb', '/aaa/bbb'],
  ['Prefix /, /aaa, /aaa/bbb: /ccc matches /', [['Prefix', '/'], ['Prefix', '/aaa'], ['Prefix', '/aaa/bbb']], '/ccc', '/'],
  ['Prefix /aaa: /ccc does not match', [['Prefix', '/aaa']], '/ccc', null],
  ['Mixed: Exact beats Prefix for /foo', [['Prefix', '/foo'], ['Exact', '/foo']], '/foo', 'Exact:/foo'],
  ['Mixed: Prefix serves /foo/bar', [['Prefix', '/foo'], ['Exact', '/foo']], '/foo/bar', 'Prefix:/foo'],
  ['ImplementationSpecific behaves as Prefix', [['ImplementationSpecific', '/api']], '/api/v1', '/api'],
  ['ImplementationSpecific is element-wise', [['ImplementationSpecific', '/api']], '/apiv1', null],
  ['longest prefix wins regardless of order', [['Prefix', '/a/b'], ['Prefix', '/a']], '/a/b/c', '/a/b'],
  ['double slash is an empty element', [['Prefix', '/a']], '/a//b', '/a'],
  ['Prefix /a/ does not match /ab', [['Prefix', '/a/']], '/ab', null],
  ['Exact with query-less deep path', [['Exact', '/a/b/c']], '/a/b/c', '/a/b/c'],
];

for (const [name, rules, request, want] of pathCases) {
  test(`path: ${name}`, () => {
    const ing = ingress('x', { ...cls, rules: [rule('h.example.com', rules.map(([t, p]) => [p, t, `svc-${t}-${p.replace(/\//g, '_')}`]))] });
    const { table } = compile([ing]);
    const r = table.match('h.example.com', request);
    if (want === null) return assert.equal(r, undefined, `expected no match, got ${r?.id}`);
    assert.ok(r, 'expected a match');
    const [t, p] = want.includes(':') ? want.split(':') : [undefined, want];
    assert.equal(r.path, p);
    if (t) assert.equal(r.pathType, t);
    // The reference predicate agrees with the indexed table.
    assert.ok(pathMatches(r.pathType, r.path, request));
  });
}

const hostCases: [string, string | undefined, string, boolean][] = [
  ['exact host', 'foo.bar.com', 'foo.bar.com', true],
  ['host is case-insensitive', 'foo.bar.com', 'FOO.Bar.COM', true],
  ['port is ignored', 'foo.bar.com', 'foo.bar.com:8080', true],
  ['trailing dot is ignored', 'foo.bar.com', 'foo.bar.com.', true],
  ['other host does not match', 'foo.bar.com', 'bar.foo.com', false],
  ['wildcard matches one label', '*.foo.com', 'bar.foo.com', true],
  ['wildcard does not match two labels', '*.foo.com', 'baz.bar.foo.com', false],
  ['wildcard does not match the bare domain', '*.foo.com', 'foo.com', false],
  ['no host matches every host', undefined, 'anything.example.org', true],
  ['no host matches an IP host', undefined, '127.0.0.1:8080', true],
];
for (const [name, ruleHost, reqHost, want] of hostCases) {
  test(`host: ${name}`, () => {
    const { table } = compile([ingress('x', { ...cls, rules: [rule(ruleHost, [['/', 'Prefix', 'svc']])] })]);
    assert.equal(!!table.match(normalizeHost(reqHost), '/'), want);
    assert.equal(hostMatches(ruleHost ?? '', normalizeHost(reqHost)), want);
  });
}

test('host precedence: exact beats wildcard beats host-less', () => {
  const { table } = compile([
    ingress('any', { ...cls, rules: [rule(undefined, [['/', 'Prefix', 'hostless']])] }),
    ingress('wild', { ...cls, rules: [rule('*.example.com', [['/', 'Prefix', 'wildcard']])] }),
    ingress('exact', { ...cls, rules: [rule('a.example.com', [['/', 'Prefix', 'exact']])] }),
  ]);
  assert.equal(table.match('a.example.com', '/')?.backend.service, 'exact');
  assert.equal(table.match('b.example.com', '/')?.backend.service, 'wildcard');
  assert.equal(table.match('example.com', '/')?.backend.service, 'hostless');
  assert.equal(table.match('other.org', '/x')?.backend.service, 'hostless');
});

test('root hosts: exactly the exact hosts whose only route is Prefix /, numbered, each giving what match gives for any path', () => {
  const { table } = compile([
    ingress('one', { ...cls, rules: [rule('root.example.com', [['/', 'Prefix', 'root']]), rule('two.example.com', [['/', 'Prefix', 'a'], ['/api', 'Prefix', 'b']])] }),
    ingress('other', { ...cls, rules: [rule('exact.example.com', [['/', 'Exact', 'e']]), rule('*.example.com', [['/', 'Prefix', 'w']]), rule(undefined, [['/', 'Prefix', 'any']])] }),
  ]);
  assert.equal(table.roots.size, 1);
  const i = table.roots.indexOf('root.example.com');
  assert.equal(i, 0);
  for (const path of ['/', '/x/y', '/api']) assert.equal(table.roots.valueAt(i), table.match('root.example.com', path));
  for (const h of ['two.example.com', 'exact.example.com', '*.example.com', 'x.example.com', '', 'ROOT.example.com']) assert.equal(table.roots.indexOf(h), -1, h);
  // A root host keeps its route as its root only (no maps of its own); routes() still lists it.
  assert.deepEqual(
    table.routes().map((r) => r.id).sort(),
    ['*.example.com|Prefix|/', '*|Prefix|/', 'exact.example.com|Exact|/', 'root.example.com|Prefix|/', 'two.example.com|Prefix|/', 'two.example.com|Prefix|/api'].sort(),
  );
});

test('a host whose paths do not match falls through to the wildcard, then host-less rules, then the default backend', () => {
  const { table } = compile([
    ingress('exact', { ...cls, rules: [rule('a.example.com', [['/api', 'Prefix', 'exact']])] }),
    ingress('wild', { ...cls, rules: [rule('*.example.com', [['/web', 'Prefix', 'wildcard']])] }),
    ingress('def', { ...cls, defaultBackend: { service: { name: 'fallback', port: { number: 80 } } } }),
  ]);
  assert.equal(table.match('a.example.com', '/api/x')?.backend.service, 'exact');
  assert.equal(table.match('a.example.com', '/web')?.backend.service, 'wildcard');
  const d = table.match('a.example.com', '/nothing');
  assert.equal(d?.backend.service, 'fallback');
  assert.equal(d?.isDefault, true);
});

test('no rule and no default backend: no match (404)', () => {
  const { table } = compile([ingress('x', { ...cls, rules: [rule('a.example.com', [['/', 'Prefix', 'svc']])] })]);
  assert.equal(table.match('b.example.com', '/'), undefined);
});

test('rules of several Ingresses for one host merge; identical rules: the oldest wins and the loser is reported', () => {
  const { table, compiler } = compile([
    ingress('young', { ...cls, rules: [rule('m.example.com', [['/a', 'Prefix', 'young-a'], ['/b', 'Prefix', 'young-b']])] }, { creationTimestamp: '2024-02-01T00:00:00Z' }),
    ingress('old', { ...cls, rules: [rule('m.example.com', [['/a', 'Prefix', 'old-a']])] }, { creationTimestamp: '2024-01-01T00:00:00Z' }),
  ]);
  assert.equal(table.match('m.example.com', '/a')?.backend.service, 'old-a');
  assert.equal(table.match('m.example.com', '/b')?.backend.service, 'young-b');
  const conflicts = compiler.conflicts();
  assert.equal(conflicts.length, 1);
  assert.equal(conflicts[0]!.winner, 'default/old');
  assert.equal(conflicts[0]!.loser, 'default/young');
  assert.match(conflicts[0]!.message, /older Ingress default\/old/);
});

test('same creationTimestamp: namespace/name decides', () => {
  const ts = { creationTimestamp: '2024-01-01T00:00:00Z' };
  const { table } = compile([
    ingress('b', { ...cls, rules: [rule('t.example.com', [['/', 'Prefix', 'svc-b']])] }, ts),
    ingress('a', { ...cls, rules: [rule('t.example.com', [['/', 'Prefix', 'svc-a']])] }, ts),
  ]);
  assert.equal(table.match('t.example.com', '/')?.backend.service, 'svc-a');
});

const classCases: [string, object[], Partial<ReturnType<typeof ingress>['spec']>, Record<string, string> | undefined, boolean][] = [
  ['ingressClassName names --ingress-class', [], { ingressClassName: 'gangplank' }, undefined, true],
  ['ingressClassName names our IngressClass', [ingressClass('edge', 'gangplank.dev/ingress-controller')], { ingressClassName: 'edge' }, undefined, true],
  ['ingressClassName names another controller', [ingressClass('nginx', 'k8s.io/ingress-nginx')], { ingressClassName: 'nginx' }, undefined, false],
  ['ingressClassName names an unknown class', [], { ingressClassName: 'other' }, undefined, false],
  ['no class, our IngressClass is default', [ingressClass('edge', 'gangplank.dev/ingress-controller', true)], {}, undefined, true],
  ['no class, another default', [ingressClass('nginx', 'k8s.io/ingress-nginx', true)], {}, undefined, false],
  ['no class, no default', [ingressClass('edge', 'gangplank.dev/ingress-controller')], {}, undefined, false],
  ['legacy annotation names our class', [], {}, { 'kubernetes.io/ingress.class': 'gangplank' }, true],
  ['legacy annotation names another class', [], {}, { 'kubernetes.io/ingress.class': 'nginx' }, false],
  ['legacy annotation wins over ingressClassName', [], { ingressClassName: 'gangplank' }, { 'kubernetes.io/ingress.class': 'nginx' }, false],
  ['--ingress-class taken by another controller', [ingressClass('gangplank', 'k8s.io/ingress-nginx')], { ingressClassName: 'gangplank' }, undefined, false],
];
for (const [name, classes, spec, annotations, want] of classCases) {
  test(`class: ${name}`, () => {
    const ing = ingress('x', { ...spec, rules: [rule('c.example.com', [['/', 'Prefix', 'svc']])] }, { annotations });
    const { table } = compile([...(classes as TypedObject[]), ing]);
    assert.equal(!!table.match('c.example.com', '/'), want);
  });
}

test('backends: ready endpoints by port name, missing service and port reported', () => {
  const { table } = compile([
    ingress('x', { ...cls, rules: [rule('b.example.com', [['/ok', 'Prefix', 'web', 80], ['/gone', 'Prefix', 'missing', 80], ['/badport', 'Prefix', 'web', 81]])] }),
    service('web', [{ name: 'http', port: 80, targetPort: 8080 }]),
    slice('web-1', 'web', [['10.0.0.1', true], ['10.0.0.2', false]], [{ name: 'http', port: 8080 }]),
    slice('web-2', 'web', [['10.0.0.3', true]], [{ name: 'http', port: 8080 }]),
    slice('other', 'unrelated', [['10.9.9.9', true]], [{ name: 'http', port: 8080 }]),
  ]);
  const ok = table.match('b.example.com', '/ok')!;
  assert.deepEqual(ok.backend.endpoints.map((e) => e.origin), ['http://10.0.0.1:8080', 'http://10.0.0.3:8080']);
  assert.deepEqual(ok.backend.unready?.map((e) => e.origin), ['http://10.0.0.2:8080']);
  assert.equal(ok.backend.error, undefined);
  assert.match(table.match('b.example.com', '/gone')!.backend.error!, /service default\/missing not found/);
  assert.match(table.match('b.example.com', '/badport')!.backend.error!, /has no port 81/);
});

test('incremental: changing one Ingress rebuilds its hosts only and keeps other host objects', () => {
  const objs: TypedObject[] = [service('web')];
  for (let i = 0; i < 50; i++) objs.push(ingress(`i${i}`, { ...cls, rules: [rule(`h${i}.example.com`, [['/', 'Prefix', 'web']])] }));
  const { compiler, store } = compile(objs);
  const before = compiler.current();
  let changes: readonly import('../../../src/store/store.js').Change[] = [];
  store.subscribe((c) => (changes = c));
  store.upsert('t2', ingress('i7', { ...cls, rules: [rule('h7.example.com', [['/', 'Prefix', 'web'], ['/new', 'Exact', 'web']])] }));
  // t2 defines a duplicate of i7: the first definition (source t) stays live, so nothing changes.
  store.flush();
  assert.equal(changes.length, 0);
  store.replaceSource('t', objs.filter((o) => o.metadata.name !== 'i7').map((object) => ({ object })));
  store.flush();
  const after = compiler.apply(changes);
  assert.notEqual(after, before);
  assert.equal(after.version, before.version + 1);
  assert.ok(after.match('h7.example.com', '/new'), 'the new definition from t2 is live');
  assert.equal(after.exact.get('h8.example.com'), before.exact.get('h8.example.com'), 'untouched hosts are shared');
});

test('incremental: the root host index of each new table holds exactly the root hosts of its exact hosts (changed, not rebuilt)', () => {
  const objs: TypedObject[] = [service('web')];
  for (let i = 0; i < 100; i++) objs.push(ingress(`i${i}`, { ...cls, rules: [rule(`h${i}.example.com`, [['/', 'Prefix', 'web']])] }));
  const { compiler, store } = compile(objs);
  let changes: readonly import('../../../src/store/store.js').Change[] = [];
  store.subscribe((c) => (changes = c));
  const rootsOf = (t: ReturnType<typeof compiler.current>) => {
    const want = new Map<string, unknown>();
    for (const [host, h] of t.exact) if (h.root !== undefined) want.set(host, h.root);
    return want;
  };
  const steps: TypedObject[] = [
    ingress('i3', { ...cls, rules: [rule('h3.example.com', [['/', 'Prefix', 'web'], ['/x', 'Exact', 'web']])] }), // no longer a root host
    ingress('i4', { ...cls, rules: [rule('moved-4.example.com', [['/', 'Prefix', 'web']])] }), // a root host renamed
    ingress('i200', { ...cls, rules: [rule('new-200.example.com', [['/', 'Prefix', 'web']])] }), // a new root host
    ingress('i3', { ...cls, rules: [rule('h3.example.com', [['/', 'Prefix', 'web']])] }), // a root host again
  ];
  for (const [n, o] of steps.entries()) {
    const before = compiler.current();
    store.upsert('t', o);
    store.flush();
    const t = compiler.apply(changes);
    const want = rootsOf(t);
    assert.equal(t.roots.size, want.size, `step ${n}: size`);
    for (const [host, r] of want) assert.equal(t.roots.get(host), r, `step ${n}: ${host}`);
    for (const host of ['h3.example.com', 'h4.example.com', 'moved-4.example.com', 'new-200.example.com']) assert.equal(t.roots.get(host), want.get(host), `step ${n}: ${host}`);
    assert.equal(t.roots.slots.length, before.roots.slots.length, `step ${n}: the same slot count`);
    assert.notEqual(t.roots, before.roots);
    assert.equal(before.roots.size, rootsOf(before).size, `step ${n}: the previous table's index is unchanged`);
  }
});

test('endpoint changes reach the table', () => {
  const { compiler, store } = compile([service('web'), ingress('x', { ...cls, rules: [rule('e.example.com', [['/', 'Prefix', 'web']])] })]);
  assert.equal(compiler.current().match('e.example.com', '/')!.backend.endpoints.length, 0);
  let changes: readonly import('../../../src/store/store.js').Change[] = [];
  store.subscribe((c) => (changes = c));
  store.upsert('kube', slice('web-abc', 'web', [['10.1.1.1', true]], [{ port: 8080 }]));
  store.flush();
  const t = compiler.apply(changes);
  assert.deepEqual(t.match('e.example.com', '/')!.backend.endpoints.map((e) => e.origin), ['http://10.1.1.1:8080']);
});

test('TLS: spec.tls hosts get TLS and a redirect; annotations turn the redirect off; secrets are bound per host', () => {
  const { table, compiler } = compile([
    ingress('secure', { ...cls, tls: [{ hosts: ['s.example.com'], secretName: 's-cert' }], rules: [rule('s.example.com', [['/', 'Prefix', 'web']]), rule('plain.example.com', [['/', 'Prefix', 'web']])] }, { creationTimestamp: '2024-01-01T00:00:00Z' }),
    ingress('noredirect', { ...cls, tls: [{ secretName: 'n-cert' }], rules: [rule('n.example.com', [['/', 'Prefix', 'web']])] }, { annotations: { 'nginx.ingress.kubernetes.io/ssl-redirect': 'false' } }),
    ingress('routertls', { ...cls, rules: [rule('r.example.com', [['/', 'Prefix', 'web']])] }, { annotations: { 'traefik.ingress.kubernetes.io/router.tls': 'true', 'gangplank.dev/ssl-redirect': 'false' } }),
    ingress('rival', { ...cls, tls: [{ hosts: ['s.example.com'], secretName: 'other' }], rules: [rule('s.example.com', [['/x', 'Prefix', 'web']])] }, { creationTimestamp: '2024-06-01T00:00:00Z' }),
  ]);
  const s = table.match('s.example.com', '/')!;
  assert.equal(s.tls, true);
  assert.equal(s.sslRedirect, true);
  assert.equal(table.match('plain.example.com', '/')!.tls, undefined);
  const n = table.match('n.example.com', '/')!;
  assert.equal(n.tls, true, 'a tls entry without hosts covers the rule hosts');
  assert.equal(n.sslRedirect, false);
  assert.equal(table.match('r.example.com', '/')!.tls, true);
  assert.equal(table.tls?.get('s.example.com')?.secret, 'default/s-cert', 'the oldest Ingress binds the certificate');
  assert.equal(table.tls?.get('n.example.com')?.secret, 'default/n-cert');
  assert.ok(compiler.conflicts().some((c) => c.host === 's.example.com' && c.loser === 'default/rival' && /TLS/.test(c.message)));
});

test('traefik router.entrypoints and router.priority', () => {
  const { table } = compile([
    ingress('low', { ...cls, rules: [rule('p.example.com', [['/api/v1', 'Prefix', 'longest']])] }),
    ingress('high', { ...cls, rules: [rule('p.example.com', [['/api', 'Prefix', 'prioritized']])] }, { annotations: { 'traefik.ingress.kubernetes.io/router.priority': '100', 'traefik.ingress.kubernetes.io/router.entrypoints': 'websecure' } }),
  ]);
  const r = table.match('p.example.com', '/api/v1/x')!;
  assert.equal(r.backend.service, 'prioritized', 'a higher priority beats the longer path');
  assert.deepEqual(r.entrypoints, ['websecure']);
  assert.equal(table.match('p.example.com', '/other'), undefined);
});
