/**
 * Comparing two builds with several processes each (bench/proxy/ab.ts): which processes are
 * loaded together, and what their measurements say.
 *
 * Two processes of one build differ by a few percent for their whole life (heap layout, JIT
 * decisions), so one pair of processes cannot tell two builds apart by less than that. With k
 * processes per build, round r pairs A_i with B_((i + r) mod k): over k rounds every A process
 * meets every B process once, and each process's own offset weighs equally on the result.
 */

import { median } from './stats.js';

/** One pairing: the index of the A process and of the B process loaded together. */
export interface Pairing {
  round: number;
  a: number;
  b: number;
}

/** `rounds` rounds of `k` pairings each (k >= 1, rounds >= 1). */
export function pairings(k: number, rounds: number): Pairing[] {
  if (!Number.isInteger(k) || k < 1) throw new Error(`processes per build must be a positive integer, got ${k}`);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`rounds must be a positive integer, got ${rounds}`);
  const out: Pairing[] = [];
  for (let round = 0; round < rounds; round++) for (let a = 0; a < k; a++) out.push({ round, a, b: (a + round) % k });
  return out;
}

/** What one pairing measured: each process's requests and CPU seconds over the same interval. */
export interface PairMeasurement extends Pairing {
  requestsA: number;
  cpuA: number;
  requestsB: number;
  cpuB: number;
}

/** B's requests per CPU second over A's, for one pairing. */
export function ratio(m: PairMeasurement): number {
  if (!(m.cpuA > 0 && m.cpuB > 0 && m.requestsA > 0)) throw new Error(`pairing A${m.a}/B${m.b} of round ${m.round} measured nothing (requests ${m.requestsA}/${m.requestsB}, CPU ${m.cpuA}/${m.cpuB} s)`);
  return m.requestsB / m.cpuB / (m.requestsA / m.cpuA);
}

export interface Summary {
  n: number;
  mean: number;
  median: number;
  min: number;
  max: number;
  /**
   * The standard error of the mean as the processes make it: a process keeps its offset in every
   * pairing, so the mean varies with which processes happened to be started, not with the number
   * of pairings. From the spread of the per-process means: sqrt(var(perA)/kA + var(perB)/kB)
   * (sample variances; 0 with one process per build, where it cannot be known).
   */
  spread: number;
  /** The mean ratio of each A process's pairings, and each B process's. */
  perA: number[];
  perB: number[];
}

export function summarize(ms: readonly PairMeasurement[]): Summary {
  if (ms.length === 0) throw new Error('no pairings measured');
  const rs = ms.map(ratio);
  const mean = rs.reduce((s, x) => s + x, 0) / rs.length;
  const by = (side: 'a' | 'b') => {
    const k = Math.max(...ms.map((m) => m[side])) + 1;
    const sum = new Array<number>(k).fill(0);
    const cnt = new Array<number>(k).fill(0);
    ms.forEach((m, i) => {
      sum[m[side]]! += rs[i]!;
      cnt[m[side]]!++;
    });
    return sum.map((s, i) => (cnt[i] ? s / cnt[i]! : NaN));
  };
  const perA = by('a');
  const perB = by('b');
  const spread = Math.sqrt(sampleVariance(perA) / perA.length + sampleVariance(perB) / perB.length);
  return { n: rs.length, mean, median: median(rs), min: Math.min(...rs), max: Math.max(...rs), spread, perA, perB };
}

/** The sample variance (n - 1), 0 for fewer than two values. */
function sampleVariance(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = xs.reduce((s, x) => s + x, 0) / xs.length;
  return xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1);
}
