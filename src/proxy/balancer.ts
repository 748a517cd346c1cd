/**
 * Endpoint choice: round robin over a backend's ready endpoints, skipping endpoints that
 * recently refused connections (passive health), and sticky cookies.
 *
 * State lives outside the route table so it survives table swaps: round-robin positions by
 * backend id, health by endpoint origin.
 */
import { createHash } from 'node:crypto';
import type { Backend, UpstreamEndpoint } from '../controllers/routes/types.js';

export interface BalancerOptions {
  /** How long an endpoint that failed to connect is skipped. Default 10 s. */
  unhealthyMs?: number;
}

export class Balancer {
  private readonly rr = new Map<string, { next: number }>();
  private readonly downUntil = new Map<string, number>();
  private readonly hashes = new Map<string, string>();
  private readonly unhealthyMs: number;

  constructor(o: BalancerOptions = {}) {
    this.unhealthyMs = o.unhealthyMs ?? 10_000;
  }

  /**
   * The next endpoint for a backend, skipping `exclude` and endpoints marked down. When every
   * endpoint is down, falls back to plain round robin: a guess beats a certain 503.
   */
  pick(b: Backend, exclude?: UpstreamEndpoint): UpstreamEndpoint | undefined {
    const eps = b.endpoints;
    const n = eps.length;
    if (n === 0) return undefined;
    if (n === 1) {
      const only = eps[0]!;
      return only === exclude ? undefined : only;
    }
    let st = this.rr.get(b.id);
    if (st === undefined) {
      st = { next: 0 };
      this.rr.set(b.id, st);
    }
    const start = st.next;
    const now = this.downUntil.size === 0 ? 0 : Date.now();
    let fallback: UpstreamEndpoint | undefined;
    for (let k = 0; k < n; k++) {
      const ep = eps[(start + k) % n]!;
      if (ep === exclude || !ep.ready) continue;
      if (now !== 0 && this.isDownAt(ep.origin, now)) {
        fallback ??= ep;
        continue;
      }
      st.next = (start + k + 1) % n;
      return ep;
    }
    st.next = (start + 1) % n;
    return fallback;
  }

  /** The endpoint a sticky cookie value names, if it is still ready and not marked down. */
  sticky(b: Backend, value: string): UpstreamEndpoint | undefined {
    const eps = b.endpoints;
    for (let i = 0; i < eps.length; i++) {
      const ep = eps[i]!;
      if (ep.ready && this.cookieValue(ep.origin) === value) {
        return this.isDownAt(ep.origin, Date.now()) ? undefined : ep;
      }
    }
    return undefined;
  }

  /** Sticky cookie value for an endpoint: a hash, so the cookie does not reveal internal addresses. */
  cookieValue(origin: string): string {
    let h = this.hashes.get(origin);
    if (h === undefined) {
      h = createHash('sha256').update('gangplank-sticky\0' + origin).digest('hex').slice(0, 16);
      if (this.hashes.size > 100_000) this.hashes.clear();
      this.hashes.set(origin, h);
    }
    return h;
  }

  /** Passive health: an endpoint that refused a connection is skipped for a while. */
  markDown(origin: string): void {
    this.downUntil.set(origin, Date.now() + this.unhealthyMs);
  }

  markUp(origin: string): void {
    if (this.downUntil.size !== 0) this.downUntil.delete(origin);
  }

  isDown(origin: string): boolean {
    return this.downUntil.size !== 0 && this.isDownAt(origin, Date.now());
  }

  private isDownAt(origin: string, now: number): boolean {
    const until = this.downUntil.get(origin);
    if (until === undefined) return false;
    if (until <= now) {
      this.downUntil.delete(origin);
      return false;
    }
    return true;
  }
}

/** The value of cookie `name` in a Cookie header, or undefined. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  let i = 0;
  while (i < header.length) {
    while (header.charCodeAt(i) === 32) i++;
    let end = header.indexOf(';', i);
    if (end < 0) end = header.length;
    const eq = header.indexOf('=', i);
    if (eq > 0 && eq < end && header.slice(i, eq).trim() === name) return header.slice(eq + 1, end).trim();
    i = end + 1;
  }
  return undefined;
}
