/**
 * An immutable map from host name to value, for the route table's per-request lookup among
 * thousands of hosts.
 *
 * A JavaScript Map costs a lookup a cache miss for the bucket, one for the entry and one for the
 * key string it compares (strings live anywhere in a heap of 100 MB with 10,000 hosts). Here each
 * key has a slot of 64 bytes in one typed array holding its hash, its value's index, its length
 * and its characters (up to 52, one byte each): a lookup reads one slot (open addressing, linear
 * probing, at most half full) and then the value. Keys longer than 52 characters, or with a
 * character above 255, are compared as strings.
 */

/** Int32s per slot: hash, value index + 1 (0: empty), key length (-1: compare the string), 13 words of characters. */
const SLOT = 16;
const INLINE = (SLOT - 3) * 4;

export class HostIndex<V> {
  private readonly slots: Int32Array;
  private readonly mask: number;
  private readonly values: V[];
  /** Keys not stored inline, by value index. */
  private readonly wide: (string | undefined)[];

  /** `entries`: distinct keys (a duplicate is refused). */
  constructor(entries: Iterable<readonly [string, V]>) {
    const keys: string[] = [];
    this.values = [];
    this.wide = [];
    for (const [k, v] of entries) {
      keys.push(k);
      this.values.push(v);
    }
    let size = 8;
    while (size < keys.length * 2) size *= 2;
    this.mask = size - 1;
    const slots = (this.slots = new Int32Array(size * SLOT));
    // Rebuilt with every new table (each change to the routes), so kept cheap: duplicates are
    // noticed while probing, and the characters written straight into the (zeroed) slot.
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const h = hostHash(key);
      let s = h & this.mask;
      for (;;) {
        const taken = slots[s * SLOT + 1]!;
        if (taken === 0) break;
        if (slots[s * SLOT] === h && keys[taken - 1] === key) throw new Error(`HostIndex: duplicate key ${JSON.stringify(key)}`);
        s = (s + 1) & this.mask;
      }
      const at = s * SLOT;
      slots[at] = h;
      slots[at + 1] = i + 1;
      if (!this.packInline(at, key)) {
        slots.fill(0, at + 3, at + SLOT);
        slots[at + 2] = -1;
        this.wide[i] = key;
      }
    }
  }

  /** Writes `key`'s length and characters into the slot at `at`; false when it cannot be stored inline. */
  private packInline(at: number, key: string): boolean {
    const n = key.length;
    if (n > INLINE) return false;
    const slots = this.slots;
    for (let j = 0; j < n; j++) {
      const c = key.charCodeAt(j);
      if (c > 255) return false;
      slots[at + 3 + (j >> 2)]! |= c << (8 * (j & 3));
    }
    slots[at + 2] = n;
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
    const h = hostHash(key);
    const slots = this.slots;
    const n = key.length;
    let s = h & this.mask;
    for (;;) {
      const at = s * SLOT;
      const v = slots[at + 1]!;
      if (v === 0) return -1;
      if (slots[at] === h) {
        const len = slots[at + 2]!;
        if (len === -1) {
          if (this.wide[v - 1] === key) return v - 1;
        } else if (len === n && this.sameChars(at, key)) return v - 1;
      }
      s = (s + 1) & this.mask;
    }
  }

  /** The inline characters at slot offset `at` against `key` (of the same length), four at a time. */
  private sameChars(at: number, key: string): boolean {
    const slots = this.slots;
    for (let j = 0; j < key.length; j += 4) if (slots[at + 3 + (j >> 2)] !== word(key, j)) return false;
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
