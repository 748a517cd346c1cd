/** DeadlineSweeper (src/proxy/deadlines.ts): one interval timer that checks the deadlines of a live set. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeadlineSweeper, type Expiring } from '../../../src/proxy/deadlines.js';
import { waitFor } from '../../harness/wait.js';

class Item implements Expiring {
  expiredAt: number | undefined;
  constructor(public due: number) {}
  expireIfDue(now: number): void {
    if (this.expiredAt === undefined && now >= this.due) this.expiredAt = now;
  }
}

test('deadlines fire at most one tick late (an eighth of the shortest limit), never early', async () => {
  const items = new Set<Item>();
  const sweeper = new DeadlineSweeper(items, [400, 0, 1_000]); // 0: no limit, ignored: tick 50 ms
  try {
    const t0 = performance.now();
    const a = new Item(t0 + 100);
    const b = new Item(t0 + 300);
    items.add(a).add(b);
    sweeper.watch();
    await waitFor('both expired', () => a.expiredAt !== undefined && b.expiredAt !== undefined, { timeoutMs: 2_000, intervalMs: 5 });
    for (const it of [a, b]) {
      const late = it.expiredAt! - it.due;
      assert.ok(late >= 0, 'not before its deadline');
      assert.ok(late <= 50 + 150, `${Math.round(late)} ms late, tick 50 ms (slack for a busy machine)`);
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
    const it = new Item(performance.now() + 20);
    items.add(it);
    sweeper.watch();
    await waitFor('expired after watch()', () => it.expiredAt, { timeoutMs: 1_000, intervalMs: 5 });
  } finally {
    sweeper.stop();
  }
});
