/**
 * Starts the embedded DNS server with 1,000 records for a dnsperf run (not a test):
 *   taskset -c 0 node --import tsx test/dnsserver/perf-server.ts 15353 &
 *   taskset -c 1 dnsperf -s 127.0.0.1 -p 15353 -d queries.txt -l 10
 */
import { DnsServer } from '../../src/dnsserver/server.js';
import { silentLogger } from '../../src/runtime/logger.js';
import { emptyChangeSet } from '../../src/controllers/dns/types.js';
const s = new DnsServer({ bind: '127.0.0.1', port: Number(process.argv[2] ?? 15353), zones: ['example.test'], tsigKeys: [], logger: silentLogger() });
const create: Array<{ name: string; type: 'A' | 'CNAME' | 'TXT'; ttl: number; targets: string[] }> = [];
for (let i = 0; i < 1000; i++) create.push({ name: `h${i}.example.test`, type: 'A' as const, ttl: 60, targets: [`10.0.${i >> 8}.${i & 255}`] });
create.push({ name: 'www.example.test', type: 'A' as const, ttl: 60, targets: ['192.0.2.1', '192.0.2.2'] });
create.push({ name: 'alias.example.test', type: 'CNAME' as const, ttl: 60, targets: ['www.example.test'] });
create.push({ name: 'www.example.test', type: 'TXT' as const, ttl: 60, targets: ['heritage=external-dns,external-dns/owner=default'] });
s.apply({ ...emptyChangeSet(), create });
await s.start();
console.log('ready');
