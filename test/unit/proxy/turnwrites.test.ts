/** Writes held until the end of the event-loop turn (src/proxy/turnwrites.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { atTurnEnd, beforeTurnWrites, TurnBatch, type TurnWriter } from '../../../src/proxy/turnwrites.js';

class Writer implements TurnWriter {
  constructor(
    readonly name: string,
    readonly log: string[],
  ) {}
  flushTurn(): void {
    this.log.push(this.name);
  }
}

/** Runs `fn` with uncaught exceptions collected (instead of failing the test run); returns them. */
async function collectingUncaught(fn: () => Promise<void>): Promise<unknown[]> {
  const errors: unknown[] = [];
  const onError = (err: unknown): void => void errors.push(err);
  const listeners = process.listeners('uncaughtException');
  process.removeAllListeners('uncaughtException');
  process.on('uncaughtException', onError);
  try {
    await fn();
  } finally {
    process.removeListener('uncaughtException', onError);
    for (const l of listeners) process.on('uncaughtException', l);
  }
  return errors;
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

test('turn writes: work held with beforeTurnWrites runs first, and the writers it queues go out in the same flush', async () => {
  const log: string[] = [];
  const early = new Writer('early', log);
  const made = new Writer('made by the work', log);
  atTurnEnd(early);
  beforeTurnWrites({ flushTurn: () => (log.push('work'), atTurnEnd(made)) });
  assert.deepEqual(log, []);
  await nextTurn();
  assert.deepEqual(log, ['work', 'early', 'made by the work']);
  await nextTurn();
  assert.deepEqual(log, ['work', 'early', 'made by the work']);
});

test('turn writes: work that throws still lets the turn\'s writers go out, and the next turn starts clean', async () => {
  const log: string[] = [];
  const errors = await collectingUncaught(async () => {
    atTurnEnd(new Writer('w', log));
    beforeTurnWrites({
      flushTurn: () => {
        throw new Error('boom');
      },
    });
    await nextTurn();
    await nextTurn();
  });
  assert.deepEqual(log, ['w']);
  assert.equal(errors.length, 1);
  assert.match(String(errors[0]), /boom/);
  beforeTurnWrites(new Writer('next', log));
  await nextTurn();
  assert.deepEqual(log, ['w', 'next']);
});

test('TurnBatch: add says which item starts a batch; drain handles each item once, even past one that throws, and an item added meanwhile waits for the next batch', () => {
  const b = new TurnBatch<string>();
  assert.equal(b.add('a'), true);
  assert.equal(b.add('b'), false);
  assert.equal(b.add('c'), false);
  const seen: string[] = [];
  assert.throws(
    () =>
      b.drain((x) => {
        seen.push(x);
        if (x === 'a') assert.equal(b.add('late'), true, 'the first item of the next batch');
        if (x === 'b') throw new Error('b failed');
        if (x === 'c') throw new Error('c failed too');
      }),
    /b failed/,
  );
  assert.deepEqual(seen, ['a', 'b', 'c']);
  b.drain((x) => seen.push(x));
  assert.deepEqual(seen, ['a', 'b', 'c', 'late']);
  b.drain((x) => seen.push(x));
  assert.deepEqual(seen, ['a', 'b', 'c', 'late'], 'a drained batch is not handled again');
  assert.equal(b.add('d'), true);
});

test('turn writes: a writer that throws does not keep the writers after it from writing', async () => {
  const log: string[] = [];
  const errors = await collectingUncaught(async () => {
    atTurnEnd(new Writer('before', log));
    atTurnEnd({
      flushTurn: () => {
        throw new Error('writer failed');
      },
    });
    atTurnEnd(new Writer('after', log));
    await nextTurn();
    await nextTurn();
  });
  assert.deepEqual(log, ['before', 'after']);
  assert.equal(errors.length, 1);
  assert.match(String(errors[0]), /writer failed/);
});
