/**
 * DNS-01 solver config -> DnsProvider. The provider code is the DNS controller's (rfc2136,
 * route53); here we only turn cert-manager's solver fields into its options, reading TSIG and
 * AWS credentials from Secrets in the store (the Issuer's namespace, or the cluster-resource
 * namespace for a ClusterIssuer), never from the manifest itself.
 */
import type { AcmeSolver, AnyIssuer, Rfc2136Solver, Route53Solver, SecretKeySelector } from '../../api/certmanager.js';
import { parseHostPort } from '../../api/certmanager.js';
import { nsName } from '../../api/meta.js';
import type { Secret } from '../../api/types.js';
import { Rfc2136Provider } from '../dns/providers/rfc2136.js';
import { Route53Provider } from '../dns/providers/route53.js';
import { DnsProviderError, fqdn, type ChangeSet, type DnsProvider, type DnsRecord } from '../dns/types.js';
import { IssuerError, issuerSecretNamespace } from './issuers/types.js';
import { queryDns } from './solvers/dnsquery.js';
import type { ZoneFinder } from './solvers/dns01.js';

export type SecretLookup = (namespace: string, name: string) => Secret | undefined;

/** cert-manager's tsigAlgorithm names -> the rfc2136 provider's. HMACMD5 (cert-manager's default) is refused: MD5 is broken. */
const TSIG_ALGORITHMS: Record<string, string> = { HMACSHA1: 'hmac-sha1', HMACSHA256: 'hmac-sha256', HMACSHA512: 'hmac-sha512' };

function readSecretKey(lookup: SecretLookup, ns: string, ref: SecretKeySelector, field: string, where: string): string {
  const s = lookup(ns, ref.name);
  if (!s) throw new IssuerError('SecretNotFound', `${where}: ${field} names Secret ${ns}/${ref.name}, which does not exist; create it`);
  const keys = Object.keys(s.data ?? {});
  // cert-manager requires `key`; a Secret with exactly one key is unambiguous, so we accept it.
  const key = ref.key || (keys.length === 1 ? keys[0]! : undefined);
  if (!key) throw new IssuerError('SecretInvalid', `${where}: ${field} must set key (Secret ${ns}/${ref.name} holds ${keys.join(', ') || 'no keys'})`, { retryable: false });
  const v = s.data?.[key];
  if (v === undefined) throw new IssuerError('SecretInvalid', `${where}: Secret ${ns}/${ref.name} has no key ${key} (${field})`, { retryable: false });
  return Buffer.from(v, 'base64').toString('utf8').trim();
}

/**
 * An rfc2136 solver's provider. The solver names a server, not zones, so the zone of each
 * challenge name is found by asking that server for the name's SOA (its answer or authority
 * section names the zone), and one Rfc2136Provider per zone does the updates.
 */
export class Rfc2136SolverProvider implements DnsProvider, ZoneFinder {
  readonly name: string;
  private readonly byZone = new Map<string, Rfc2136Provider>();
  private readonly server: { host: string; port: number };

  constructor(
    private readonly solver: Rfc2136Solver,
    private readonly tsig: { name: string; algorithm: string; secret: Buffer } | undefined,
    private readonly where: string,
  ) {
    const hp = parseHostPort(solver.nameserver, 53);
    if (!hp) throw new IssuerError('InvalidSolver', `${where}: dns01.rfc2136.nameserver "${solver.nameserver}" is not host:port`, { retryable: false });
    this.server = hp;
    this.name = `rfc2136 ${hp.host}:${hp.port}`;
  }

  async findZone(name: string): Promise<string> {
    const labels = fqdn(name).split('.');
    for (let i = 0; i < labels.length; i++) {
      const candidate = labels.slice(i).join('.');
      for (const z of this.byZone.keys()) if (candidate === z) return z;
      const a = await queryDns(this.server, candidate, 'SOA', 3000);
      if (a.zone && (candidate === a.zone || candidate.endsWith('.' + a.zone))) {
        this.providerFor(a.zone);
        return a.zone;
      }
      if (a.rcode === 'REFUSED' || a.rcode === 'SERVFAIL') break;
    }
    throw new DnsProviderError('NoZone', `${this.where}: nameserver ${this.server.host}:${this.server.port} is not authoritative for any zone containing ${name} (no SOA in its answers); point dns01.rfc2136.nameserver at the zone's primary`, { retryable: true });
  }

  private providerFor(zone: string): Rfc2136Provider {
    let p = this.byZone.get(zone);
    if (!p) {
      p = new Rfc2136Provider({ host: this.server.host, port: this.server.port, zones: [zone], ...(this.tsig ? { tsig: this.tsig, tsigAxfr: true } : {}) });
      this.byZone.set(zone, p);
    }
    return p;
  }

  async zones(): Promise<string[]> {
    return [...this.byZone.keys()];
  }

  async records(zone?: string): Promise<DnsRecord[]> {
    if (zone === undefined) return (await Promise.all([...this.byZone.values()].map((p) => p.records()))).flat();
    return this.providerFor(fqdn(zone)).records(fqdn(zone));
  }

  async applyChanges(changes: ChangeSet): Promise<void> {
    const all = [...changes.create, ...changes.updateNew, ...changes.delete];
    const zones = new Set<string>();
    for (const r of all) zones.add(await this.findZone(r.name));
    for (const zone of zones) {
      const inZone = (r: DnsRecord) => fqdn(r.name) === zone || fqdn(r.name).endsWith('.' + zone);
      const idx = changes.updateNew.map((r, i) => (inZone(r) ? i : -1)).filter((i) => i >= 0);
      await this.providerFor(zone).applyChanges({
        create: changes.create.filter(inZone),
        delete: changes.delete.filter(inZone),
        updateOld: idx.map((i) => changes.updateOld[i]!),
        updateNew: idx.map((i) => changes.updateNew[i]!),
      });
    }
  }
}

export function rfc2136Provider(solver: Rfc2136Solver, issuer: AnyIssuer, lookup: SecretLookup, clusterResourceNamespace?: string): DnsProvider {
  const where = `${issuer.kind} ${nsName(issuer)}`;
  let tsig: { name: string; algorithm: string; secret: Buffer } | undefined;
  if (solver.tsigSecretSecretRef) {
    const algorithm = TSIG_ALGORITHMS[solver.tsigAlgorithm ?? 'HMACMD5'];
    if (!algorithm)
      throw new IssuerError('InvalidSolver', `${where}: dns01.rfc2136.tsigAlgorithm ${solver.tsigAlgorithm ?? 'HMACMD5 (the default when unset)'} is not supported; set tsigAlgorithm to HMACSHA256, HMACSHA512 or HMACSHA1`, { retryable: false });
    if (!solver.tsigKeyName) throw new IssuerError('InvalidSolver', `${where}: dns01.rfc2136.tsigKeyName is required with tsigSecretSecretRef`, { retryable: false });
    const ns = issuerSecretNamespace(issuer, clusterResourceNamespace);
    const b64 = readSecretKey(lookup, ns, solver.tsigSecretSecretRef, 'dns01.rfc2136.tsigSecretSecretRef', where).replace(/\s+/g, '');
    const secret = Buffer.from(b64, 'base64');
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || secret.length === 0)
      throw new IssuerError('SecretInvalid', `${where}: the TSIG secret in Secret ${ns}/${solver.tsigSecretSecretRef.name} is not base64`, { retryable: false });
    tsig = { name: solver.tsigKeyName, algorithm, secret };
  }
  return new Rfc2136SolverProvider(solver, tsig, where);
}

export function route53Provider(solver: Route53Solver, issuer: AnyIssuer, lookup: SecretLookup, clusterResourceNamespace?: string): DnsProvider {
  const where = `${issuer.kind} ${nsName(issuer)}`;
  if (solver.role) throw new IssuerError('InvalidSolver', `${where}: dns01.route53.role (assume role) is not supported by gangplank; give the credentials of the role itself`, { retryable: false });
  const ns = issuerSecretNamespace(issuer, clusterResourceNamespace);
  let credentials: { accessKeyId: string; secretAccessKey: string } | undefined;
  const accessKeyId = solver.accessKeyIDSecretRef
    ? readSecretKey(lookup, ns, solver.accessKeyIDSecretRef, 'dns01.route53.accessKeyIDSecretRef', where)
    : solver.accessKeyID;
  if (accessKeyId || solver.secretAccessKeySecretRef) {
    if (!accessKeyId || !solver.secretAccessKeySecretRef)
      throw new IssuerError('InvalidSolver', `${where}: dns01.route53 needs both an access key id (accessKeyID or accessKeyIDSecretRef) and secretAccessKeySecretRef, or neither (default credential chain)`, { retryable: false });
    credentials = { accessKeyId, secretAccessKey: readSecretKey(lookup, ns, solver.secretAccessKeySecretRef, 'dns01.route53.secretAccessKeySecretRef', where) };
  }
  // Route 53 is global; the SDK still wants a region to sign with.
  const region = solver.region || process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || 'us-east-1';
  return new Route53Provider({
    ...(solver.hostedZoneID ? { zoneIdFilter: [solver.hostedZoneID] } : {}),
    clientConfig: { region, ...(credentials ? { credentials } : {}) },
  });
}

/** The provider for one dns01 solver of an issuer. */
export function dnsProviderFor(solver: AcmeSolver, issuer: AnyIssuer, lookup: SecretLookup, clusterResourceNamespace?: string): DnsProvider {
  const d = solver.dns01;
  if (d?.rfc2136) return rfc2136Provider(d.rfc2136, issuer, lookup, clusterResourceNamespace);
  if (d?.route53) return route53Provider(d.route53, issuer, lookup, clusterResourceNamespace);
  throw new IssuerError('InvalidSolver', `${issuer.kind} ${nsName(issuer)}: the solver has no dns01 provider gangplank supports (rfc2136, route53)`, { retryable: false });
}

/**
 * The nameservers the DNS-01 self-check asks: --dns01-recursive-nameservers when given; else
 * the one server every rfc2136 solver of the issuer updates (it is authoritative, so it answers
 * what the CA will see); else none (the zone's NS records are looked up).
 */
export function propagationNameservers(issuer: AnyIssuer, recursive: readonly string[]): string[] {
  if (recursive.length) return [...recursive];
  const servers = new Set<string>();
  for (const s of issuer.spec.acme?.solvers ?? []) {
    if (!s.dns01) continue;
    if (!s.dns01.rfc2136) return [];
    const hp = parseHostPort(s.dns01.rfc2136.nameserver, 53);
    if (hp) servers.add(`${hp.host.includes(':') ? `[${hp.host}]` : hp.host}:${hp.port}`);
  }
  return servers.size === 1 ? [...servers] : [];
}
