/**
 * Which ACME solver answers for a name, by cert-manager's rules: a solver whose selector lists
 * the name exactly wins over one whose dnsZones contain it (the longest zone first), which wins
 * over one matching only by labels (more labels first), which wins over a catch-all (no
 * selector). matchLabels, when given, must always match the Certificate's labels.
 */
import type { AcmeSolver } from '../../../api/certmanager.js';

export type ChallengeType = 'http-01' | 'dns-01';

export function solverType(s: AcmeSolver): ChallengeType {
  return s.dns01 ? 'dns-01' : 'http-01';
}

function score(s: AcmeSolver, name: string, labels: Record<string, string>): number[] | undefined {
  const sel = s.selector;
  const matchLabels = sel?.matchLabels ?? {};
  for (const [k, v] of Object.entries(matchLabels)) if (labels[k] !== v) return undefined;
  const nLabels = Object.keys(matchLabels).length;
  const n = name.toLowerCase();
  if (sel?.dnsNames?.length) {
    if (!sel.dnsNames.some((d) => d.toLowerCase() === n)) return undefined;
    return [3, 0, nLabels];
  }
  if (sel?.dnsZones?.length) {
    const bare = n.startsWith('*.') ? n.slice(2) : n;
    let best = -1;
    for (const z of sel.dnsZones) {
      const zone = z.toLowerCase().replace(/\.$/, '');
      if ((bare === zone || bare.endsWith('.' + zone)) && zone.length > best) best = zone.length;
    }
    if (best < 0) return undefined;
    return [2, best, nLabels];
  }
  return [nLabels > 0 ? 1 : 0, 0, nLabels];
}

/**
 * The solver for `name` (as in the Certificate, `*.` kept for wildcards) among those of the
 * allowed challenge types; undefined when none fits. Ties keep the earlier solver in the list.
 */
export function selectSolver(
  solvers: readonly AcmeSolver[],
  name: string,
  labels: Record<string, string> = {},
  allowed: readonly ChallengeType[] = ['http-01', 'dns-01'],
): { solver: AcmeSolver; index: number } | undefined {
  let best: { solver: AcmeSolver; index: number; score: number[] } | undefined;
  solvers.forEach((solver, index) => {
    if (!allowed.includes(solverType(solver))) return;
    const sc = score(solver, name, labels);
    if (!sc) return;
    if (!best || compare(sc, best.score) > 0) best = { solver, index, score: sc };
  });
  return best ? { solver: best.solver, index: best.index } : undefined;
}

function compare(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}
