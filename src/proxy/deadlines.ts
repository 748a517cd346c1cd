/**
 * Connection time limits kept as deadlines and checked by one interval timer per owner, instead of
 * a timer per connection: socket.setTimeout makes a new timer and a bound function on every call
 * (several per request) and refreshes a timer list on every read and write. A deadline fires at
 * most one tick late; the tick is an eighth of the shortest limit, between 10 and 250 ms.
 */

/** Something with a deadline (performance.now() clock) the sweeper checks. */
export interface Expiring {
  expireIfDue(now: number): void;
}

export class DeadlineSweeper {
  private timer: NodeJS.Timeout | undefined;
  private readonly tickMs: number;

  /** `items`: the live set the sweeps walk; `limitsMs`: the limits in use (positive ones count). */
  constructor(
    private readonly items: ReadonlySet<Expiring>,
    limitsMs: readonly number[],
  ) {
    const shortest = Math.min(...limitsMs.filter((ms) => ms > 0), 2_000);
    this.tickMs = Math.max(10, Math.min(250, shortest / 8));
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
    const now = performance.now();
    for (const c of this.items) c.expireIfDue(now);
  }
}
