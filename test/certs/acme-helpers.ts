/** Shared setup for the ACME integration tests: BIND (the zone), Pebble (the CA), an issuer over both. */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseCertificate, parseIssuer, type AnyIssuer, type Certificate } from '../../src/api/certmanager.js';
import type { Secret } from '../../src/api/types.js';
import { Rfc2136Provider } from '../../src/controllers/dns/providers/rfc2136.js';
import type { DnsProvider } from '../../src/controllers/dns/types.js';
import { AcmeIssuer, type AcmeIssuerOptions } from '../../src/controllers/certs/issuers/acme.js';
import { generatePrivateKey } from '../../src/controllers/certs/keys.js';
import { buildCsr } from '../../src/controllers/certs/x509.js';
import { startBind, type Bind } from '../harness/bind.js';
import { startPebble, type Pebble } from '../harness/pebble.js';

const run = promisify(execFile);
export const ZONE = 'example.test';

export interface AcmeEnv {
  bind: Bind;
  pebble: Pebble;
  secrets: Map<string, Secret>;
  issuerObject(solvers?: unknown[]): AnyIssuer;
  provider(): DnsProvider;
  makeIssuer(extra?: Partial<AcmeIssuerOptions>, issuer?: AnyIssuer): AcmeIssuer;
  stop(): Promise<void>;
}

export async function startAcmeEnv(opts: { pebbleEnv?: Record<string, string> } = {}): Promise<AcmeEnv> {
  const bind = await startBind({ zones: [ZONE], tsig: { name: 'acme-key', algorithm: 'hmac-sha256', secret: randomBytes(32) } });
  let pebble: Pebble;
  try {
    pebble = await startPebble({ dnsServer: `127.0.0.1:${bind.port}`, ...(opts.pebbleEnv ? { env: opts.pebbleEnv } : {}) });
  } catch (err) {
    await bind.stop();
    throw err;
  }
  const secrets = new Map<string, Secret>();
  const provider = () =>
    new Rfc2136Provider({ host: '127.0.0.1', port: bind.port, zones: [ZONE], tsigAxfr: true, tsig: { name: bind.tsig.name, algorithm: 'hmac-sha256', secret: bind.tsig.secret } });
  const issuerObject = (solvers?: unknown[]) => {
    const r = parseIssuer({
      apiVersion: 'cert-manager.io/v1',
      kind: 'Issuer',
      metadata: { name: 'pebble', namespace: 'apps' },
      spec: {
        acme: {
          server: pebble.directoryUrl,
          email: 'ops@example.test',
          privateKeySecretRef: { name: 'pebble-account' },
          caBundle: Buffer.from(pebble.caBundlePem).toString('base64'),
          solvers: solvers ?? [{ dns01: { rfc2136: { nameserver: `127.0.0.1:${bind.port}`, tsigKeyName: 'acme-key', tsigAlgorithm: 'HMACSHA256', tsigSecretSecretRef: { name: 'tsig', key: 'secret' } } } }],
        },
      },
    });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    return r.object;
  };
  const makeIssuer = (extra: Partial<AcmeIssuerOptions> = {}, issuer = issuerObject()) =>
    new AcmeIssuer({
      issuer,
      getSecret: (ns, name) => secrets.get(`${ns}/${name}`),
      state: extra.state!,
      dnsProviderFor: () => provider(),
      propagation: { nameservers: [`127.0.0.1:${bind.port}`], timeoutMs: 20_000, intervalMs: 100 },
      pollIntervalMs: 100,
      statusTimeoutMs: 30_000,
      ...extra,
    });
  return {
    bind,
    pebble,
    secrets,
    issuerObject,
    provider,
    makeIssuer,
    async stop() {
      await pebble.stop().catch(() => undefined);
      await bind.stop();
    },
  };
}

export function certificate(name: string, dnsNames: string[], extra: Record<string, unknown> = {}): Certificate {
  const r = parseCertificate({
    apiVersion: 'cert-manager.io/v1',
    kind: 'Certificate',
    metadata: { name, namespace: 'apps' },
    spec: { secretName: `${name}-tls`, issuerRef: { name: 'pebble' }, dnsNames, privateKey: { algorithm: 'ECDSA' }, ...extra },
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.object;
}

export async function request(c: Certificate) {
  const privateKey = await generatePrivateKey(c.spec.privateKey);
  return { certificate: c, privateKey, csrPem: await buildCsr(c.spec, privateKey) };
}

/** `openssl verify` of a leaf+chain PEM against a root; returns openssl's output (throws on failure). */
export async function opensslVerify(chainPem: string, rootPem: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'gangplank-verify-'));
  const certs = chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
  writeFileSync(join(dir, 'leaf.pem'), certs[0] ?? '');
  writeFileSync(join(dir, 'chain.pem'), certs.slice(1).join('\n') || '');
  writeFileSync(join(dir, 'root.pem'), rootPem);
  const args = ['verify', '-CAfile', join(dir, 'root.pem'), ...(certs.length > 1 ? ['-untrusted', join(dir, 'chain.pem')] : []), join(dir, 'leaf.pem')];
  const { stdout } = await run('/usr/bin/openssl', args);
  return stdout;
}

/** SAN DNS names of a PEM certificate, via openssl. */
export async function opensslSans(certPem: string): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'gangplank-sans-'));
  writeFileSync(join(dir, 'c.pem'), certPem);
  const { stdout } = await run('/usr/bin/openssl', ['x509', '-in', join(dir, 'c.pem'), '-noout', '-ext', 'subjectAltName']);
  return [...stdout.matchAll(/DNS:([^,\s]+)/g)].map((m) => m[1]!).sort();
}
