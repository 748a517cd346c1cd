/**
 * HostIndex must answer exactly like a Map of the same entries: every key, keys that differ by
 * one character or in length, keys in the same slot, keys too long or too wide to be stored
 * inline, and lookups with any characters.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HostIndex, hostHash } from '../../../src/controllers/routes/hostindex.js';
import { seededRandom } from '../../harness/random.js';

function same<V>(entries: [string, V][], probes: string[]): void {
  const idx = new HostIndex(entries);
  const map = new Map(entries);
  assert.equal(idx.size, map.size);
  for (const [k, v] of entries) assert.equal(idx.get(k), v, JSON.stringify(k));
  for (const p of probes) assert.equal(idx.get(p), map.get(p), JSON.stringify(p.slice(0, 60)));
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
  const at52 = `${'b'.repeat(47)}.test`; // exactly 52 characters: the longest stored inline
  assert.equal(at52.length, 52);
  // Keys that start in the same slot of a 16-slot table (the table for up to 8 keys).
  const crowd: string[] = [];
  for (let i = 0; crowd.length < 5; i++) if ((hostHash(`k${i}.test`) & 15) === (hostHash('k0.test') & 15)) crowd.push(`k${i}.test`);
  const entries: [string, string][] = [[long, 'long'], [at52, '52'], ['\u00e9xample.test', 'latin1'], ['\u4f8b.test', 'wide'], ['', 'empty'], ...crowd.map((k) => [k, k] as [string, string])];
  same(entries, [long.slice(0, -1), `${long}x`, at52.slice(0, -1), `${at52}x`, '\u4f8c.test', '\u00e8xample.test', 'k.test', 'a'.repeat(73), ' ']);
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
