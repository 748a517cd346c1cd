import { test } from 'node:test';
import assert from 'node:assert/strict';
import { olderFirst, sortOlderFirst, type ObjectMeta } from '../../../src/api/meta.js';

const o = (name: string, namespace: string | undefined, creationTimestamp?: string): { metadata: ObjectMeta } => ({
  metadata: { name, ...(namespace ? { namespace } : {}), ...(creationTimestamp ? { creationTimestamp } : {}) },
});

test('olderFirst: creation time first (any RFC 3339 form), then namespace/name; no timestamp sorts last', () => {
  const cases: [ReturnType<typeof o>, ReturnType<typeof o>, number][] = [
    [o('b', 'ns', '2024-01-01T00:00:00Z'), o('a', 'ns', '2024-01-02T00:00:00Z'), -1],
    // The same instant written two ways is a tie, settled by name.
    [o('b', 'ns', '2024-01-01T01:00:00+01:00'), o('a', 'ns', '2024-01-01T00:00:00Z'), 1],
    [o('a', 'ns', '2024-01-01T00:00:00.500Z'), o('b', 'ns', '2024-01-01T00:00:00Z'), 1],
    [o('a', 'ns'), o('z', 'ns', '2030-01-01T00:00:00Z'), 1],
    [o('a', 'x'), o('a', 'y'), -1],
    [o('same', 'ns'), o('same', 'ns'), 0],
  ];
  for (const [a, b, want] of cases) {
    assert.equal(Math.sign(olderFirst(a, b)), want, `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
    assert.equal(Math.sign(olderFirst(b, a)), -want || 0);
  }
});

test('sortOlderFirst orders as sorting with olderFirst does, stable, through a key function', () => {
  const stamps = ['2024-01-01T00:00:00Z', '2024-01-01T01:00:00+01:00', '2023-06-01T12:00:00Z', undefined, '2025-03-03T03:03:03.3Z'];
  const items = Array.from({ length: 200 }, (_, i) => ({ id: i, ing: o(`n${(i * 7) % 13}`, `ns${i % 3}`, stamps[(i * 5) % stamps.length]) }));
  const want = [...items].sort((a, b) => olderFirst(a.ing, b.ing)).map((x) => x.id);
  assert.deepEqual(
    sortOlderFirst(items, (x) => x.ing).map((x) => x.id),
    want,
  );
  // Iterables too (a Map's values), and the input is left as it was.
  const m = new Map(items.map((x) => [x.id, x]));
  assert.deepEqual(
    sortOlderFirst(m.values(), (x) => x.ing).map((x) => x.id),
    want,
  );
  assert.deepEqual(
    items.map((x) => x.id),
    Array.from({ length: 200 }, (_, i) => i),
  );
});
