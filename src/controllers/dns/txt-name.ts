/**
 * Names of ExternalDNS ownership TXT records, byte for byte as ExternalDNS builds and reads
 * them (its "affix name mapper"):
 *
 * - the record type, lower case, is put in front of the first label: `www.example.com` (A)
 *   -> `a-www.example.com`;
 * - `--txt-prefix` goes before the first label, `--txt-suffix` after it (`a-www<suffix>.example.com`);
 *   either may contain `%{record_type}`, which then replaces the `a-` in front;
 * - `--txt-wildcard-replacement` replaces a leading `*` label (a `*` inside a name is not a wildcard);
 * - with zones given (ExternalDNS takes them from --domain-filter), the "first label" is
 *   everything left of the longest matching zone.
 *
 * Names of the old format (before ExternalDNS v0.12: no type) are still read, never written.
 */

export const RECORD_TYPE_TEMPLATE = '%{record_type}';

/** Types ExternalDNS recognizes in a TXT name, in the order it tries them. */
export const TXT_NAME_TYPES = ['A', 'AAAA', 'CNAME', 'NS', 'MX', 'PTR', 'SRV', 'NAPTR', 'TXT', 'DNAME'] as const;

export interface TxtNameConfig {
  /** --txt-prefix */
  prefix?: string;
  /** --txt-suffix (exclusive with prefix) */
  suffix?: string;
  /** --txt-wildcard-replacement */
  wildcardReplacement?: string;
  /** Zones to split names at (ExternalDNS uses its --domain-filter values); empty: split at the first dot. */
  zones?: readonly string[];
}

interface Mapper {
  prefix: string;
  suffix: string;
  wildcard: string;
  zones: string[];
}

function mapper(cfg: TxtNameConfig): Mapper {
  if (cfg.prefix && cfg.suffix) {
    throw new Error('TXT registry: --txt-prefix and --txt-suffix are mutually exclusive; set only one of them');
  }
  const zones = (cfg.zones ?? [])
    .map((z) => z.trim().toLowerCase().replace(/^\.+|\.+$/g, ''))
    .filter((z) => z !== '')
    .sort((a, b) => b.length - a.length);
  return {
    prefix: (cfg.prefix ?? '').toLowerCase(),
    suffix: (cfg.suffix ?? '').toLowerCase(),
    wildcard: (cfg.wildcardReplacement ?? '').toLowerCase(),
    zones,
  };
}

function typeInAffix(m: Mapper): boolean {
  return m.prefix.includes(RECORD_TYPE_TEMPLATE) || m.suffix.includes(RECORD_TYPE_TEMPLATE);
}

function findZone(m: Mapper, name: string): string | undefined {
  const n = name.toLowerCase().replace(/\.$/, '');
  return m.zones.find((z) => n.endsWith('.' + z));
}

function splitName(m: Mapper, name: string): { host: string; domain: string } {
  const n = name.replace(/\.$/, '');
  const zone = findZone(m, n);
  if (zone) return { host: n.slice(0, -(zone.length + 1)), domain: zone };
  const dot = n.indexOf('.');
  return dot < 0 ? { host: n, domain: '' } : { host: n.slice(0, dot), domain: n.slice(dot + 1) };
}

/** The ownership TXT name for a record of `type` at `name`. */
export function txtNameFor(name: string, type: string, cfg: TxtNameConfig = {}): string {
  const m = mapper(cfg);
  const t = type.toLowerCase();
  let { host } = splitName(m, name);
  const { domain } = splitName(m, name);
  const prefix = m.prefix.replaceAll(RECORD_TYPE_TEMPLATE, t);
  const suffix = m.suffix.replaceAll(RECORD_TYPE_TEMPLATE, t);
  if (m.wildcard !== '' && host === '*') host = m.wildcard;
  if (!typeInAffix(m)) host = `${t}-${host}`;
  return domain === '' ? prefix + host + suffix : `${prefix}${host}${suffix}.${domain}`;
}

/** ExternalDNS reads a type in front of the name when no affix carries `%{record_type}`. */
function typeAtDefaultPosition(name: string): { name: string; type: string } {
  const first = name.split('-')[0];
  for (const t of TXT_NAME_TYPES) {
    if (first === t.toLowerCase()) return { name: name.slice(first.length + 1), type: t };
  }
  return { name, type: '' };
}

function dropAffix(m: Mapper, name: string): { name: string; type: string } | undefined {
  const isPrefix = m.suffix === '';
  const isSuffix = m.prefix === '' && m.suffix !== '';
  let prefix = m.prefix;
  let suffix = m.suffix;
  if (typeInAffix(m)) {
    for (const t of TXT_NAME_TYPES) {
      const tl = t.toLowerCase();
      const p = prefix.replaceAll(RECORD_TYPE_TEMPLATE, tl);
      const s = suffix.replaceAll(RECORD_TYPE_TEMPLATE, tl);
      if (isPrefix && name.startsWith(p)) return { name: name.slice(p.length), type: t };
      if (isSuffix && name.endsWith(s)) return { name: name.slice(0, name.length - s.length), type: t };
    }
    // Records written before the affix carried the template.
    prefix = prefix.replaceAll(RECORD_TYPE_TEMPLATE, '');
    suffix = suffix.replaceAll(RECORD_TYPE_TEMPLATE, '');
  }
  if (isPrefix && name.startsWith(prefix)) return typeAtDefaultPosition(name.slice(prefix.length));
  if (isSuffix && name.endsWith(suffix)) return typeAtDefaultPosition(name.slice(0, name.length - suffix.length));
  return undefined;
}

/**
 * The record name and type an ownership TXT name stands for. `type` is `''` for the old
 * format (no type in the name). Undefined when the name does not carry the configured affix.
 */
export function fromTxtName(txtName: string, cfg: TxtNameConfig = {}): { name: string; type: string } | undefined {
  const m = mapper(cfg);
  const lower = txtName.toLowerCase().replace(/\.$/, '');
  if (m.suffix === '') return dropAffix(m, lower);

  const zone = findZone(m, lower);
  if (zone) {
    const r = dropAffix(m, lower.slice(0, -(zone.length + 1)));
    return r ? { name: `${r.name}.${zone}`, type: r.type } : undefined;
  }
  // The suffix may contain dots: it then spans that many more labels after the first.
  const dots = m.suffix.split('.').length - 1;
  const parts = lower.split('.');
  if (parts.length <= dots) return undefined;
  const head = parts.slice(0, 1 + dots).join('.');
  const rest = parts.slice(1 + dots).join('.');
  const r = dropAffix(m, head);
  if (!r) return undefined;
  return rest === '' ? r : { name: `${r.name}.${rest}`, type: r.type };
}
