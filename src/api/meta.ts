/** Kubernetes object metadata, the subset gangplank reads. */
export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
}

export interface TypedObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
}

/** A stable key for an object: `Kind/namespace/name` (cluster-scoped: `Kind//name`). */
export type ObjectKey = string;

export function objectKey(kind: string, namespace: string | undefined, name: string): ObjectKey {
  // Joined, not concatenated: the store keeps a key for every object, and a concatenated one is a
  // chain of string pieces (about 120 bytes for an Ingress's key against 40 flat).
  return [kind, namespace ?? '', name].join('/');
}

export function keyOf(o: TypedObject): ObjectKey {
  return objectKey(o.kind, o.metadata.namespace, o.metadata.name);
}

export function parseKey(key: ObjectKey): { kind: string; namespace: string; name: string } {
  const [kind = '', namespace = '', ...rest] = key.split('/');
  return { kind, namespace, name: rest.join('/') };
}

/** `namespace/name`, the way humans and logs name a namespaced object. */
export function nsName(o: { metadata: ObjectMeta }): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
}

/**
 * Deterministic age order used to settle conflicts: oldest creationTimestamp first, then
 * namespace/name. Objects without a timestamp sort after those with one.
 */
export function olderFirst(a: { metadata: ObjectMeta }, b: { metadata: ObjectMeta }): number {
  return compareAge(createdAt(a), nsName(a), createdAt(b), nsName(b));
}

function createdAt(o: { metadata: ObjectMeta }): number {
  const t = o.metadata.creationTimestamp;
  return t ? Date.parse(t) : Number.POSITIVE_INFINITY;
}

function compareAge(ta: number, na: string, tb: number, nb: string): number {
  if (ta !== tb) return ta < tb ? -1 : 1;
  return na < nb ? -1 : na > nb ? 1 : 0;
}

/**
 * `items` in olderFirst order of the objects `meta` gives, each object's time and name worked
 * out once (olderFirst as a comparator parses two timestamps and joins two names per comparison:
 * sorting 10,000 Ingresses that way took tens of milliseconds).
 */
export function sortOlderFirst<T>(items: Iterable<T>, meta: (item: T) => { metadata: ObjectMeta }): T[] {
  const keyed: { item: T; t: number; n: string }[] = [];
  for (const item of items) {
    const o = meta(item);
    keyed.push({ item, t: createdAt(o), n: nsName(o) });
  }
  keyed.sort((a, b) => compareAge(a.t, a.n, b.t, b.n));
  return keyed.map((k) => k.item);
}
