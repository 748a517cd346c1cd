/**
 * An immutable map from host name to value, for the route table's per-request lookup among
 * thousands of hosts.
 *
 * A JavaScript Map costs a lookup a cache miss for the bucket, one for the entry and one for the
 * key string it compares (strings live anywhere in a heap of 100 MB with 10,000 hosts). Here each
 * key has a slot in one typed array holding its hash, its value's index, its length and its
 * characters (one byte each): a lookup reads one slot (open addressing, linear probing, at most
 * half full) and then the value. Keys too long for the slot, or with a character above 255, are
 * compared as strings.
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

export class HostIndex<V> {
  /** The slots, `slotWords` Int32s each; an owner may write words OWNER_AT to OWNER_AT + ownerWords - 1 of a slot (see withWords). */
  readonly slots: Int32Array;
  /** Int32s per slot: 16 (64 bytes, one cache line) without owner words, else 32. */
  readonly slotWords: number;
  private readonly shift: number;
  /** Where a slot's characters start. */
  private readonly charsAt: number;
  private readonly mask: number;
  // Not readonly: a copy (withWords) shares these with the index it was made from.
  private keys: string[];
  private values: V[];
  /** Keys not stored inline, by value index. */
  private wide: (string | undefined)[];

  /** `entries`: distinct keys (a duplicate is refused); `ownerWords` (0 to 16): see withWords; `minSlots`: a power of two; `reuse`: see withWords. */
  constructor(entries: Iterable<readonly [string, V]>, readonly ownerWords = 0, minSlots = 8, reuse?: Int32Array) {
    if (!Number.isInteger(ownerWords) || ownerWords < 0 || ownerWords > 16) throw new Error(`HostIndex: ownerWords ${ownerWords} is not 0 to 16`);
    const keys: string[] = (this.keys = []);
    this.values = [];
    this.wide = [];
    for (const [k, v] of entries) {
      keys.push(k);
      this.values.push(v);
    }
    this.shift = ownerWords === 0 ? 4 : 5;
    this.slotWords = 1 << this.shift;
    this.charsAt = OWNER_AT + ownerWords;
    let size = minSlots;
    while (size < keys.length * 2) size *= 2;
    this.mask = size - 1;
    const words = size << this.shift;
    const slots = (this.slots = reuse !== undefined && reuse.length === words ? reuse.fill(0) : new Int32Array(words));
    // Rebuilt with every new table (each change to the routes), so kept cheap: duplicates are
    // noticed while probing, and the characters written straight into the (zeroed) slot.
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
      const at = s << this.shift;
      slots[at + HASH] = h;
      slots[at + VALUE] = i + 1;
      if (!this.packInline(at, key)) {
        slots.fill(0, at + this.charsAt, at + this.slotWords);
        slots[at + LENGTH] = -1;
        this.wide[i] = key;
      }
    }
  }

  /**
   * The same entries in new slots of 32 words, of which `n` (1 to 16) are the caller's: words
   * OWNER_AT to OWNER_AT + n - 1 of the slot slotOf gives, zero at first and never read by the
   * index. Keys of up to (29 - n) * 4 characters stay inline. `reuse`: the slots of an earlier
   * copy nobody reads any more, taken (zeroed) when of the size needed: a new table then costs
   * no allocation of megabytes and their first-touch page faults.
   */
  withWords(n: number, reuse?: Int32Array): HostIndex<V> {
    if (n < 1) throw new Error('HostIndex.withWords: at least one word');
    // The copy has this index's slot count, so each key keeps its slot number: the slots are
    // copied, not rebuilt (made on a request's path when the table changes).
    const copy = new HostIndex<V>([], n, this.mask + 1, reuse);
    // Value indices are the same, and a key inline here is inline there (the copy's slots hold at
    // least as many characters), so the keys, values and wide keys are shared, not copied.
    copy.keys = this.keys;
    copy.values = this.values;
    copy.wide = this.wide;
    const from = this.slots;
    const to = copy.slots;
    for (let s = 0; s <= this.mask; s++) {
      const a = s << this.shift;
      if (from[a + VALUE] === 0) continue;
      const b = s << copy.shift;
      to[b + HASH] = from[a + HASH]!;
      to[b + VALUE] = from[a + VALUE]!;
      const len = from[a + LENGTH]!;
      to[b + LENGTH] = len;
      for (let w = 0; w < (len + 3) >> 2; w++) to[b + copy.charsAt + w] = from[a + this.charsAt + w]!;
    }
    return copy;
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

  get size(): number {
    return this.values.length;
  }

  get(key: string): V | undefined {
    const i = this.indexOf(key);
    return i < 0 ? undefined : this.values[i];
  }

  /** The value at an index from indexOf (0 <= i < size). */
  valueAt(i: number): V {
    return this.values[i]!;
  }

  /** The index of `key`'s value (0 to size - 1, in the order of the entries given), or -1. */
  indexOf(key: string): number {
    const at = this.slotOf(key);
    return at < 0 ? -1 : this.slots[at + VALUE]! - 1;
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
