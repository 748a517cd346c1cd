/**
 * Result tables: one markdown table per load, each row with ratios against the nginx row of the
 * same table (same run, same machine), since absolute numbers on shared machines mean little.
 */
import type { LoadResult } from './wrk.js';

export interface Row {
  system: string;
  result?: LoadResult;
  /** CPU seconds of the system under test per 1,000 requests. */
  cpuPer1k?: number;
  /** Share of the measured CPU used by other processes during the run (noise indicator). */
  othersPct?: number;
  /** Why there is no result ("n/a (not implemented yet)"). */
  na?: string;
}

export interface Table {
  title: string;
  /** What the load is, said plainly (tool, connections, body). */
  load: string;
  rows: Row[];
  /** Name of the row the ratios refer to. */
  reference: string;
}

function fmt(n: number | undefined, digits: number): string {
  if (n === undefined || !Number.isFinite(n)) return '–';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return '–';
  return `${(a / b).toFixed(2)}×`;
}

export const HEADER = ['system', 'req/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'CPU s/1k req', 'req/s vs nginx', 'CPU vs nginx', 'CPU 0 taken by others', 'errors'];

/** One table as markdown rows (header included). */
export function tableMarkdown(t: Table): string {
  const ref = t.rows.find((r) => r.system === t.reference);
  const lines = [`### ${t.title}`, '', t.load, '', `| ${HEADER.join(' | ')} |`, `|${HEADER.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`];
  for (const r of t.rows) {
    if (!r.result) {
      lines.push(`| ${r.system} | ${r.na ?? 'n/a'} |${' |'.repeat(HEADER.length - 2)}`);
      continue;
    }
    const x = r.result;
    const errors = x.errors ? `${x.errors}${x.note ? ` (${x.note})` : ''}` : '0';
    lines.push(
      `| ${r.system} | ${fmt(x.rps, 0)} | ${fmt(x.p50Ms, 2)} | ${fmt(x.p99Ms, 2)} | ${fmt(x.p999Ms, 2)} | ${fmt(r.cpuPer1k, 3)} | ${ratio(x.rps, ref?.result?.rps)} | ${ratio(r.cpuPer1k, ref?.cpuPer1k)} | ${r.othersPct === undefined ? '–' : `${r.othersPct.toFixed(0)}%`} | ${errors} |`,
    );
  }
  return lines.join('\n') + '\n';
}

export interface Fact {
  what: string;
  value: string;
  note?: string;
}

export function factsMarkdown(title: string, facts: readonly Fact[]): string {
  const lines = [`### ${title}`, '', '| measurement | value | note |', '| --- | ---: | --- |'];
  for (const f of facts) lines.push(`| ${f.what} | ${f.value} | ${f.note ?? ''} |`);
  return lines.join('\n') + '\n';
}
