/**
 * A handler's copy of a route table's root hosts (RouteTable.roots) with words of its own in each
 * host's slot (HostIndex.withWords): what the handler derived from the host's route (its upstream
 * pool, its metrics row) and the run of requests it answered since the status or method last
 * changed (counts of the fast buckets, the seconds they took).
 *
 * Among 10,000 hosts, every request is for a host whose data left the CPU's caches since its last
 * request. Reading the pool from a per-handler array by root number and counting into the route's
 * metrics row were two more cache misses beside the index slot's; here the request reads and
 * writes the one slot the lookup already brought in. Measured with a throwaway of this design
 * against the arrays: +5.0% requests per CPU second at 10,000 hosts (standard error 1.2%), +2.0%
 * at one host (docs/benchmarks.md, "The 10,000-host target").
 *
 * Runs are carried into the route's metrics row (EntrypointMetrics.addRun) when the key changes,
 * before each scrape (flush), and when the handler moves to a new table (retire). Requests slower
 * than FAST5 count in the row straight away, as do requests that finish after their copy stopped
 * counting (live is false then).
 */
import { type HostIndex, OWNER_AT, SHORT_OWNER } from '../controllers/routes/hostindex.js';
import type { Route, RouteTable } from '../controllers/routes/types.js';
import type { H1Pool } from './h1client.js';
import { FAST1, FAST5, type EntrypointMetrics, type PendingRuns } from './metrics.js';

// The handler's words of a slot, as offsets from the slot's start: five, so that the slot is one
// cache line of 16 words with room for hosts of up to 32 characters (HostIndex.withWords).
/**
 * The pool number + 1 (bits 0-15; 0: nothing remembered for the host), the run's counter key
 * (bits 16-29: keyOf; 0: no run yet) and whether the slot is in `touched` (bit 30).
 */
const PK = OWNER_AT;
/** The run's seconds: a Float64 over this word and the next (an even word: slots are 16 words). */
const SUM = OWNER_AT + 1;
/** The route's metrics row (EntrypointMetrics.rowOf, in the epoch this copy was made in). */
const ROW = OWNER_AT + 3;
/** Requests of the run that took at most FAST1 seconds (bits 0-15), and more than that but at most FAST5 (bits 16-31). */
const NS = OWNER_AT + 4;
const WORDS = 5;
const POOL_MASK = 0xffff;
const KEY_SHIFT = 16;
const KEY_MAX = 0x3fff;
const LISTED = 1 << 30;
/** A count is carried before it could overflow its 16 bits. */
const FULL = 0xffff;
/** One request in the FAST5 bucket of the NS word. */
const ONE_N5 = 0x10000;

/** The run's counter key in a PK word. */
const keyIn = (pk: number): number => (pk >>> KEY_SHIFT) & KEY_MAX;
/** The FAST1 and FAST5 counts in an NS word (read right even when N5's top bit made the Int32 negative). */
const n1In = (ns: number): number => ns & FULL;
const n5In = (ns: number): number => ns >>> 16;

if ((SUM & 1) !== 0) throw new Error('hothosts: the run sum must start at an even word');
if (WORDS > SHORT_OWNER) throw new Error('hothosts: a slot of one cache line holds at most SHORT_OWNER owner words');

export class HotHosts implements PendingRuns {
  /** False once stopped, retired or dropped: a request still holding this copy counts in its row instead. */
  live = true;
  /** Registered with the metrics (its runs are carried before each scrape) until retired or dropped. */
  private held = true;
  private readonly index: HostIndex<Route>;
  private readonly slots: Int32Array;
  private readonly sums: Float64Array;
  /** By pool number: few distinct pools serve many hosts, so this array stays in the cache. */
  private readonly pools: H1Pool[] = [];
  private readonly poolNumbers = new Map<H1Pool, number>();
  /** Slots with a run since the last flush. */
  private touched: number[] = [];

  /** `previous`: the handler's copy before this one, retired or dropped: its slots are reused when of the size needed. */
  constructor(
    readonly table: RouteTable,
    roots: HostIndex<Route>,
    private readonly metrics: EntrypointMetrics,
    previous?: HotHosts,
  ) {
    if (previous !== undefined && (previous.live || previous.held)) throw new Error('HotHosts: the previous copy is not retired');
    this.index = roots.withWords(WORDS, previous?.slots);
    this.slots = this.index.slots;
    this.sums = new Float64Array(this.slots.buffer, this.slots.byteOffset, this.slots.length >> 1);
    metrics.hold(this);
  }

  /** Where `host`'s slot starts, or -1 when it is no root host of the table. */
  slotOf(host: string): number {
    return this.index.slotOf(host);
  }

  /** The route of the host at `at`. */
  route(at: number): Route {
    return this.index.valueOfSlot(at);
  }

  /** The index of the host at `at`'s route, for routeAt: valid for as long as this copy exists, where `at` is valid only until the copy is retired (its slots are then reused). */
  valueIndex(at: number): number {
    return this.index.valueIndexOfSlot(at);
  }

  /** The route of value index `i` (valueIndex). */
  routeAt(i: number): Route {
    return this.index.valueAt(i);
  }

  /** The pool remembered for the host at `at`, or undefined. */
  pool(at: number): H1Pool | undefined {
    const n = this.slots[at + PK]! & POOL_MASK;
    return n === 0 ? undefined : this.pools[n - 1];
  }

  /** The metrics row remembered with the pool. */
  row(at: number): number {
    return this.slots[at + ROW]!;
  }

  /**
   * Every request for the host at `at` goes to `pool` and counts in metrics row `row` (of this
   * copy's epoch); false (nothing remembered) when the copy already numbers POOL_MASK pools.
   */
  remember(at: number, pool: H1Pool, row: number): boolean {
    let n = this.poolNumbers.get(pool);
    if (n === undefined) {
      if (this.pools.length >= POOL_MASK) return false;
      this.pools.push(pool);
      n = this.pools.length;
      this.poolNumbers.set(pool, n);
    }
    const s = this.slots;
    const w = s[at + PK]!;
    // A run under another row (the host's route was remembered before) goes to that row first.
    if ((w & POOL_MASK) !== 0 && s[at + ROW] !== row) this.carry(at);
    s[at + PK] = (w & ~POOL_MASK) | n;
    s[at + ROW] = row;
    return true;
  }

  /**
   * Counts a finished request for a host with a remembered row (key: keyOf of its status and
   * method); false when it is too slow for a run (the caller counts it in the row).
   */
  count(at: number, key: number, seconds: number): boolean {
    if (!(seconds <= FAST5) || key > KEY_MAX) return false;
    const s = this.slots;
    let w = s[at + PK]!;
    if (keyIn(w) !== key) {
      if (s[at + NS] !== 0) this.carry(at);
      w = (w & ~(KEY_MAX << KEY_SHIFT)) | (key << KEY_SHIFT);
    }
    if ((w & LISTED) === 0) {
      w |= LISTED;
      this.touched.push(at);
    }
    s[at + PK] = w;
    const ns = s[at + NS]! + (seconds <= FAST1 ? 1 : ONE_N5);
    s[at + NS] = ns;
    this.sums[(at + SUM) >> 1]! += seconds;
    if (n1In(ns) === FULL || n5In(ns) === FULL) this.carry(at);
    return true;
  }

  /** Carries the run of the slot at `at` into its row. */
  private carry(at: number): void {
    const s = this.slots;
    const ns = s[at + NS]!;
    if (ns === 0) return;
    const sum = (at + SUM) >> 1;
    this.metrics.addRun(s[at + ROW]!, keyIn(s[at + PK]!), n1In(ns), n5In(ns), this.sums[sum]!);
    s[at + NS] = 0;
    this.sums[sum] = 0;
  }

  /** PendingRuns: carries every run into its row. */
  flush(): void {
    const s = this.slots;
    for (const at of this.touched) {
      this.carry(at);
      s[at + PK] = s[at + PK]! & ~LISTED;
    }
    this.touched = [];
  }

  /** PendingRuns: the metrics were reset; the runs and rows belong to the forgotten series. */
  drop(): void {
    this.live = false;
    this.held = false;
    this.touched = [];
  }

  /** Counts no more requests; its runs stay until retired (or carried by a scrape before that). */
  stop(): void {
    this.live = false;
  }

  /** The handler is done with this copy (a new table, or it stops): carries the runs and leaves the metrics. */
  retire(): void {
    this.live = false;
    if (!this.held) return;
    this.flush();
    this.held = false;
    this.metrics.release(this);
  }
}
