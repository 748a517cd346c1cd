/**
 * HostIndex must answer exactly like a Map of the same entries: every key, keys that differ by
 * one character or in length, keys in the same slot, keys too long or too wide to be stored
 * inline, and lookups with any characters.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HostIndex, OWNER_AT, hostHash } from '../../../src/controllers/routes/hostindex.js';
import { seededRandom } from '../../harness/random.js';

/** The index, and its copies with owner words (every owner word scribbled on), answer like a Map. */
function same<V>(entries: [string, V][], probes: string[]): void {
  const plain = new HostIndex(entries);
  const map = new Map(entries);
  for (const idx of [plain, plain.withWords(1), scribbled(plain.withWords(5)), scribbled(plain.withWords(8)), scribbled(plain.withWords(16))]) {
    const what = `${idx.ownerWords} owner words`;
    assert.equal(idx.size, map.size);
    for (const [k, v] of entries) {
      assert.equal(idx.get(k), v, `${what}: ${JSON.stringify(k)}`);
      assert.equal(idx.valueOfSlot(idx.slotOf(k)), v, `${what}: valueOfSlot(slotOf(${JSON.stringify(k)}))`);
    }
    for (const p of probes) assert.equal(idx.get(p), map.get(p), `${what}: ${JSON.stringify(p.slice(0, 60))}`);
  }
}

/** Fills every owner word of every slot with bits that look like hashes and characters. */
function scribbled<V>(idx: HostIndex<V>): HostIndex<V> {
  const rnd = seededRandom(idx.ownerWords);
  for (let at = 0; at < idx.slots.length; at += idx.slotWords) {
    for (let w = 0; w < idx.ownerWords; w++) idx.slots[at + OWNER_AT + w] = (rnd(0x10000) << 16) | rnd(0x10000);
  }
  return idx;
}

test('HostIndex: the same answers as a Map for 10,000 hosts, near misses and random strings', () => {
  const entries: [string, number][] = Array.from({ length: 10_000 }, (_, i) => [`h${i}.bench.test`, i]);
  const probes = [
    '', 'h', 'h1', 'h10000.bench.test', 'H1.bench.test', 'h1.bench.tes', 'h1.bench.testx', 'h1.bench.test.',
    'h1.bench.tesT', 'x1.bench.test', '\u0000', 'h1.bench.tes\u0174', 'h1\u0000bench.test', 'h1.bench.test'.repeat(200),
  ];
  const rnd = seededRandom(7);
  const alphabet = 'h0123456789.bencht';
  for (let i = 0; i < 20_000; i++) {
    let s = '';
    const n = 1 + rnd(18);
    for (let j = 0; j < n; j++) s += alphabet[rnd(alphabet.length)];
    probes.push(s);
  }
  same(entries, probes);
});

test('HostIndex: long, wide and latin1 keys, keys sharing a slot, the empty key', () => {
  const long = `${'a'.repeat(60)}.example.test`;
  const at52 = `${'b'.repeat(47)}.test`; // exactly 52 characters: the longest stored inline without owner words
  assert.equal(at52.length, 52);
  const at84 = `${'c'.repeat(79)}.test`; // the longest inline with 8 owner words
  const at85 = `${at84}x`;
  const at32 = `${'d'.repeat(27)}.test`; // the longest inline with 5 owner words (slots of 16 words)
  const at33 = `${at32}x`;
  // Keys that start in the same slot of a 32-slot table (the table for 13 to 24 keys: these 14).
  const crowd: string[] = [];
  for (let i = 0; crowd.length < 5; i++) if ((hostHash(`k${i}.test`) & 31) === (hostHash('k0.test') & 31)) crowd.push(`k${i}.test`);
  const entries: [string, string][] = [[long, 'long'], [at52, '52'], [at84, '84'], [at85, '85'], [at32, '32'], [at33, '33'], ['\u00e9xample.test', 'latin1'], ['\u4f8b.test', 'wide'], ['', 'empty'], ...crowd.map((k) => [k, k] as [string, string])];
  same(entries, [long.slice(0, -1), `${long}x`, at52.slice(0, -1), `${at52}x`, at84.slice(1), `${at85}x`, at32.slice(1), `${at33}y`, '\u4f8c.test', '\u00e8xample.test', 'k.test', 'a'.repeat(73), ' ']);
  assert.equal(new HostIndex([]).get('a'), undefined, 'an empty index answers nothing');
});

test('HostIndex: a duplicate key is refused', () => {
  assert.throws(() => new HostIndex([['a.test', 1], ['a.test', 2]]), /duplicate key "a.test"/);
});

test('HostIndex: indexOf numbers the entries in the order given, valueAt reads them back, -1 for others', () => {
  const entries: [string, string][] = Array.from({ length: 1_000 }, (_, i) => [`h${i}.example.test`, `v${i}`]);
  const idx = new HostIndex(entries);
  entries.forEach(([k, v], i) => {
    assert.equal(idx.indexOf(k), i);
    assert.equal(idx.valueAt(i), v);
  });
  for (const k of ['', 'h1000.example.test', 'H1.example.test', 'h1.example.test.']) assert.equal(idx.indexOf(k), -1, k);
  assert.equal(new HostIndex([]).indexOf('a'), -1);
});

test('HostIndex.withWords: the owner words start at zero, belong to one slot each and leave the lookups alone', () => {
  const entries: [string, number][] = Array.from({ length: 3_000 }, (_, i) => [i % 3 === 0 ? `h${i}.a-rather-long-subdomain-name.example.test` : `h${i}.test`, i]);
  const plain = new HostIndex(entries);
  const idx = plain.withWords(7);
  assert.equal(idx.slotWords, 32);
  assert.equal(plain.slotWords, 16);
  assert.ok(idx.slots.every((v, i) => (i % 32) - OWNER_AT < 0 || (i % 32) - OWNER_AT >= 7 || v === 0), 'owner words are zero');
  const seen = new Set<number>();
  for (const [k, v] of entries) {
    const at = idx.slotOf(k);
    assert.equal(at % 32, 0);
    assert.ok(!seen.has(at), 'one slot per key');
    seen.add(at);
    for (let w = 0; w < 7; w++) idx.slots[at + OWNER_AT + w] = v * 7 + w;
  }
  for (const [k, v] of entries) {
    const at = idx.slotOf(k);
    assert.equal(idx.valueOfSlot(at), v);
    for (let w = 0; w < 7; w++) assert.equal(idx.slots[at + OWNER_AT + w], v * 7 + w);
  }
  assert.equal(idx.slotOf('nope.test'), -1);
  assert.throws(() => plain.withWords(0), /at least one word/);
  assert.throws(() => new HostIndex([], 17), /ownerWords 17/);
});

test('HostIndex.withWords: reuses the slots given when they are of the size needed, zeroed', () => {
  const a = new HostIndex(Array.from({ length: 500 }, (_, i) => [`a${i}.test`, i] as const));
  const b = new HostIndex(Array.from({ length: 400 }, (_, i) => [`b${i}.example.test`, -i] as const));
  const first = a.withWords(8);
  first.slots.fill(-1); // scribbled all over, hash, value and character words included
  const second = b.withWords(8, first.slots);
  assert.equal(second.slots, first.slots, 'same size (1,024 slots): reused');
  for (let i = 0; i < 400; i++) assert.equal(second.get(`b${i}.example.test`), -i);
  for (const k of ['a1.test', 'b400.example.test', '']) assert.equal(second.get(k), undefined, k);
  assert.equal(second.slots.filter((v) => v === -1).length, 0, 'zeroed first');
  const small = new HostIndex([['c.test', 1] as const]).withWords(8, second.slots);
  assert.notEqual(small.slots, second.slots, 'another size: a new array');
  assert.equal(small.get('c.test'), 1);
});

test('HostIndex.withChanges: random updates, removals and additions answer like a Map after every step; the index changed from stays as it was', () => {
  const rnd = seededRandom(41);
  // Few home slots for many keys (a small table) makes long probe runs, which removals must keep
  // reachable; long and wide keys take the path of keys not stored inline.
  const pool = Array.from({ length: 400 }, (_, i) => (i % 37 === 0 ? `long-${'x'.repeat(80)}-${i}.test` : i % 41 === 0 ? `wide-${i}-\u4e16.test` : `h${i}.test`));
  const model = new Map<string, number>();
  for (let i = 0; i < 300; i++) model.set(pool[i]!, i);
  let idx = new HostIndex([...model]);
  let incremental = 0;
  for (let step = 0; step < 300; step++) {
    const changes = new Map<string, number | undefined>();
    const n = 1 + rnd(rnd(2) === 0 ? 3 : 40);
    for (let c = 0; c < n; c++) {
      const k = pool[rnd(pool.length)]!;
      changes.set(k, rnd(3) === 0 ? undefined : step * 1000 + c);
    }
    const before = new Map(model);
    const prev = idx;
    const prevSlots = prev.slots.slice();
    idx = prev.withChanges(changes);
    if (idx.slots.length === prev.slots.length && idx.slots !== prev.slots) incremental++;
    for (const [k, v] of changes) {
      if (v === undefined) model.delete(k);
      else model.set(k, v);
    }
    assert.equal(idx.size, model.size, `step ${step}: size`);
    for (const k of pool) {
      assert.equal(idx.get(k), model.get(k), `step ${step}: ${k}`);
      assert.equal(prev.get(k), before.get(k), `step ${step}: the old index still answers ${k} as before`);
    }
    assert.deepEqual(prev.slots, prevSlots, `step ${step}: the old index's slots are untouched`);
    // A copy with owner words made from a changed index answers the same.
    if (step % 50 === 0) for (const k of pool) assert.equal(idx.withWords(8).get(k), model.get(k));
  }
  assert.ok(incremental > 100, `${incremental} of 300 steps changed the slots in place of a rebuild`);
});

test('HostIndex.withChanges: refused on a copy with owner words', () => {
  assert.throws(() => new HostIndex([['a.test', 1]]).withWords(1).withChanges(new Map([['a.test', 2]])), /owner words/);
});

test('HostIndex: the fewest slots (a power of two, at least 8) that keep it at most three quarters full', () => {
  for (const n of [0, 1, 6, 7, 12, 13, 24, 25, 768, 769, 10_000]) {
    const idx = new HostIndex(Array.from({ length: n }, (_, i) => [`h${i}.test`, i] as const));
    const slots = idx.slots.length / idx.slotWords;
    assert.ok(slots >= 8 && (slots & (slots - 1)) === 0, `${n} keys: ${slots} slots, a power of two`);
    assert.ok(n * 4 <= slots * 3, `${n} keys: at most three quarters of ${slots} slots`);
    assert.ok(slots === 8 || n * 4 > (slots / 2) * 3, `${n} keys: half of ${slots} slots would be more than three quarters full`);
  }
  assert.equal(new HostIndex(Array.from({ length: 10_000 }, (_, i) => [`h${i}.test`, i] as const)).withWords(8).slots.length, 16_384 * 32, "10,000 hosts: the data plane's copy is 16,384 slots of 128 bytes (2 MB)");
});

test('HostIndex.withWords: slots of one cache line (16 words) for up to 5 owner words, unless more than one key in 20 would not fit inline in them', () => {
  const short = (i: number) => `h${i}.test`;
  const long = (i: number) => `h${i}.${'x'.repeat(40)}.test`; // over 32 characters
  const make = (nLong: number) => new HostIndex(Array.from({ length: 1_000 }, (_, i) => [i < nLong ? long(i) : short(i), i] as const));
  for (const [nLong, words, want] of [[0, 5, 16], [50, 5, 16], [51, 5, 32], [0, 6, 32], [0, 1, 16], [1_000, 1, 32]] as const) {
    const idx = make(nLong);
    const copy = idx.withWords(words);
    assert.equal(copy.slotWords, want, `${nLong} long keys of 1,000, ${words} owner words`);
    for (let i = 0; i < 1_000; i++) assert.equal(copy.get(i < nLong ? long(i) : short(i)), i);
    assert.equal(copy.get(long(999)), nLong === 1_000 ? 999 : undefined);
  }
});
