/** The provider contract against gangplank's own embedded DNS server; foreign records arrive by nsupdate (TSIG). */
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { after, before } from 'node:test';
import { EmbeddedDnsProvider } from '../../../src/controllers/dns/providers/embedded.js';
import type { DnsRecord } from '../../../src/controllers/dns/types.js';
import { DnsServer } from '../../../src/dnsserver/server.js';
import { silentLogger } from '../../../src/runtime/logger.js';
import { freePort } from '../../harness/net.js';
import { requireBinary } from '../../harness/proc.js';
import { providerContract } from './contract.js';

const ZONE = 'embedded.test';
const NSUPDATE = requireBinary('/usr/bin/nsupdate', 'apt-get install -y bind9-dnsutils');
const key = { name: 'contract-key', algorithm: 'hmac-sha256' as const, secret: randomBytes(32) };
let server: DnsServer;
let port = 0;

before(async () => {
  port = await freePort({ udp: true });
  server = new DnsServer({ bind: '127.0.0.1', port, zones: [ZONE], tsigKeys: [key], logger: silentLogger() });
  await server.start();
});
after(async () => {
  await server?.stop();
});

function nsupdate(lines: string[]): Promise<void> {
  const script = [`server 127.0.0.1 ${port}`, ...lines, 'send', ''].join('\n');
  return new Promise((resolve, reject) => {
    const p = execFile(NSUPDATE, ['-y', `hmac-sha256:${key.name}:${key.secret.toString('base64')}`], (err, _o, stderr) => (err ? reject(new Error(stderr || err.message)) : resolve()));
    p.stdin!.end(script);
  });
}

const quoted = (t: string) => (t.match(/[\s\S]{1,255}/g) ?? ['']).map((c) => `"${c.replace(/["\\]/g, (m) => '\\' + m)}"`).join(' ');

providerContract('embedded (gangplank DNS server)', async () => ({
  provider: new EmbeddedDnsProvider(server),
  zone: ZONE,
  // One change set is one atomic update of the in-process zone: there is no batch limit.
  batchChangeSize: 1000,
  createExisting: 'rejects',
  deleteMissing: 'accepted',
  teardown: async () => {},
  addForeignRecord: (r: DnsRecord) => nsupdate(r.targets.map((t) => `update add ${r.name} ${r.ttl} ${r.type} ${r.type === 'TXT' ? quoted(t) : t}`)),
}));
