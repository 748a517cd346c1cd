/**
 * ExternalDNS's object annotations, read the way ExternalDNS reads them: keys under
 * `external-dns.kubernetes.io/` (GA) or `external-dns.alpha.kubernetes.io/` (legacy alpha),
 * the GA key winning when an object carries both.
 */

export const GA_PREFIX = 'external-dns.kubernetes.io/';
export const ALPHA_PREFIX = 'external-dns.alpha.kubernetes.io/';

/** The `controller` value ExternalDNS answers to; any other value means "not ours". */
export const CONTROLLER_VALUE = 'dns-controller';

/** ExternalDNS accepts TTLs in [1, MaxInt32]; anything else falls back to the provider default. */
export const TTL_MIN = 1;
export const TTL_MAX = 2147483647;

export type HostnameSource = 'all' | 'defined-hosts-only' | 'annotation-only';

/** What the external-dns annotations of one object ask for. */
export interface DnsAnnotations {
  /** `hostname`, split on commas, spaces removed, trailing dots dropped; undefined when absent. */
  hostnames?: string[];
  /** `target`, split like `hostname`; undefined when absent or empty. */
  targets?: string[];
  /** Seconds; 0 = not configured (provider default). */
  ttl: number;
  /** `alias: "true"` -> `alias=true`; `aws-<x>` -> `aws/<x>`. */
  providerSpecific: Record<string, string>;
  setIdentifier?: string;
  /** The `controller` annotation, when present. */
  controller?: string;
  /** The raw `ingress-hostname-source` value, when present. */
  hostnameSource?: string;
  /** Why parts of the annotations were not used (invalid ttl, ...), as messages for the object. */
  problems: string[];
}

/**
 * Folds both prefixes into one map keyed by the name after the prefix (`hostname`, `ttl`,
 * `aws-weight`). A GA key wins over the alpha key of the same name.
 */
export function resolveExternalDnsAnnotations(annotations: Record<string, string> | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!annotations) return out;
  for (const [k, v] of Object.entries(annotations)) {
    if (k.startsWith(ALPHA_PREFIX)) {
      const name = k.slice(ALPHA_PREFIX.length);
      if (!out.has(name)) out.set(name, v);
    }
  }
  for (const [k, v] of Object.entries(annotations)) {
    if (k.startsWith(GA_PREFIX)) out.set(k.slice(GA_PREFIX.length), v);
  }
  return out;
}

/** ExternalDNS splits list annotations by removing every space and splitting on commas. */
export function splitList(value: string): string[] {
  return value
    .replaceAll(' ', '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => (s.endsWith('.') ? s.slice(0, -1) : s));
}

const DURATION_UNITS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  'µs': 1e3, // U+00B5 micro sign, as Go accepts
  'μs': 1e3, // U+03BC Greek mu, as Go accepts
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/**
 * Go's time.ParseDuration, returning nanoseconds, or undefined when the text is not a
 * duration. Accepts `1m30s`, `1.5h`, `.5s`, `-2m`, and the bare `0`.
 */
export function parseGoDuration(text: string): number | undefined {
  let s = text;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') return undefined;
  let total = 0;
  const component = /^(\d*)(?:\.(\d*))?([^\d.]+)/u;
  while (s !== '') {
    const m = component.exec(s);
    if (!m) return undefined;
    const [all, whole = '', frac, unitRaw = ''] = m;
    if (whole === '' && (frac === undefined || frac === '')) return undefined;
    // The unit runs until the next digit or dot, as in Go.
    const unit = DURATION_UNITS[unitRaw];
    if (unit === undefined) return undefined;
    const value = Number(whole === '' ? '0' : whole) + (frac ? Number(`0.${frac}`) : 0);
    total += value * unit;
    s = s.slice(all.length);
  }
  return sign * total;
}

/**
 * An ExternalDNS TTL annotation: a Go duration (`10m`, `1m30s`) or integer seconds (`600`).
 * Fractions of a second are dropped, as ExternalDNS does. Returns an error message for a value
 * that is not a TTL or is outside [1, 2147483647].
 */
export function parseTtl(raw: string): { ttl: number } | { error: string } {
  const text = raw.trim();
  let seconds: number | undefined;
  const nanos = parseGoDuration(text);
  if (nanos !== undefined) seconds = Math.trunc(nanos / 1e9);
  else if (/^[+-]?\d+$/.test(text)) seconds = Number(text);
  if (seconds === undefined || !Number.isFinite(seconds)) {
    return { error: `"${raw}" is not a valid TTL: use integer seconds ("300") or a duration ("5m", "1m30s")` };
  }
  if (seconds < TTL_MIN || seconds > TTL_MAX) {
    return { error: `TTL "${raw}" (${seconds}s) must be between ${TTL_MIN} and ${TTL_MAX} seconds` };
  }
  return { ttl: seconds };
}

/** Reads every external-dns annotation gangplank honours from one object's annotations. */
export function parseDnsAnnotations(annotations: Record<string, string> | undefined): DnsAnnotations {
  const a = resolveExternalDnsAnnotations(annotations);
  const problems: string[] = [];
  const result: DnsAnnotations = { ttl: 0, providerSpecific: {}, problems };

  const hostname = a.get('hostname');
  if (hostname !== undefined) result.hostnames = splitList(hostname);

  const target = a.get('target');
  if (target !== undefined && target !== '') {
    const targets = splitList(target);
    if (targets.length > 0) result.targets = targets;
  }

  const ttl = a.get('ttl');
  if (ttl !== undefined) {
    const parsed = parseTtl(ttl);
    if ('ttl' in parsed) result.ttl = parsed.ttl;
    else problems.push(`annotation ${GA_PREFIX}ttl: ${parsed.error}; using the provider's default TTL`);
  }

  if (a.get('alias') === 'true') result.providerSpecific['alias'] = 'true';
  for (const [name, value] of a) {
    if (name.startsWith('aws-') && name.length > 4) result.providerSpecific[`aws/${name.slice(4)}`] = value;
  }

  const setIdentifier = a.get('set-identifier');
  if (setIdentifier !== undefined && setIdentifier !== '') result.setIdentifier = setIdentifier;

  const controller = a.get('controller');
  if (controller !== undefined) result.controller = controller;

  const source = a.get('ingress-hostname-source');
  if (source !== undefined) result.hostnameSource = source;

  return result;
}

/**
 * ExternalDNS skips an object whose `controller` annotation is present with any value other
 * than `dns-controller` (an empty value included). Returns the reason, or undefined when the
 * object is ours.
 */
export function controllerMismatch(ann: DnsAnnotations): string | undefined {
  if (ann.controller === undefined || ann.controller === CONTROLLER_VALUE) return undefined;
  return `annotation ${GA_PREFIX}controller is "${ann.controller}", not "${CONTROLLER_VALUE}": the object is left to that controller`;
}

/** The `ingress-hostname-source` value, or an error for a value ExternalDNS does not know. */
export function hostnameSourceOf(ann: DnsAnnotations): { source: HostnameSource } | { error: string } {
  if (ann.hostnameSource === undefined) return { source: 'all' };
  const v = ann.hostnameSource.toLowerCase();
  if (v === 'defined-hosts-only' || v === 'annotation-only') return { source: v };
  return {
    error: `annotation ${GA_PREFIX}ingress-hostname-source is "${ann.hostnameSource}"; use "defined-hosts-only" or "annotation-only" (no hostnames are published until it is fixed)`,
  };
}
