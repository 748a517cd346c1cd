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
  return `${kind}/${namespace ?? ''}/${name}`;
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
  const ta = a.metadata.creationTimestamp ? Date.parse(a.metadata.creationTimestamp) : Number.POSITIVE_INFINITY;
  const tb = b.metadata.creationTimestamp ? Date.parse(b.metadata.creationTimestamp) : Number.POSITIVE_INFINITY;
  if (ta !== tb) return ta < tb ? -1 : 1;
  const na = nsName(a);
  const nb = nsName(b);
  return na < nb ? -1 : na > nb ? 1 : 0;
}
