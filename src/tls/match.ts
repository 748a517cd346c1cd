/** Pure name matching for TLS: which binding serves an SNI name, and whether a certificate covers a host. */

/** `a.example.com` → `example.com`; undefined for names of one label. */
function parentOf(host: string): string | undefined {
  const dot = host.indexOf('.');
  return dot <= 0 || dot === host.length - 1 ? undefined : host.slice(dot + 1);
}

/** Lower case, no trailing dot: how SNI names and Host headers are compared. */
export function canonicalName(name: string): string {
  let n = name.toLowerCase();
  if (n.endsWith('.')) n = n.slice(0, -1);
  return n;
}

/**
 * The entry for a name: the exact name first, then the wildcard of its parent
 * (`*.example.com` covers exactly one label), else undefined (the default certificate).
 */
export function lookupName<T>(exact: ReadonlyMap<string, T>, host: string): T | undefined {
  const e = exact.get(host);
  if (e !== undefined) return e;
  const parent = parentOf(host);
  return parent === undefined ? undefined : exact.get('*.' + parent);
}

/**
 * Whether a certificate whose DNS names are `names` is valid for `host` (RFC 6125: a wildcard
 * stands for exactly one whole left-most label). A binding host `*.example.com` is covered only
 * by the same wildcard.
 */
export function certCoversHost(names: readonly string[], host: string): boolean {
  const h = canonicalName(host);
  const parent = h.startsWith('*.') ? undefined : parentOf(h);
  for (const raw of names) {
    const n = canonicalName(raw);
    if (n === h) return true;
    if (parent !== undefined && n.startsWith('*.') && n.slice(2) === parent) return true;
  }
  return false;
}
