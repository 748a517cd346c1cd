/**
 * Keep-alive connection pools to backend endpoints, shared across route-table versions: for
 * plain-HTTP backends gangplank's own HTTP/1.1 client (src/proxy/h1client.ts), for TLS backends
 * and protocol upgrades an undici Pool, for h2c backends HTTP/2 sessions. Pools of origins no
 * table mentions any more are closed after a grace period (in-flight requests finish first).
 */
import { Pool } from 'undici';
import type { RouteTable, UpstreamEndpoint, UpstreamScheme } from '../controllers/routes/types.js';
import { H1Pool } from './h1client.js';
import { H2Sessions } from './h2upstream.js';

export interface UpstreamOptions {
  connectMs: number;
  responseHeaderMs: number;
  /** Longest silence while a response body streams. */
  upstreamIdleMs: number;
  /** Extra CA certificates (PEM) trusted for `https` backends, on top of the system store. */
  ca?: string[];
  /** How long a pool no table references stays open. Default 60 s. */
  retireMs?: number;
}

interface Entry {
  pool: Pool | H1Pool;
  origin: string;
  /** When the pool was last seen unreferenced by the current table; 0 while referenced. */
  orphanSince: number;
}

export class UpstreamPools {
  private readonly pools = new Map<string, Entry>();
  private readonly retireMs: number;
  private timer: NodeJS.Timeout | undefined;
  /** The table being served, and the one whose origins the pools were last marked against. */
  private table: RouteTable | undefined;
  private marked: RouteTable | undefined;
  /** Sessions to h2c backends (undici has no h2c). */
  readonly h2: H2Sessions;
  readonly responseHeaderMs: number;
  readonly upstreamIdleMs: number;

  constructor(private readonly o: UpstreamOptions) {
    this.retireMs = o.retireMs ?? 60_000;
    this.h2 = new H2Sessions({ connectMs: o.connectMs });
    this.responseHeaderMs = o.responseHeaderMs;
    this.upstreamIdleMs = o.upstreamIdleMs;
  }

  /** The undici pool for an endpoint (TLS backends, upgrades). The origin's scheme follows the backend's scheme. */
  get(ep: UpstreamEndpoint, scheme: UpstreamScheme): Pool {
    // Origins hold no spaces: these keys never meet the bare origins of the HTTP/1.1 pools.
    const key = `${scheme} ${ep.origin}`;
    const e = this.pools.get(key);
    if (e !== undefined) return e.pool as Pool;
    return this.create(key, ep, scheme);
  }

  /** gangplank's own HTTP/1.1 pool for a plain-HTTP endpoint (the hot path: keyed by the bare origin, no string building). */
  h1(ep: UpstreamEndpoint): H1Pool {
    const key = ep.origin;
    const e = this.pools.get(key);
    if (e !== undefined) return e.pool as H1Pool;
    const pool = new H1Pool({
      host: ep.address,
      port: ep.port,
      connectMs: this.o.connectMs,
      headersMs: this.o.responseHeaderMs,
      bodyIdleMs: this.o.upstreamIdleMs,
      keepAliveMs: 4_000,
    });
    this.pools.set(key, { pool, origin: ep.origin, orphanSince: 0 });
    return pool;
  }

  private create(key: string, ep: UpstreamEndpoint, scheme: UpstreamScheme): Pool {
    const tls = scheme === 'https';
    const host = ep.address.includes(':') ? `[${ep.address}]` : ep.address;
    const url = `${tls ? 'https' : 'http'}://${host}:${ep.port}`;
    const pool = new Pool(url, {
      connections: null,
      pipelining: 1,
      headersTimeout: this.o.responseHeaderMs,
      bodyTimeout: this.o.upstreamIdleMs,
      keepAliveTimeout: 4_000,
      keepAliveMaxTimeout: 60_000,
      connect: tls
        ? { timeout: this.o.connectMs, rejectUnauthorized: true, ...(this.o.ca ? { ca: this.o.ca } : {}) }
        : { timeout: this.o.connectMs },
    });
    this.pools.set(key, { pool, origin: ep.origin, orphanSince: 0 });
    return pool;
  }

  /**
   * The table now served. Which pools it no longer references is worked out by the next sweep,
   * not here: walking every route of a 10,000-host table took milliseconds of each change's way
   * to serving, for pools that are closed a grace period later anyway.
   */
  retain(table: RouteTable): void {
    this.table = table;
    this.timer ??= setInterval(() => this.sweep(), Math.max(1000, Math.min(this.retireMs, 30_000))).unref();
  }

  /** Marks the pools the served table does not reference (once per table). */
  private mark(now: number): void {
    const table = this.table;
    if (table === undefined || table === this.marked) return;
    this.marked = table;
    const live = new Set<string>();
    for (const r of table.routes()) for (const ep of r.backend.endpoints) live.add(ep.origin);
    for (const e of this.pools.values()) {
      if (live.has(e.origin)) e.orphanSince = 0;
      else if (e.orphanSince === 0) e.orphanSince = now;
    }
    if (this.h2.size() !== 0) this.h2.retain(live);
  }

  /** Closes pools the served table has not referenced for retireMs (counted from the sweep that noticed). */
  sweep(now = Date.now()): number {
    this.mark(now);
    let closed = 0;
    for (const [key, e] of this.pools) {
      if (e.orphanSince !== 0 && now - e.orphanSince >= this.retireMs) {
        this.pools.delete(key);
        closePool(e.pool);
        closed++;
      }
    }
    return closed;
  }

  size(): number {
    return this.pools.size;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.h2.close();
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(all.map((e) => (e.pool instanceof H1Pool ? e.pool.destroy() : e.pool.destroy().catch(() => undefined))));
  }
}

/** Lets in-flight requests finish, then closes. */
function closePool(pool: Pool | H1Pool): void {
  if (pool instanceof H1Pool) pool.close();
  else pool.close().catch(() => pool.destroy());
}
