/** bench/lib/pairings.ts: which processes of two builds are loaded together, and the summary of their ratios. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pairings, ratio, summarize, type PairMeasurement } from '../../../bench/lib/pairings.js';

test('over k rounds every A process meets every B process exactly once, each process once per round', () => {
  for (const k of [1, 2, 3, 4, 5]) {
    const ps = pairings(k, k);
    assert.equal(ps.length, k * k);
    const met = new Set(ps.map((p) => `${p.a}/${p.b}`));
    assert.equal(met.size, k * k, `k=${k}: a pair met twice`);
    for (let r = 0; r < k; r++) {
      const round = ps.filter((p) => p.round === r);
      assert.deepEqual(round.map((p) => p.a).sort(), [...Array(k).keys()]);
      assert.deepEqual(round.map((p) => p.b).sort(), [...Array(k).keys()]);
    }
  }
  // More rounds than processes: the schedule repeats.
  assert.deepEqual(pairings(2, 3).map((p) => [p.a, p.b]), [[0, 0], [1, 1], [0, 1], [1, 0], [0, 0], [1, 1]]);
});

test('pairings refuses what cannot be scheduled', () => {
  assert.throws(() => pairings(0, 4), /positive integer/);
  assert.throws(() => pairings(2.5, 4), /positive integer/);
  assert.throws(() => pairings(4, 0), /positive integer/);
});

const m = (round: number, a: number, b: number, requestsA: number, cpuA: number, requestsB: number, cpuB: number): PairMeasurement => ({ round, a, b, requestsA, cpuA, requestsB, cpuB });

test('ratio: B requests per CPU second over A', () => {
  assert.equal(ratio(m(0, 0, 0, 100, 1, 110, 1)), 1.1);
  // Equal requests, B used less CPU: B is cheaper per request.
  assert.equal(ratio(m(0, 0, 0, 100, 2, 100, 1)), 2);
  assert.throws(() => ratio(m(3, 1, 2, 100, 0, 100, 1)), /pairing A1\/B2 of round 3 measured nothing/);
  assert.throws(() => ratio(m(0, 0, 0, 0, 1, 100, 1)), /measured nothing/);
});

test('summarize: mean, median, extremes and the per-process means that show each process offset', () => {
  // Two processes per build, two rounds; B1 is 4% faster than everything else.
  const ms = [m(0, 0, 0, 100, 1, 100, 1), m(0, 1, 1, 100, 1, 104, 1), m(1, 0, 1, 100, 1, 104, 1), m(1, 1, 0, 100, 1, 100, 1)];
  const s = summarize(ms);
  assert.equal(s.n, 4);
  assert.ok(Math.abs(s.mean - 1.02) < 1e-12);
  // Nearest-rank, as everywhere in bench/lib/stats.ts: the lower of the two middle values.
  assert.equal(s.median, 1);
  assert.equal(s.min, 1);
  assert.equal(s.max, 1.04);
  assert.deepEqual(s.perB.map((x) => +x.toFixed(6)), [1, 1.04]);
  assert.deepEqual(s.perA.map((x) => +x.toFixed(6)), [1.02, 1.02]);
  // The B processes' means 1 and 1.04 (sample variance 0.0008, over 2), the A processes' alike.
  assert.ok(Math.abs(s.spread - Math.sqrt(0.0008 / 2)) < 1e-9, String(s.spread));
  // Identical measurements everywhere: no spread.
  const same = summarize([m(0, 0, 0, 100, 1, 100, 1), m(0, 1, 1, 200, 2, 200, 2)]);
  assert.equal(same.mean, 1);
  assert.equal(same.spread, 0);
  assert.throws(() => summarize([]), /no pairings/);
});
