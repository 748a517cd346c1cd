/**
 * gangplank's configuration: defaults < `--config` YAML file < command-line flags. The file uses
 * the long flag names as keys (`http-port: 8080`, `manifests: [./examples]`).
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { parse as parseYaml } from 'yaml';

export interface RunConfig {
  manifests: string[];
  stateDir: string;
  bind: string;
  httpPort: number;
  httpsPort: number;
  adminPort: number;
  adminBind: string;
  ingressClass: string;
  trustedProxies: string[];
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
  logFormat: 'json' | 'pretty';
  accessLog: boolean;
  upstreamConnectTimeout: number;
  upstreamResponseTimeout: number;
  upstreamIdleTimeout: number;
  clientHeaderTimeout: number;
  clientRequestTimeout: number;
  keepAliveTimeout: number;
  workers: number;
  gracePeriod: number;
  defaultCert: string;
  defaultKey: string;
  kubeconfig: string;
  namespace: string;
  // Published address (Ingress status, DNS targets)
  publishService: string;
  publishAddress: string[];
  // DNS (ExternalDNS flag names)
  provider: 'embedded' | 'rfc2136' | 'aws' | 'none';
  dnsPort: number;
  dnsZone: string[];
  dnsTsigKey: string[];
  policy: 'sync' | 'upsert-only' | 'create-only';
  domainFilter: string[];
  excludeDomains: string[];
  managedRecordTypes: string[];
  txtOwnerId: string;
  txtPrefix: string;
  txtSuffix: string;
  txtWildcardReplacement: string;
  migrateFromTxtOwner: string;
  interval: number;
  rfc2136Host: string;
  rfc2136Port: number;
  rfc2136Zone: string[];
  rfc2136TsigKeyname: string;
  rfc2136TsigSecretAlg: string;
  rfc2136TsigSecretFile: string;
  rfc2136TsigAxfr: boolean;
  rfc2136Insecure: boolean;
  rfc2136BatchChangeSize: number;
  rfc2136MinTtl: number;
  awsZoneType: '' | 'public' | 'private';
  awsZonesCacheDuration: number;
  awsBatchChangeSize: number;
  awsEvaluateTargetHealth: boolean;
  // Certificates (cert-manager flag names)
  defaultIssuerName: string;
  defaultIssuerKind: 'Issuer' | 'ClusterIssuer';
  defaultIssuerGroup: string;
  clusterResourceNamespace: string;
  maxConcurrentChallenges: number;
  dns01RecursiveNameservers: string[];
  dns01RecursiveNameserversOnly: boolean;
  acmeHttp01CheckPort: number;
  issuanceBackoffBase: number;
  issuanceBackoffMax: number;
}

/** Kind of each option: how a flag value or a file value is converted and checked. */
type Kind = 'string' | 'strings' | 'csv' | 'port' | 'int' | 'ms' | 'seconds' | 'bool' | 'cidrs' | { oneOf: readonly string[] };

interface OptionSpec {
  key: keyof RunConfig;
  flag: string;
  kind: Kind;
  default: unknown;
  help: string;
}

export const RUN_OPTIONS: readonly OptionSpec[] = [
  { key: 'manifests', flag: 'manifests', kind: 'strings', default: [], help: 'directory of Kubernetes manifests to serve (repeatable)' },
  { key: 'stateDir', flag: 'state-dir', kind: 'string', default: './.gangplank', help: 'where gangplank keeps what it produces (certificates, DNS records, statuses)' },
  { key: 'bind', flag: 'bind', kind: 'string', default: '', help: 'address the entrypoints listen on (default: all addresses)' },
  { key: 'httpPort', flag: 'http-port', kind: 'port', default: 8080, help: 'port of the web (HTTP) entrypoint' },
  { key: 'httpsPort', flag: 'https-port', kind: 'port', default: 8443, help: 'port of the websecure (HTTPS) entrypoint' },
  { key: 'adminPort', flag: 'admin-port', kind: 'port', default: 9090, help: 'port of the admin API (health, metrics, /api/*)' },
  { key: 'adminBind', flag: 'admin-bind', kind: 'string', default: '127.0.0.1', help: 'address the admin API listens on' },
  { key: 'ingressClass', flag: 'ingress-class', kind: 'string', default: 'gangplank', help: 'IngressClass name gangplank answers to' },
  { key: 'trustedProxies', flag: 'trusted-proxies', kind: 'cidrs', default: [], help: 'comma-separated CIDRs whose X-Forwarded-For is trusted' },
  { key: 'logLevel', flag: 'log-level', kind: { oneOf: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] }, default: 'info', help: 'log level' },
  { key: 'logFormat', flag: 'log-format', kind: { oneOf: ['json', 'pretty'] }, default: 'json', help: 'log format' },
  { key: 'accessLog', flag: 'access-log', kind: 'bool', default: true, help: 'write a JSON access log line per request (true|false)' },
  { key: 'upstreamConnectTimeout', flag: 'upstream-connect-timeout', kind: 'ms', default: 5000, help: 'time to connect to a backend (ms, or 5s)' },
  { key: 'upstreamResponseTimeout', flag: 'upstream-response-timeout', kind: 'ms', default: 60000, help: 'time for a backend to send response headers (ms, or 60s)' },
  { key: 'upstreamIdleTimeout', flag: 'upstream-idle-timeout', kind: 'ms', default: 60000, help: 'idle time before a pooled backend connection is closed, and body idle limit (ms)' },
  { key: 'clientHeaderTimeout', flag: 'client-header-timeout', kind: 'ms', default: 10000, help: 'time for a client to send request headers (ms)' },
  { key: 'clientRequestTimeout', flag: 'client-request-timeout', kind: 'ms', default: 300000, help: 'time for a client to send a whole request (ms; 0 = none)' },
  { key: 'keepAliveTimeout', flag: 'keep-alive-timeout', kind: 'ms', default: 360000, help: 'idle keep-alive time of client connections (ms; above the AWS NLB idle timeout of 350 s)' },
  { key: 'workers', flag: 'workers', kind: 'int', default: availableParallelism(), help: 'proxy worker processes sharing the listening sockets (1 = serve in the main process; default: number of CPUs)' },
  { key: 'gracePeriod', flag: 'grace-period', kind: 'ms', default: 10_000, help: 'on SIGTERM, how long in-flight requests may take to finish' },
  { key: 'defaultCert', flag: 'default-cert', kind: 'string', default: '', help: 'PEM certificate served to TLS clients no Ingress certificate matches (default: a self-signed one kept in the state dir)' },
  { key: 'defaultKey', flag: 'default-key', kind: 'string', default: '', help: 'PEM private key of --default-cert' },
  { key: 'kubeconfig', flag: 'kubeconfig', kind: 'string', default: '', help: 'read objects from the Kubernetes API with this kubeconfig instead of --manifests ("in-cluster" inside a pod)' },
  { key: 'namespace', flag: 'namespace', kind: 'string', default: '', help: 'with --kubeconfig: watch only this namespace' },
  { key: 'publishService', flag: 'publish-service', kind: 'string', default: '', help: 'NAMESPACE/NAME of the LoadBalancer Service whose address the served Ingresses publish' },
  { key: 'publishAddress', flag: 'publish-address', kind: 'strings', default: [], help: 'IP or host name the served Ingresses publish (repeatable)' },
  { key: 'provider', flag: 'provider', kind: { oneOf: ['embedded', 'rfc2136', 'aws', 'none'] }, default: 'embedded', help: 'DNS provider for published host names' },
  { key: 'dnsPort', flag: 'dns-port', kind: 'port', default: 5353, help: 'port of the embedded DNS server, UDP and TCP (0 turns it off)' },
  { key: 'dnsZone', flag: 'dns-zone', kind: 'strings', default: [], help: 'zone the embedded DNS server is authoritative for (repeatable)' },
  { key: 'dnsTsigKey', flag: 'dns-tsig-key', kind: 'strings', default: [], help: 'NAME:ALGORITHM:SECRET_FILE of a TSIG key allowed to send RFC 2136 updates to the embedded server (repeatable)' },
  { key: 'policy', flag: 'policy', kind: { oneOf: ['sync', 'upsert-only', 'create-only'] }, default: 'sync', help: 'what the DNS controller may do with records it owns' },
  { key: 'domainFilter', flag: 'domain-filter', kind: 'strings', default: [], help: 'only manage names under this domain (repeatable)' },
  { key: 'excludeDomains', flag: 'exclude-domains', kind: 'strings', default: [], help: 'never manage names under this domain (repeatable)' },
  { key: 'managedRecordTypes', flag: 'managed-record-types', kind: 'csv', default: ['A', 'AAAA', 'CNAME'], help: 'record types the DNS controller manages' },
  { key: 'txtOwnerId', flag: 'txt-owner-id', kind: 'string', default: 'default', help: 'owner id written into the TXT ownership records' },
  { key: 'txtPrefix', flag: 'txt-prefix', kind: 'string', default: '', help: 'prefix of ownership TXT names (may contain %{record_type})' },
  { key: 'txtSuffix', flag: 'txt-suffix', kind: 'string', default: '', help: 'suffix of the first label of ownership TXT names (may contain %{record_type})' },
  { key: 'txtWildcardReplacement', flag: 'txt-wildcard-replacement', kind: 'string', default: '', help: 'what replaces "*" in ownership TXT names of wildcard records' },
  { key: 'migrateFromTxtOwner', flag: 'migrate-from-txt-owner', kind: 'string', default: '', help: 'take over the records of this other owner id' },
  { key: 'interval', flag: 'interval', kind: 'ms', default: 60000, help: 'period of the DNS drift check (e.g. 1m)' },
  { key: 'rfc2136Host', flag: 'rfc2136-host', kind: 'string', default: '', help: 'RFC 2136 server address' },
  { key: 'rfc2136Port', flag: 'rfc2136-port', kind: 'port', default: 53, help: 'RFC 2136 server port' },
  { key: 'rfc2136Zone', flag: 'rfc2136-zone', kind: 'strings', default: [], help: 'zone to update through RFC 2136 (repeatable; the longest match wins)' },
  { key: 'rfc2136TsigKeyname', flag: 'rfc2136-tsig-keyname', kind: 'string', default: '', help: 'TSIG key name' },
  { key: 'rfc2136TsigSecretAlg', flag: 'rfc2136-tsig-secret-alg', kind: { oneOf: ['hmac-sha1', 'hmac-sha224', 'hmac-sha256', 'hmac-sha384', 'hmac-sha512'] }, default: 'hmac-sha256', help: 'TSIG algorithm' },
  { key: 'rfc2136TsigSecretFile', flag: 'rfc2136-tsig-secret-file', kind: 'string', default: '', help: 'file holding the base64 TSIG secret (or set EXTERNAL_DNS_RFC2136_TSIG_SECRET)' },
  { key: 'rfc2136TsigAxfr', flag: 'rfc2136-tsig-axfr', kind: 'bool', default: false, help: 'list zones by TSIG-signed AXFR' },
  { key: 'rfc2136Insecure', flag: 'rfc2136-insecure', kind: 'bool', default: false, help: 'send unsigned updates (no TSIG)' },
  { key: 'rfc2136BatchChangeSize', flag: 'rfc2136-batch-change-size', kind: 'int', default: 50, help: 'changes per RFC 2136 UPDATE message' },
  { key: 'rfc2136MinTtl', flag: 'rfc2136-min-ttl', kind: 'seconds', default: 0, help: 'lowest TTL written through RFC 2136 (seconds or a duration)' },
  { key: 'awsZoneType', flag: 'aws-zone-type', kind: { oneOf: ['', 'public', 'private'] }, default: '', help: 'only public or only private Route 53 zones' },
  { key: 'awsZonesCacheDuration', flag: 'aws-zones-cache-duration', kind: 'ms', default: 0, help: 'how long the Route 53 zone list is cached' },
  { key: 'awsBatchChangeSize', flag: 'aws-batch-change-size', kind: 'int', default: 1000, help: 'changes per Route 53 request' },
  { key: 'awsEvaluateTargetHealth', flag: 'aws-evaluate-target-health', kind: 'bool', default: true, help: 'default EvaluateTargetHealth of alias records' },
  { key: 'defaultIssuerName', flag: 'default-issuer-name', kind: 'string', default: '', help: 'issuer for Ingresses annotated kubernetes.io/tls-acme: "true"' },
  { key: 'defaultIssuerKind', flag: 'default-issuer-kind', kind: { oneOf: ['Issuer', 'ClusterIssuer'] }, default: 'Issuer', help: 'kind of the default issuer' },
  { key: 'defaultIssuerGroup', flag: 'default-issuer-group', kind: 'string', default: 'cert-manager.io', help: 'API group of the default issuer' },
  { key: 'clusterResourceNamespace', flag: 'cluster-resource-namespace', kind: 'string', default: 'gangplank', help: 'namespace of the Secrets ClusterIssuers refer to' },
  { key: 'maxConcurrentChallenges', flag: 'max-concurrent-challenges', kind: 'int', default: 60, help: 'certificates issued in parallel at most' },
  { key: 'dns01RecursiveNameservers', flag: 'dns01-recursive-nameservers', kind: 'csv', default: [], help: 'HOST:PORT list used for the DNS-01 propagation check' },
  { key: 'dns01RecursiveNameserversOnly', flag: 'dns01-recursive-nameservers-only', kind: 'bool', default: false, help: 'check DNS-01 propagation only against --dns01-recursive-nameservers' },
  { key: 'acmeHttp01CheckPort', flag: 'acme-http01-check-port', kind: 'port', default: 80, help: 'port of the HTTP-01 self-check before a challenge is accepted (the port the CA connects to)' },
  { key: 'issuanceBackoffBase', flag: 'issuance-backoff-base', kind: 'ms', default: 3_600_000, help: 'first wait after a failed issuance (doubles each time)' },
  { key: 'issuanceBackoffMax', flag: 'issuance-backoff-max', kind: 'ms', default: 32 * 3_600_000, help: 'longest wait between failed issuances' },
];

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/;

function convert(spec: OptionSpec, value: unknown, where: string): unknown {
  const bad = (what: string) => new ConfigError(`${where}: ${what}, got ${JSON.stringify(value)}`);
  const k = spec.kind;
  if (typeof k === 'object') {
    if (typeof value !== 'string' || !k.oneOf.includes(value)) throw bad(`must be one of ${k.oneOf.join(', ')}`);
    return value;
  }
  switch (k) {
    case 'string':
      if (typeof value !== 'string') throw bad('must be a string');
      return value;
    case 'strings': {
      const list = Array.isArray(value) ? value : [value];
      if (!list.every((v) => typeof v === 'string' && v.length > 0)) throw bad('must be a list of non-empty strings');
      return list;
    }
    case 'csv':
      return (Array.isArray(value) ? value : [value]).flatMap((v) => String(v).split(',')).map((v) => v.trim()).filter(Boolean);
    case 'int': {
      const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
      if (!Number.isInteger(n) || n < 0) throw bad('must be a non-negative integer');
      return n;
    }
    case 'seconds': {
      if (typeof value === 'number' && value >= 0) return value;
      const m = typeof value === 'string' ? DURATION.exec(value.trim()) : null;
      if (!m) throw bad('must be seconds, or a duration (30s, 5m, 1h)');
      const mult = { ms: 0.001, s: 1, m: 60, h: 3600 }[(m[2] ?? 's') as 's'];
      return Math.round(Number(m[1]) * mult);
    }
    case 'port': {
      const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
      if (!Number.isInteger(n) || n < 0 || n > 65535) throw bad('must be a port number between 0 and 65535');
      return n;
    }
    case 'ms': {
      if (typeof value === 'number' && value >= 0) return value;
      const m = typeof value === 'string' ? DURATION.exec(value.trim()) : null;
      if (!m) throw bad('must be a duration in milliseconds, or with a unit (500ms, 5s, 2m, 1h)');
      const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 'ms') as 'ms'];
      return Math.round(Number(m[1]) * mult);
    }
    case 'bool':
      if (typeof value === 'boolean') return value;
      if (value === 'true' || value === 'false') return value === 'true';
      throw bad('must be true or false');
    case 'cidrs': {
      const list = (Array.isArray(value) ? value : String(value).split(',')).map((s) => String(s).trim()).filter(Boolean);
      for (const c of list) if (!isCidr(c)) throw new ConfigError(`${where}: ${JSON.stringify(c)} is not an IP address or CIDR (e.g. 10.0.0.0/8, 2001:db8::/32)`);
      return list;
    }
  }
}

export function isCidr(s: string): boolean {
  const [addr, bits, ...rest] = s.split('/');
  if (rest.length || !addr) return false;
  const fam = isIP(addr);
  if (!fam) return false;
  if (bits === undefined) return true;
  if (!/^\d+$/.test(bits)) return false;
  return Number(bits) <= (fam === 4 ? 32 : 128);
}

/**
 * Resolves the run configuration. `cli` holds the values given on the command line only
 * (flag name → raw value); `file` is the path given with --config.
 */
export function resolveConfig(cli: Record<string, unknown>, file?: string): RunConfig {
  let fromFile: Record<string, unknown> = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`--config ${file}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    let doc: unknown;
    try {
      doc = parseYaml(text);
    } catch (err) {
      throw new ConfigError(`--config ${file}: invalid YAML: ${(err as Error).message.split('\n')[0]}`);
    }
    if (doc !== null && doc !== undefined && (typeof doc !== 'object' || Array.isArray(doc))) throw new ConfigError(`--config ${file}: must be a mapping of option names to values`);
    fromFile = (doc ?? {}) as Record<string, unknown>;
    const known = new Set(RUN_OPTIONS.map((o) => o.flag));
    for (const k of Object.keys(fromFile)) if (!known.has(k)) throw new ConfigError(`--config ${file}: unknown option ${JSON.stringify(k)} (options use the long flag names, e.g. http-port)`);
  }
  const out: Record<string, unknown> = {};
  for (const spec of RUN_OPTIONS) {
    if (cli[spec.flag] !== undefined) out[spec.key] = convert(spec, cli[spec.flag], `--${spec.flag}`);
    else if (fromFile[spec.flag] !== undefined) out[spec.key] = convert(spec, fromFile[spec.flag], `${file}: ${spec.flag}`);
    else out[spec.key] = spec.default;
  }
  const cfg = out as unknown as RunConfig;
  if (!!cfg.defaultCert !== !!cfg.defaultKey) throw new ConfigError('--default-cert and --default-key must be given together');
  if (cfg.workers < 1) throw new ConfigError('--workers: must be at least 1');
  if (cfg.publishService && !/^[a-z0-9-]+\/[a-z0-9.-]+$/.test(cfg.publishService)) throw new ConfigError(`--publish-service: must be NAMESPACE/NAME, got ${JSON.stringify(cfg.publishService)}`);
  if (!cfg.managedRecordTypes.length) throw new ConfigError('--managed-record-types: must name at least one record type');
  const badType = cfg.managedRecordTypes.find((t) => !['A', 'AAAA', 'CNAME', 'TXT', 'NS', 'MX', 'SRV'].includes(t));
  if (badType) throw new ConfigError(`--managed-record-types: unknown record type ${JSON.stringify(badType)}`);
  if (cfg.provider === 'rfc2136') {
    if (!cfg.rfc2136Host) throw new ConfigError('--provider rfc2136 needs --rfc2136-host');
    if (!cfg.rfc2136Zone.length) throw new ConfigError('--provider rfc2136 needs at least one --rfc2136-zone');
    if (!cfg.rfc2136Insecure && !cfg.rfc2136TsigKeyname) throw new ConfigError('--provider rfc2136 needs --rfc2136-tsig-keyname (or --rfc2136-insecure true)');
  }
  if (cfg.clientRequestTimeout !== 0 && cfg.clientHeaderTimeout > cfg.clientRequestTimeout)
    throw new ConfigError(`--client-header-timeout (${cfg.clientHeaderTimeout} ms) must not exceed --client-request-timeout (${cfg.clientRequestTimeout} ms)`);
  return cfg;
}
