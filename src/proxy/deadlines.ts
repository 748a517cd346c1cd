/**
 * Connection time limits kept as deadlines and checked by one interval timer per owner, instead of
 * a timer per connection: socket.setTimeout makes a new timer and a bound function on every call
 * (several per request) and refreshes a timer list on every read and write.
 *
 * Deadlines are counted in sweeps, not read from a clock: arming one (several times per request)
 * is an addition, where performance.now() was a call into Node each time. The tick is an eighth of
 * the shortest limit, between 10 and 250 ms; a deadline fires never early (an interval timer never
 * fires early) and at most two ticks late, later only when the event loop itself is late.
 */

/** Something with a deadline (a sweep number from DeadlineSweeper.due) the sweeper checks. */
export interface Expiring {
  /** `sweep`: the number of the sweep running now. */
  expireIfDue(sweep: number): void;
}

export class DeadlineSweeper {
  private timer: NodeJS.Timeout | undefined;
  readonly tickMs: number;
  /** Sweeps done so far (the clock deadlines are kept in). */
  private sweeps = 0;

  /** `items`: the live set the sweeps walk; `limitsMs`: the limits in use (positive ones count). */
  constructor(
    private readonly items: ReadonlySet<Expiring>,
    limitsMs: readonly number[],
  ) {
    const shortest = Math.min(...limitsMs.filter((ms) => ms > 0), 2_000);
    this.tickMs = Math.max(10, Math.min(250, shortest / 8));
  }

  /**
   * The sweep by which `ms` from now have passed for certain: the next sweep is at most a tick
   * away, and each later one at least a tick after the one before.
   */
  due(ms: number): number {
    return this.sweeps + Math.ceil(ms / this.tickMs) + 1;
  }

  /** A deadline was armed: make sure someone looks (the sweeps stop by themselves when the set is empty). */
  watch(): void {
    this.timer ??= setInterval(() => this.sweep(), this.tickMs).unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private sweep(): void {
    if (this.items.size === 0) {
      this.stop();
      return;
    }
    const sweep = ++this.sweeps;
    for (const c of this.items) c.expireIfDue(sweep);
  }
}
