/**
 * BIND 9 as the reference authoritative server for the dnsperf row: the same zones and records
 * as gangplank serves, one worker thread (-n 1), pinned like gangplank.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startPinned, type Pinned } from '../lib/procs.js';
import { namedOptions } from '../../test/harness/bind.js';

export function zoneFile(zone: string, records: readonly { name: string; address: string }[]): string {
  const lines = [`$ORIGIN ${zone}.`, '$TTL 300', `@ IN SOA ns.${zone}. hostmaster.${zone}. 1 3600 600 86400 60`, `@ IN NS ns.${zone}.`, 'ns IN A 127.0.0.1'];
  for (const r of records) lines.push(`${r.name}. IN A ${r.address}`);
  return lines.join('\n') + '\n';
}

export function startNamed(named: string, dir: string, port: number, zones: Map<string, { name: string; address: string }[]>, cpus: string): Pinned {
  let stmts = '';
  let i = 0;
  for (const [zone, records] of zones) {
    const file = join(dir, `zone${i++}.db`);
    writeFileSync(file, zoneFile(zone, records));
    stmts += `zone "${zone}" { type primary; file "${file}"; };\n`;
  }
  const conf = join(dir, 'named.conf');
  writeFileSync(
    conf,
    `${namedOptions(dir, port, ['minimal-responses yes;'])}
${stmts}`,
  );
  return startPinned(named, ['-g', '-n', '1', '-u', 'root', '-c', conf], { cpus, name: 'named' });
}
