/** Host and path matching semantics of Kubernetes Ingress. Pure. */
import type { PathType } from '../../api/types.js';

/** Lower case, port and trailing dot removed. Returns '' for an unusable Host. */
export function normalizeHost(raw: string | undefined): string {
  if (!raw) return '';
  let h = raw;
  if (h.charCodeAt(0) === 91 /* [ */) {
    const end = h.indexOf(']');
    return end > 0 ? h.slice(0, end + 1).toLowerCase() : '';
  }
  const colon = h.indexOf(':');
  if (colon >= 0) h = h.slice(0, colon);
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h.toLowerCase();
}

/** The suffix a wildcard host is indexed by: `a.example.com` → `example.com`. */
export function wildcardSuffix(host: string): string | undefined {
  const dot = host.indexOf('.');
  return dot > 0 ? host.slice(dot + 1) : undefined;
}

/** The key a Prefix rule is indexed by: trailing slashes dropped (`/` → ``). */
export function prefixKey(path: string): string {
  let end = path.length;
  while (end > 0 && path.charCodeAt(end - 1) === 47) end--;
  return path.slice(0, end);
}

export type EffectiveType = 'Exact' | 'Prefix';

export function effectiveType(t: PathType): EffectiveType {
  return t === 'Exact' ? 'Exact' : 'Prefix';
}

/** Reference semantics, used by tests and diagnostics (the table uses indexed lookups). */
export function pathMatches(ruleType: PathType, rulePath: string, requestPath: string): boolean {
  if (effectiveType(ruleType) === 'Exact') return rulePath === requestPath;
  const key = prefixKey(rulePath);
  if (key === '') return true;
  const req = prefixKey(requestPath);
  return req === key || (req.startsWith(key) && req.charCodeAt(key.length) === 47);
}

export function hostMatches(ruleHost: string, requestHost: string): boolean {
  if (ruleHost === '') return true;
  if (ruleHost.startsWith('*.')) return wildcardSuffix(requestHost) === ruleHost.slice(2);
  return ruleHost === requestHost;
}
