/**
 * The V8 heap policy of a gangplank process.
 *
 * Allocation-site pretenuring is off. V8 allocates objects straight into the old generation when
 * the place that allocates them saw most of its objects survive a young collection. A proxy
 * has short-lived objects per request that live across one event-loop turn or two (the exchange, its
 * header lists, the stream objects of an HTTP/2 request), and which of them look long-lived
 * depends on the load that came first: after an HTTP/1.1 load, the HTTP/2 requests that
 * followed on the same process had their objects pretenured, the old generation filled with
 * garbage at about 70 MB/s, a full collection ran every second and each young collection took
 * 6 ms instead of 0.8 ms (GC 14% of the CPU instead of 4%; 0.050 CPU s per 1,000 h2 requests
 * instead of 0.039). With pretenuring off, the order of loads no longer matters; the long-lived
 * state (routes, pools) is allocated once and moves to the old generation after two
 * collections anyway. Measured with bench/proxy (`--only small,h2`, h2 after HTTP/1.1).
 *
 * Must run before the process starts serving: sites already tenured keep their decision.
 */
export function applyHeapPolicy(): void {
  setFlagsFromString('--no-allocation-site-pretenuring');
}

/**
 * Start-up (parsing every manifest, compiling every route) allocates far more than the steady
 * state keeps, and V8 may keep the heap it grew for that: with 10,000 Ingresses, Services and
 * EndpointSlices the idle process measured 283-287 MiB or 331 MiB depending on when V8 last
 * collected during start-up; with one full collection once the initial state is loaded it
 * settles at 245-260 MiB within seconds. V8's gc() is exposed only behind --expose-gc, so the flag is set at run time for
 * this one call (a new context then has gc as a global).
 *
 * That collection also compacts (--compact-on-every-full-gc, on for this one call): the objects
 * kept are scattered over pages the load filled with what it threw away, and V8's own choice of
 * pages to compact left them there. With 10,000 hosts (2026-11-27, `--trace-gc`): the heap after
 * the collection 146.9 MB committed for 56.3 MB live, 90.7 MB with compaction; RSS at /readyz
 * 217 MB, 158 MB with it; the collection 51 ms, 125 ms with it, once, before traffic. Requests
 * per CPU second afterwards the same (bench:ab, 10,000 hosts: 1.006×, standard error 0.016).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Runs one full garbage collection; returns how long it took (ms), or undefined if V8 offers none. */
export function collectStartupGarbage(): number | undefined {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('typeof gc === "function" ? gc : undefined') as (() => void) | undefined;
  if (gc === undefined) return undefined;
  const t0 = performance.now();
  // A full collection that compacts (see above); V8 hands the freed pages back over the next
  // seconds (a 'last-resort' collection, tried too, kept more resident memory).
  setFlagsFromString('--compact-on-every-full-gc');
  try {
    gc();
  } finally {
    setFlagsFromString('--no-compact-on-every-full-gc');
  }
  return performance.now() - t0;
}
