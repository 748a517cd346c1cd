/** The immutable route table: hash lookup by host, indexed path lookup per host. */
import type { Route, RouteTable, TlsBinding } from './types.js';
import { HostIndex } from './hostindex.js';
import { prefixKey, wildcardSuffix } from './paths.js';

/** The routes of one rule host (`a.example.com`, `*.example.com` or `` for host-less rules). */
export interface HostRoutes {
  readonly host: string;
  readonly exact: ReadonlyMap<string, Route>;
  /** Keyed by the rule path without trailing slashes (`/` is ``); empty when `root` is set. */
  readonly prefix: ReadonlyMap<string, Route>;
  /** Some route of this host has a traefik router.priority: matching considers every candidate. */
  readonly prioritized?: boolean;
  /**
   * The host's only route when it is a Prefix `/` (matches every path): most hosts look like
   * that, and then matching is one property read instead of map probes and path slicing.
   */
  readonly root?: Route | undefined;
}

/**
 * The `exact` or `prefix` of a host without such routes: shared, so that 10,000 hosts of one
 * route each do not keep 20,000 maps (about 4 MB of the old generation, which every young
 * collection pays for).
 */
export const NO_ROUTES: ReadonlyMap<string, Route> = new Map();

export function matchPaths(h: HostRoutes, path: string): Route | undefined {
  if (h.root !== undefined) return h.root;
  if (h.prioritized) return matchByPriority(h, path);
  if (h.exact.size) {
    const e = h.exact.get(path);
    if (e) return e;
  }
  const prefix = h.prefix;
  if (!prefix.size) return undefined;
  // Walk the path's element boundaries from the longest prefix to the shortest.
  let key = prefixKey(path);
  for (;;) {
    const r = prefix.get(key);
    if (r) return r;
    if (key.length === 0) return undefined;
    key = prefixKey(key.slice(0, key.lastIndexOf('/')));
  }
}

/** Among every route that matches, the highest priority wins; equal priorities keep the usual order. */
function matchByPriority(h: HostRoutes, path: string): Route | undefined {
  let best: Route | undefined;
  const consider = (r: Route | undefined) => {
    if (r && (!best || (r.priority ?? 0) > (best.priority ?? 0))) best = r;
  };
  consider(h.exact.get(path));
  let key = prefixKey(path);
  for (;;) {
    consider(h.prefix.get(key));
    if (key.length === 0) break;
    key = prefixKey(key.slice(0, key.lastIndexOf('/')));
  }
  return best;
}

export class CompiledTable implements RouteTable {
  /**
   * The exact hosts whose only route is Prefix `/` (most hosts), straight to that route: a
   * request for one of 10,000 hosts then reads an index slot and the route, not also a map's
   * bucket, entry and key string and the host's HostRoutes (each a cache miss of its own).
   */
  readonly roots: HostIndex<Route>;

  constructor(
    readonly version: number,
    /** Exact rule hosts. */
    readonly exact: ReadonlyMap<string, HostRoutes>,
    /** Wildcard rule hosts, keyed by the suffix after `*.`. */
    readonly wildcard: ReadonlyMap<string, HostRoutes>,
    readonly hostless: HostRoutes | undefined,
    readonly fallback: Route | undefined,
    readonly tls: ReadonlyMap<string, TlsBinding> = new Map(),
    /** The root hosts of `exact` when the caller has them (HostIndex.withChanges of the previous table's); else built here. */
    roots?: HostIndex<Route>,
  ) {
    if (roots !== undefined) {
      this.roots = roots;
      return;
    }
    const entries: [string, Route][] = [];
    for (const [host, h] of exact) if (h.root !== undefined) entries.push([host, h.root]);
    this.roots = new HostIndex(entries);
  }

  match(host: string, path: string): Route | undefined {
    const i = this.roots.indexOf(host);
    if (i >= 0) return this.roots.valueAt(i);
    const e = this.exact.get(host);
    if (e) {
      const r = matchPaths(e, path);
      if (r) return r;
    }
    if (this.wildcard.size) {
      const suffix = wildcardSuffix(host);
      const w = suffix === undefined ? undefined : this.wildcard.get(suffix);
      if (w) {
        const r = matchPaths(w, path);
        if (r) return r;
      }
    }
    if (this.hostless) {
      const r = matchPaths(this.hostless, path);
      if (r) return r;
    }
    return this.fallback;
  }

  routes(): Route[] {
    const out: Route[] = [];
    const add = (h: HostRoutes) => {
      out.push(...h.exact.values(), ...h.prefix.values());
      if (h.root !== undefined) out.push(h.root);
    };
    for (const h of this.exact.values()) add(h);
    for (const h of this.wildcard.values()) add(h);
    if (this.hostless) add(this.hostless);
    if (this.fallback) out.push(this.fallback);
    return out;
  }

  hostCount(): number {
    return this.exact.size + this.wildcard.size + (this.hostless ? 1 : 0);
  }
}
