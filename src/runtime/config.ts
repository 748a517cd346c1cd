/**
 * gangplank's configuration: defaults < `--config` YAML file < command-line flags. The file uses
 * the long flag names as keys (`http-port: 8080`, `manifests: [./examples]`).
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
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
}

/** Kind of each option: how a flag value or a file value is converted and checked. */
type Kind = 'string' | 'strings' | 'port' | 'ms' | 'bool' | 'cidrs' | { oneOf: readonly string[] };

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
  if (cfg.clientRequestTimeout !== 0 && cfg.clientHeaderTimeout > cfg.clientRequestTimeout)
    throw new ConfigError(`--client-header-timeout (${cfg.clientHeaderTimeout} ms) must not exceed --client-request-timeout (${cfg.clientRequestTimeout} ms)`);
  return cfg;
}
