import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SetMap } from '../../../src/store/setmap.js';

test('SetMap: random adds and deletes agree with a Map of Sets (one member, several, back to one, none)', () => {
  const m = new SetMap<string>();
  const model = new Map<string, Set<string>>();
  let seed = 7;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
  for (let step = 0; step < 3000; step++) {
    const key = `k${rnd(6)}`;
    const value = `v${rnd(4)}`;
    if (rnd(3) < 2) {
      m.add(key, value);
      let s = model.get(key);
      if (!s) model.set(key, (s = new Set()));
      s.add(value);
    } else {
      m.delete(key, value);
      const s = model.get(key);
      s?.delete(value);
      if (s?.size === 0) model.delete(key);
    }
    for (let k = 0; k < 6; k++) {
      const want = [...(model.get(`k${k}`) ?? [])].sort();
      assert.deepEqual([...m.get(`k${k}`)].sort(), want, `step ${step}, k${k}`);
      assert.equal(m.count(`k${k}`), want.length);
    }
    assert.deepEqual([...m.keys()].sort(), [...model.keys()].sort());
  }
  m.clear();
  assert.deepEqual([...m.keys()], []);
  assert.deepEqual([...m.get('k0')], []);
});

test('SetMap: adding a member twice keeps one; deleting one it does not have changes nothing', () => {
  const m = new SetMap<string>();
  m.add('a', 'x');
  m.add('a', 'x');
  assert.equal(m.count('a'), 1);
  m.delete('a', 'y');
  m.delete('b', 'x');
  assert.deepEqual([...m.get('a')], ['x']);
  m.add('a', 'y');
  m.add('a', 'y');
  assert.equal(m.count('a'), 2);
});
