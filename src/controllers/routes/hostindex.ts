/**
 * An immutable map from host name to value, for the route table's per-request lookup among
 * thousands of hosts.
 *
 * A JavaScript Map costs a lookup a cache miss for the bucket, one for the entry and one for the
 * key string it compares (strings live anywhere in a heap of 100 MB with 10,000 hosts). Here each
 * key has a slot in one typed array holding its hash, its value's index, its length and its
 * characters (one byte each): a lookup reads one slot (open addressing, linear probing, at most
 * three quarters full) and then the value. Keys too long for the slot, or with a character above
 * 255, are compared as strings.
 *
 * A copy made with withWords(n) gives its owner n words of each slot, between the key's length
 * and its characters, where it keeps what it derived from the key's value (the data plane: the
 * upstream pool and the request counts of a host, src/proxy/hothosts.ts); reading them costs a
 * request nothing more than the lookup, whichever host it is for.
 */

/** Word offsets in a slot: hash, value index + 1 (0: empty), key length (-1: compare the string); then the owner's words, then the characters. */
const HASH = 0;
const VALUE = 1;
const LENGTH = 2;
/** Where the owner's words start in a slot (see withWords). */
export const OWNER_AT = 3;
/** Owner words that still leave a slot of 16 words (one cache line) room for keys of 32 characters. */
export const SHORT_OWNER = 5;
/** A copy keeps slots of 32 words when more than one key in this many would not fit inline in 16 (see withWords). */
const LONG_SHARE = 20;

export class HostIndex<V> {
  /** The slots, `slotWords` Int32s each; an owner may write words OWNER_AT to OWNER_AT + ownerWords - 1 of a slot (see withWords). */
  readonly slots: Int32Array;
  /** Int32s per slot: 16 (64 bytes, one cache line), or 32 for more than SHORT_OWNER owner words or many long keys (see withWords). */
  readonly slotWords: number;
  private readonly shift: number;
  /** Where a slot's characters start. */
  private readonly charsAt: number;
  private readonly mask: number;
  // Not readonly: a copy (withWords) shares these with the index it was made from, and one made by
  // withChanges starts from copies of them. A removed entry leaves a hole (undefined) at its index.
  private keys: (string | undefined)[];
  private values: (V | undefined)[];
  /** Keys not stored inline, by value index. */
  private wide: (string | undefined)[];
  /** Entries (keys.length less the holes). */
  private live: number;

  /**
   * `entries`: distinct keys (a duplicate is refused); `ownerWords` (0 to 16): see withWords;
   * `minSlots`: a power of two; `reuse`: see withWords; `long`: slots of 32 words even where
   * the owner words would leave a slot of 16.
   */
  constructor(entries: Iterable<readonly [string, V]>, readonly ownerWords = 0, minSlots = 8, reuse?: Int32Array, long = false) {
    if (!Number.isInteger(ownerWords) || ownerWords < 0 || ownerWords > 16) throw new Error(`HostIndex: ownerWords ${ownerWords} is not 0 to 16`);
    const keys: string[] = [];
    const values: V[] = [];
    this.keys = keys;
    this.values = values;
    this.wide = [];
    for (const [k, v] of entries) {
      keys.push(k);
      values.push(v);
    }
    this.live = keys.length;
    this.shift = ownerWords <= SHORT_OWNER && !long ? 4 : 5;
    this.slotWords = 1 << this.shift;
    this.charsAt = OWNER_AT + ownerWords;
    let size = minSlots;
    // At most three quarters full: against at most half, the slots span half the pages, and a
    // request's slot costs a page walk among 10,000 hosts (bench:ab at 10,000 hosts: 1.017×,
    // standard error 0.013), for longer probe runs (a hit reads 2.5 slots on average when three
    // quarters full, 1.5 when half; 1.8 and 1.2 with 10,000 hosts in 16,384 and 32,768 slots).
    while (size * 3 < keys.length * 4) size *= 2;
    this.mask = size - 1;
    const words = size << this.shift;
    const slots = (this.slots = reuse !== undefined && reuse.length === words ? reuse.fill(0) : new Int32Array(words));
    // Built for a table's first index and when withChanges builds anew (many changes), so kept
    // cheap: duplicates are noticed while probing, the characters written straight into the
    // (zeroed) slot.
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const h = hostHash(key);
      let s = h & this.mask;
      for (;;) {
        const taken = slots[(s << this.shift) + VALUE]!;
        if (taken === 0) break;
        if (slots[s << this.shift] === h && keys[taken - 1] === key) throw new Error(`HostIndex: duplicate key ${JSON.stringify(key)}`);
        s = (s + 1) & this.mask;
      }
      this.place(s << this.shift, h, i, key);
    }
  }

  /** Writes entry `i` (`key`, of hash `h`) into the empty (zeroed) slot at `at`. */
  private place(at: number, h: number, i: number, key: string): void {
    const slots = this.slots;
    slots[at + HASH] = h;
    slots[at + VALUE] = i + 1;
    if (!this.packInline(at, key)) {
      slots.fill(0, at + this.charsAt, at + this.slotWords);
      slots[at + LENGTH] = -1;
      this.wide[i] = key;
    }
  }

  /**
   * The same entries in new slots, of which `n` (1 to 16) words are the caller's: words OWNER_AT
   * to OWNER_AT + n - 1 of the slot slotOf gives, zero at first and never read by the index. Up
   * to SHORT_OWNER words, slots of 16 words (one cache line) holding keys of up to (13 - n) * 4
   * characters inline, unless more than one key in LONG_SHARE is longer (their lookups would
   * read the key's string as well); else slots of 32 words, keys of up to (29 - n) * 4
   * characters. `reuse`: the slots of an earlier copy nobody reads any more, taken (zeroed)
   * when of the size needed: a new table then costs no allocation of megabytes and their
   * first-touch page faults.
   */
  withWords(n: number, reuse?: Int32Array): HostIndex<V> {
    if (n < 1) throw new Error('HostIndex.withWords: at least one word');
    // The copy has this index's slot count, so each key keeps its slot number: the slots are
    // copied, not rebuilt (made on a request's path when the table changes).
    let long = n > SHORT_OWNER;
    if (!long) {
      const shortRoom = (16 - OWNER_AT - n) * 4;
      let over = 0;
      for (const k of this.keys) if (k !== undefined && k.length > shortRoom) over++;
      long = over * LONG_SHARE > this.live;
    }
    const copy = new HostIndex<V>([], n, this.mask + 1, reuse, long);
    // Value indices are the same, so the keys and values are shared, not copied; so are the wide
    // keys unless a key inline here is too long for the copy's slots (then the copy has its own).
    copy.keys = this.keys;
    copy.values = this.values;
    copy.wide = this.wide;
    copy.live = this.live;
    const from = this.slots;
    const to = copy.slots;
    const room = (copy.slotWords - copy.charsAt) * 4;
    for (let s = 0; s <= this.mask; s++) {
      const a = s << this.shift;
      const v = from[a + VALUE]!;
      if (v === 0) continue;
      const b = s << copy.shift;
      to[b + HASH] = from[a + HASH]!;
      to[b + VALUE] = v;
      const len = from[a + LENGTH]!;
      if (len > room) {
        if (copy.wide === this.wide) copy.wide = this.wide.slice();
        copy.wide[v - 1] = this.keys[v - 1];
        to[b + LENGTH] = -1;
        continue;
      }
      to[b + LENGTH] = len;
      for (let w = 0; w < (len + 3) >> 2; w++) to[b + copy.charsAt + w] = from[a + this.charsAt + w]!;
    }
    return copy;
  }

  /**
   * This index with `changes` applied (a key to its new value, or to undefined: removed), this one
   * unchanged. For a table change that touches a few of many hosts: the slots are copied and only
   * the changed keys are probed and written, where building anew hashes and places every key
   * (about 1 µs each: 10 ms at 10,000 hosts). Built anew when the changes are many, when the
   * entries would pass three quarters of the slots, or when removed entries' holes outnumber the
   * entries.
   * Only for an index without owner words (a table's).
   */
  withChanges(changes: ReadonlyMap<string, V | undefined>): HostIndex<V> {
    if (this.ownerWords !== 0) throw new Error('HostIndex.withChanges: an index with owner words is a copy; change the table');
    let adds = 0;
    for (const [k, v] of changes) if (v !== undefined && this.slotOf(k) < 0) adds++;
    const slotCount = this.mask + 1;
    if (changes.size * 4 > this.live || (this.live + adds) * 4 > slotCount * 3 || this.keys.length - this.live > this.live) {
      const all = new Map<string, V>();
      for (let i = 0; i < this.keys.length; i++) {
        const k = this.keys[i];
        if (k !== undefined) all.set(k, this.values[i]!);
      }
      for (const [k, v] of changes) {
        if (v === undefined) all.delete(k);
        else all.set(k, v);
      }
      return new HostIndex<V>(all);
    }
    const copy = new HostIndex<V>([], 0, slotCount);
    copy.slots.set(this.slots);
    copy.keys = this.keys.slice();
    copy.values = this.values.slice();
    copy.wide = this.wide.slice();
    copy.live = this.live;
    for (const [k, v] of changes) {
      const at = copy.slotOf(k);
      if (at >= 0) {
        const i = copy.slots[at + VALUE]! - 1;
        if (v !== undefined) copy.values[i] = v;
        else copy.remove(at, i);
      } else if (v !== undefined) copy.insert(k, v);
    }
    return copy;
  }

  /** Adds `key` (not present) with `value` at a new value index. */
  private insert(key: string, value: V): void {
    const i = this.keys.length;
    this.keys.push(key);
    this.values.push(value);
    this.live++;
    const slots = this.slots;
    const h = hostHash(key);
    let s = h & this.mask;
    while (slots[(s << this.shift) + VALUE] !== 0) s = (s + 1) & this.mask;
    this.place(s << this.shift, h, i, key);
  }

  /**
   * Removes the entry of the slot at `at` (value index `i`): later slots of its probe run move back
   * into the gap when their home slot allows it (deletion without tombstones), so every key stays
   * reachable from its home slot without passing an empty one.
   */
  private remove(at: number, i: number): void {
    this.keys[i] = undefined;
    this.values[i] = undefined;
    this.wide[i] = undefined;
    this.live--;
    const slots = this.slots;
    const w = this.slotWords;
    let hole = at >> this.shift;
    let j = hole;
    for (;;) {
      j = (j + 1) & this.mask;
      const aj = j << this.shift;
      if (slots[aj + VALUE] === 0) break;
      const home = slots[aj + HASH]! & this.mask;
      // The entry at j may fill the hole unless its home lies in the cyclic range (hole, j].
      const stays = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!stays) {
        slots.copyWithin(hole << this.shift, aj, aj + w);
        hole = j;
      }
    }
    slots.fill(0, hole << this.shift, (hole << this.shift) + w);
  }

  /** Writes `key`'s length and characters into the slot at `at`; false when it cannot be stored inline. */
  private packInline(at: number, key: string): boolean {
    const n = key.length;
    if (n > (this.slotWords - this.charsAt) * 4) return false;
    const slots = this.slots;
    const chars = at + this.charsAt;
    for (let j = 0; j < n; j++) {
      const c = key.charCodeAt(j);
      if (c > 255) return false;
      slots[chars + (j >> 2)]! |= c << (8 * (j & 3));
    }
    slots[at + LENGTH] = n;
    return true;
  }

  /** The number of entries. */
  get size(): number {
    return this.live;
  }

  get(key: string): V | undefined {
    const i = this.indexOf(key);
    return i < 0 ? undefined : this.values[i];
  }

  /** The value at an index from indexOf. */
  valueAt(i: number): V {
    return this.values[i]!;
  }

  /** The index of `key`'s value (in the order of the entries given; an index from withChanges may have holes), or -1. */
  indexOf(key: string): number {
    const at = this.slotOf(key);
    return at < 0 ? -1 : this.slots[at + VALUE]! - 1;
  }

  /** The value index of the slot at `at` (from slotOf), for valueAt. */
  valueIndexOfSlot(at: number): number {
    return this.slots[at + VALUE]! - 1;
  }

  /** The value of the slot at `at` (from slotOf). */
  valueOfSlot(at: number): V {
    return this.values[this.slots[at + VALUE]! - 1]!;
  }

  /** Where `key`'s slot starts in `slots`, or -1. */
  slotOf(key: string): number {
    const h = hostHash(key);
    const slots = this.slots;
    const n = key.length;
    let s = h & this.mask;
    for (;;) {
      const at = s << this.shift;
      const v = slots[at + VALUE]!;
      if (v === 0) return -1;
      if (slots[at + HASH] === h) {
        const len = slots[at + LENGTH]!;
        if (len === -1) {
          if (this.wide[v - 1] === key) return at;
        } else if (len === n && this.sameChars(at + this.charsAt, key)) return at;
      }
      s = (s + 1) & this.mask;
    }
  }

  /** The inline characters from `chars` against `key` (of the same length), four at a time. */
  private sameChars(chars: number, key: string): boolean {
    const slots = this.slots;
    for (let j = 0; j < key.length; j += 4) if (slots[chars + (j >> 2)] !== word(key, j)) return false;
    return true;
  }
}

/**
 * Characters j..j+3 of `key` as one int32, a byte each (missing ones 0). A character above 255
 * makes it NaN, which equals no word of the index (a key with one is never stored inline).
 */
function word(key: string, j: number): number {
  let w = 0;
  for (let k = 0; k < 4 && j + k < key.length; k++) {
    const c = key.charCodeAt(j + k);
    if (c > 255) return NaN;
    w |= c << (8 * k);
  }
  return w;
}

/** FNV-1a over the UTF-16 code units, then a final mix so that the low bits (the slot) spread. */
export function hostHash(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return mix(h);
}

function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}
