/**
 * A map from a key to a set of strings that keeps a one-member set as the string itself.
 *
 * The store's secondary indexes and the route compiler's reverse maps (host → Ingresses,
 * Service → hosts) hold one member for nearly every key: with a Set each, 10,000 hosts cost
 * 30,000 Sets, about 5 MB of the old generation, which every young collection pays for
 * (docs/benchmarks.md, "The old generation's size"). A key's set becomes a Set only once it has
 * a second member, and a string again when it is back to one.
 */
export class SetMap<V extends string> {
  private readonly map = new Map<string, V | Set<V>>();

  /** Adds `value` to `key`'s set. */
  add(key: string, value: V): void {
    const cur = this.map.get(key);
    if (cur === undefined) this.map.set(key, value);
    else if (typeof cur === 'string') {
      if (cur !== value) this.map.set(key, new Set([cur, value]));
    } else cur.add(value);
  }

  /** Removes `value` from `key`'s set; the key goes when its set is empty. */
  delete(key: string, value: V): void {
    const cur = this.map.get(key);
    if (cur === undefined) return;
    if (typeof cur === 'string') {
      if (cur === value) this.map.delete(key);
      return;
    }
    cur.delete(value);
    if (cur.size === 1) this.map.set(key, cur.values().next().value as V);
    else if (cur.size === 0) this.map.delete(key);
  }

  /** The members of `key`'s set (none when the key has none); not to be kept across changes. */
  get(key: string): Iterable<V> {
    const cur = this.map.get(key);
    return cur === undefined ? NONE : typeof cur === 'string' ? [cur] : cur;
  }

  /** How many members `key`'s set has. */
  count(key: string): number {
    const cur = this.map.get(key);
    return cur === undefined ? 0 : typeof cur === 'string' ? 1 : cur.size;
  }

  /** The keys with a non-empty set. */
  keys(): IterableIterator<string> {
    return this.map.keys();
  }

  clear(): void {
    this.map.clear();
  }
}

const NONE: readonly never[] = [];
