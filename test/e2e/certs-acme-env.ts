/**
 * Real peers for the ACME certificate tests: gangplank's embedded DNS server (in-process, with a
 * TSIG key, authoritative for example.test), Pebble validating against it, and a plain HTTP
 * server on Pebble's HTTP-01 port answering from Http01Registries (the router's job once wired).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { DnsServer } from '../../src/dnsserver/server.js';
import { emptyChangeSet } from '../../src/controllers/dns/types.js';
import { Http01Registry } from '../../src/controllers/certs/solvers/http01.js';
import { silentLogger } from '../../src/runtime/logger.js';
import { freePort } from '../harness/net.js';
import { startPebble, type Pebble, type PebbleOptions } from '../harness/pebble.js';
import { startCertEnv, type CertEnv } from '../unit/certs/controller-env.js';

export const ZONE = 'example.test';
export const TSIG_NAME = 'acme-key';

export interface AcmePeers {
  dns: DnsServer;
  dnsAddr: string;
  tsigSecret: Buffer;
  pebble: Pebble;
  /** Registries the HTTP-01 server answers from (add a controller's). */
  registries: Set<Http01Registry>;
  addA(name: string, ip?: string): void;
  /** The manifests of the TSIG Secret and an Issuer `pebble` in namespace `apps`, with a DNS-01 (rfc2136) solver and an HTTP-01 solver for names under http.example.test. */
  issuerDocs(opts?: { name?: string; kind?: 'Issuer' | 'ClusterIssuer' }): unknown[];
  stop(): Promise<void>;
}

export async function startAcmePeers(opts: { validityPeriodSec?: number; binary?: PebbleOptions['binary'] } = {}): Promise<AcmePeers> {
  const tsigSecret = randomBytes(32);
  const dns = new DnsServer({ bind: '127.0.0.1', port: 0, zones: [ZONE], tsigKeys: [{ name: TSIG_NAME, algorithm: 'hmac-sha256', secret: tsigSecret }], logger: silentLogger() });
  await dns.start();
  const dnsAddr = `127.0.0.1:${dns.address().udp}`;
  const registries = new Set<Http01Registry>();
  const httpPort = await freePort();
  const http: Server = createServer((req, res) => {
    const token = Http01Registry.tokenOf(req.url ?? '');
    for (const r of registries) {
      const v = token && r.get(token);
      if (v) {
        res.writeHead(200, { 'content-type': 'text/plain' }).end(v);
        return;
      }
    }
    res.writeHead(404).end('not found');
  });
  await new Promise<void>((r) => http.listen(httpPort, '127.0.0.1', r));
  let pebble: Pebble;
  try {
    pebble = await startPebble({ dnsServer: dnsAddr, httpPort, ...(opts.validityPeriodSec ? { validityPeriodSec: opts.validityPeriodSec } : {}), ...(opts.binary ? { binary: opts.binary } : {}) });
  } catch (err) {
    http.close();
    await dns.stop();
    throw err;
  }
  const addA = (name: string, ip = '127.0.0.1') => {
    const cs = emptyChangeSet();
    cs.create.push({ name, type: 'A', ttl: 60, targets: [ip] });
    dns.apply(cs);
  };
  return {
    dns,
    dnsAddr,
    tsigSecret,
    pebble,
    registries,
    addA,
    issuerDocs: ({ name = 'pebble', kind = 'Issuer' } = {}) => [
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'tsig', namespace: kind === 'Issuer' ? 'apps' : 'gangplank' }, data: { secret: Buffer.from(tsigSecret.toString('base64')).toString('base64') } },
      {
        apiVersion: 'cert-manager.io/v1',
        kind,
        metadata: { name, ...(kind === 'Issuer' ? { namespace: 'apps' } : {}) },
        spec: {
          acme: {
            server: pebble.directoryUrl,
            email: 'ops@example.test',
            privateKeySecretRef: { name: `${name}-account` },
            caBundle: Buffer.from(pebble.caBundlePem).toString('base64'),
            solvers: [
              { dns01: { rfc2136: { nameserver: dnsAddr, tsigKeyName: TSIG_NAME, tsigAlgorithm: 'HMACSHA256', tsigSecretSecretRef: { name: 'tsig', key: 'secret' } } } },
              { selector: { dnsZones: [`http.${ZONE}`] }, http01: { ingress: {} } },
            ],
          },
        },
      },
    ],
    async stop() {
      await pebble.stop().catch(() => undefined);
      await new Promise<void>((r) => http.close(() => r()));
      await dns.stop();
    },
  };
}

export function acmeCertificateDoc(name: string, dnsNames: string[], spec: Record<string, unknown> = {}) {
  return {
    apiVersion: 'cert-manager.io/v1',
    kind: 'Certificate',
    metadata: { name, namespace: 'apps' },
    spec: { secretName: `${name}-tls`, dnsNames, issuerRef: { name: 'pebble' }, privateKey: { algorithm: 'ECDSA' }, ...spec },
  };
}

/**
 * The ACME peers plus an in-process certificates controller loaded with `manifests(peers)`, its
 * HTTP-01 tokens served by the peers, polling fast as the ACME e2e tests need. `stop` ends both.
 */
export async function startAcmeCertEnv(
  pebble: Parameters<typeof startAcmePeers>[0],
  manifests: (peers: AcmePeers) => unknown[],
): Promise<{ peers: AcmePeers; env: CertEnv; stop(): Promise<void> }> {
  const peers = await startAcmePeers(pebble);
  let env: CertEnv;
  try {
    env = await startCertEnv({
      manifests: manifests(peers),
      overrides: { acmePollIntervalMs: 100, acmeStatusTimeoutMs: 30_000, propagation: { timeoutMs: 20_000, intervalMs: 100 } },
    });
  } catch (err) {
    await peers.stop();
    throw err;
  }
  peers.registries.add(env.certs.http01);
  return {
    peers,
    env,
    async stop() {
      await env.destroy().catch(() => undefined);
      await peers.stop();
    },
  };
}
