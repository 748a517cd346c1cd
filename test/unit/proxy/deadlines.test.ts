/** DeadlineSweeper (src/proxy/deadlines.ts): one interval timer that checks the deadlines of a live set, counted in sweeps. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeadlineSweeper, type Expiring } from '../../../src/proxy/deadlines.js';
import { waitFor } from '../../harness/wait.js';

/** A limit of `ms` armed now; remembers when it fired (wall clock). */
class Item implements Expiring {
  readonly armedAt = performance.now();
  readonly due: number;
  expiredAfter: number | undefined;
  constructor(
    sweeper: DeadlineSweeper,
    readonly ms: number,
  ) {
    this.due = sweeper.due(ms);
  }
  expireIfDue(sweep: number): void {
    if (this.expiredAfter === undefined && sweep >= this.due) this.expiredAfter = performance.now() - this.armedAt;
  }
}

test('deadlines fire never early and at most two ticks late (a tick: an eighth of the shortest limit)', async () => {
  const items = new Set<Item>();
  const sweeper = new DeadlineSweeper(items, [400, 0, 1_000]); // 0: no limit, ignored: tick 50 ms
  assert.equal(sweeper.tickMs, 50);
  try {
    const a = new Item(sweeper, 100);
    items.add(a);
    sweeper.watch();
    // Armed at different points between sweeps, while the sweeps run.
    await new Promise((r) => setTimeout(r, 70));
    const b = new Item(sweeper, 300);
    const c = new Item(sweeper, 49);
    items.add(b).add(c);
    await waitFor('all expired', () => [a, b, c].every((it) => it.expiredAfter !== undefined), { timeoutMs: 3_000, intervalMs: 5 });
    for (const it of [a, b, c]) {
      const late = it.expiredAfter! - it.ms;
      assert.ok(late >= -1, `a ${it.ms} ms limit fired ${Math.round(-late)} ms early`);
      assert.ok(late <= 2 * 50 + 150, `a ${it.ms} ms limit fired ${Math.round(late)} ms late, two ticks are 100 ms (slack for a busy machine)`);
    }
  } finally {
    sweeper.stop();
  }
});

test('the sweeps stop by themselves when the set is empty, and start again on watch()', async () => {
  const items = new Set<Item>();
  const sweeper = new DeadlineSweeper(items, [80]); // tick 10 ms
  try {
    sweeper.watch();
    await new Promise((r) => setTimeout(r, 40));
    assert.equal((sweeper as unknown as { timer: unknown }).timer, undefined, 'stopped after a sweep of an empty set');
    const it = new Item(sweeper, 20);
    items.add(it);
    sweeper.watch();
    await waitFor('expired after watch()', () => it.expiredAfter, { timeoutMs: 1_000, intervalMs: 5 });
    assert.ok(it.expiredAfter! >= 19, `not early after a restart (${it.expiredAfter} ms)`);
  } finally {
    sweeper.stop();
  }
});
