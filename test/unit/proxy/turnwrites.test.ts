/** Writes held until the end of the event-loop turn (src/proxy/turnwrites.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { atTurnEnd, type TurnWriter } from '../../../src/proxy/turnwrites.js';

class Writer implements TurnWriter {
  constructor(
    readonly name: string,
    readonly log: string[],
  ) {}
  flushTurn(): void {
    this.log.push(this.name);
  }
}

test('turn writes: nothing is written during the turn; at its end every writer once, in the order queued', async () => {
  const log: string[] = [];
  const [a, b, c] = ['a', 'b', 'c'].map((n) => new Writer(n, log));
  atTurnEnd(a!);
  atTurnEnd(b!);
  // Callbacks of the same turn (timers and I/O already due, ticks, microtasks) still add to the batch.
  await Promise.resolve();
  atTurnEnd(c!);
  assert.deepEqual(log, []);
  await nextTurn();
  assert.deepEqual(log, ['a', 'b', 'c']);
  await nextTurn();
  assert.deepEqual(log, ['a', 'b', 'c'], 'a flushed batch is not flushed again');
});

test('turn writes: a writer queued while the batch is flushed goes out at the end of the next turn', async () => {
  const log: string[] = [];
  const late = new Writer('late', log);
  atTurnEnd({ flushTurn: () => (log.push('first'), atTurnEnd(late)) });
  await nextTurn();
  assert.deepEqual(log, ['first']);
  await nextTurn();
  assert.deepEqual(log, ['first', 'late']);
});
