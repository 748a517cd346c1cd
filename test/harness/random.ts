/** A reproducible pseudo-random source for generated test inputs: `rnd(n)` is an integer in [0, n). */
export function seededRandom(seed: number): (n: number) => number {
  let s = seed;
  return (n: number) => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s % n;
  };
}
