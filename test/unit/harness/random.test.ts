/**
 * The generated inputs of the differential tests are only as varied as their random source: every
 * value of rnd(n) must come up about equally often, for small n too (an LCG step done in doubles
 * once returned 0 for rnd(2) in 99.6% of calls, and those tests ran on a sliver of their inputs).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../../harness/random.js';

test('seededRandom: rnd(n) spreads evenly over [0, n) and repeats for the same seed', () => {
  for (const n of [2, 3, 4, 8, 10, 40, 256]) {
    const rnd = seededRandom(7);
    const counts = new Array<number>(n).fill(0);
    const draws = 2000 * n;
    for (let i = 0; i < draws; i++) {
      const v = rnd(n);
      assert.ok(Number.isInteger(v) && v >= 0 && v < n, `rnd(${n}) gave ${v}`);
      counts[v]!++;
    }
    for (const [v, c] of counts.entries()) assert.ok(c > 1700 && c < 2300, `rnd(${n}) gave ${v} ${c} times in ${draws}`);
  }
  const a = seededRandom(42);
  const b = seededRandom(42);
  const c = seededRandom(43);
  const seqA = Array.from({ length: 20 }, () => a(1000));
  assert.deepEqual(Array.from({ length: 20 }, () => b(1000)), seqA);
  assert.notDeepEqual(Array.from({ length: 20 }, () => c(1000)), seqA);
});
