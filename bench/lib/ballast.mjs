// Ballast for bench:ab (`--b-flags=--import=$PWD/bench/lib/ballast.mjs`): about 110 MB of long-lived
// small objects, strings, arrays, Maps and Sets, shaped like a 10,000-host table's, kept for the
// process's life. A 1-host process with it against one without measures what the old
// generation's size alone costs a request (docs/benchmarks.md, "The old generation's size").
const keep = [];
const n = Number(process.env.BALLAST_HOSTS ?? 10000);
for (let i = 0; i < n; i++) {
  const objs = [];
  for (let j = 0; j < 38; j++) objs.push({ name: 'n' + i + '-' + j, ns: 'default', v: j, labels: { app: 'a' + i }, list: [i, j, 'x' + j] });
  const m = new Map([[`h${i}`, objs[0]], [`g${i}`, objs[1]]]);
  const s = new Set([`s${i}`, `t${i}`]);
  keep.push({ objs, m, s, m2: new Map(m), s2: new Set(s), text: JSON.stringify(objs.slice(0, 6)) });
}
globalThis.__gangplankBallast = keep;
