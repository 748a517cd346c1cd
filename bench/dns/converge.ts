/**
 * Whether gangplank's DNS controller has converged, judged from its /api/dns view: every desired
 * record is in its zone with the desired targets, and no zone reports errors. Pure.
 */

export interface DnsViewRecord {
  name: string;
  type: string;
  targets: string[];
}

export interface DnsView {
  desired: DnsViewRecord[];
  zones: { zone: string; records: DnsViewRecord[]; errors: unknown[] }[];
}

export interface Convergence {
  converged: boolean;
  desired: number;
  present: number;
  missing: string[];
  errors: number;
}

const norm = (n: string) => n.toLowerCase().replace(/\.$/, '');
const key = (r: DnsViewRecord) => `${norm(r.name)} ${r.type} ${[...r.targets].map(norm).sort().join(',')}`;

/** `expected` is how many desired records the benchmark generated (a partial load is not converged). */
export function convergence(view: DnsView, expected: number): Convergence {
  const have = new Set<string>();
  let errors = 0;
  for (const z of view.zones) {
    errors += z.errors.length;
    for (const r of z.records) have.add(key(r));
  }
  const missing: string[] = [];
  let present = 0;
  for (const d of view.desired) {
    if (have.has(key(d))) present++;
    else if (missing.length < 5) missing.push(`${d.name} ${d.type}`);
  }
  return { converged: view.desired.length === expected && present === expected && errors === 0, desired: view.desired.length, present, missing, errors };
}
