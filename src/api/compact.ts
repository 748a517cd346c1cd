/**
 * A validated object as the store keeps it: a copy made by JSON, which has every array at its
 * size and every string flat.
 *
 * What the validator returns is built for checking, not for keeping: its arrays grew by push
 * (room for 17 elements where most hold one) and a YAML file's scalars are strings concatenated
 * piece by piece. With 10,000 hosts (an Ingress, a Service and an EndpointSlice each) that was
 * over half of the objects' memory: an Ingress 911 bytes as parsed, 399 as copied. The store's
 * objects live in the old generation, whose size every young collection pays for
 * (docs/benchmarks.md, "The old generation's size").
 *
 * JSON keeps every value a manifest can hold but non-finite numbers (which it would turn into
 * null): an object holding one is kept as it is.
 */
class NotJson extends Error {}

function finiteOnly(_key: string, v: unknown): unknown {
  if (typeof v === 'number' && !Number.isFinite(v)) throw new NotJson();
  return v;
}

export function compact<T extends object>(o: T): T {
  try {
    return JSON.parse(JSON.stringify(o, finiteOnly)) as T;
  } catch (err) {
    if (err instanceof NotJson) return o;
    throw err;
  }
}
