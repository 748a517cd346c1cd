import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compact } from '../../../src/api/compact.js';
import { parseObject } from '../../../src/api/validate.js';
import { parseManifest } from '../../../src/sources/parse.js';

test('compact: a copy with the same content (arrays, nested objects, strings, numbers, booleans, null)', () => {
  const o = { a: [1, 'two', { three: [true, null] }], b: { c: 'x'.repeat(40) + String(Math.random()) }, d: 0, e: -5.5 };
  const c = compact(o);
  assert.notEqual(c, o);
  assert.notEqual(c.a, o.a);
  assert.deepEqual(c, o);
});

test('compact: an object holding a non-finite number is kept as it is (JSON would make it null)', () => {
  for (const bad of [Infinity, -Infinity, NaN]) {
    const o = { spec: { weights: [1, bad] } };
    assert.equal(compact(o), o);
  }
});

test('compact: keys with undefined values are left out, as if absent', () => {
  const c = compact({ a: 1, b: undefined as unknown });
  assert.deepEqual(Object.keys(c), ['a']);
});

test('validated objects are compact copies: from YAML, every field as the validator gave it', () => {
  const text = [
    'apiVersion: networking.k8s.io/v1',
    'kind: Ingress',
    'metadata: {name: web, namespace: shop, annotations: {a: "1"}}',
    'spec:',
    '  ingressClassName: gangplank',
    '  rules:',
    '  - host: Web.Example.com',
    '    http:',
    '      paths:',
    '      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}',
    '      - {path: /api, pathType: Exact, backend: {service: {name: api, port: {name: http}}}}',
  ].join('\n');
  const p = parseManifest('x.yaml', text);
  assert.equal(p.objects.length, 1);
  const obj = p.objects[0]!.object as unknown as { spec: { rules: { host: string; http: { paths: unknown[] } }[] } };
  assert.equal(obj.spec.rules[0]!.host, 'web.example.com', 'the validator lowercases hosts; the copy keeps it');
  assert.equal(obj.spec.rules[0]!.http.paths.length, 2);
  const direct = parseObject(JSON.parse(JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { ports: [{ port: 80 }] } })));
  assert.ok(direct.ok);
  if (direct.ok) assert.equal(direct.object.metadata.namespace, 'default');
});
