/**
 * Start-up (parsing every manifest, compiling every route) allocates far more than the steady
 * state keeps, and V8 may keep the heap it grew for that: with 10,000 Ingresses, Services and
 * EndpointSlices the idle process measured 283-287 MiB or 331 MiB depending on when V8 last
 * collected during start-up; with one full collection once the initial state is loaded it
 * settles at 245-260 MiB within seconds. V8's gc() is exposed only behind --expose-gc, so the flag is set at run time for
 * this one call (a new context then has gc as a global).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Runs one full garbage collection; returns how long it took (ms), or undefined if V8 offers none. */
export function collectStartupGarbage(): number | undefined {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('typeof gc === "function" ? gc : undefined') as (() => void) | undefined;
  if (gc === undefined) return undefined;
  const t0 = performance.now();
  // A regular full collection; V8 hands the freed pages back over the next seconds (a
  // 'last-resort' collection, tried too, kept more resident memory).
  gc();
  return performance.now() - t0;
}
