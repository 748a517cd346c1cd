/**
 * Pure conversions between gangplank's DnsRecord and Route 53 record sets: name escaping,
 * TXT quoting, alias records and routing policies. No I/O here, so the rules can be tested
 * with tables.
 */
import type { ResourceRecordSet, RRType } from '@aws-sdk/client-route-53';
import { fqdn, type DnsRecord, type RecordType } from '../types.js';
import { canonicalHostedZone } from './aws-canonical-zones.js';

export const PS_ALIAS = 'alias';
export const PS_EVALUATE_TARGET_HEALTH = 'aws/evaluate-target-health';
export const PS_WEIGHT = 'aws/weight';
export const PS_FAILOVER = 'aws/failover';
export const PS_REGION = 'aws/region';
export const PS_HEALTH_CHECK_ID = 'aws/health-check-id';
/** Set on an alias record that also has an AAAA alias (a dual-stack load balancer). */
export const PS_DUALSTACK = 'aws/dualstack';

const LISTED_TYPES: ReadonlySet<string> = new Set<RecordType>(['A', 'AAAA', 'CNAME', 'TXT', 'NS', 'MX', 'SRV']);

/** Route 53 writes characters outside [a-z0-9-_.] as `\ooo` (octal), e.g. `\052` for `*`. */
export function unescapeName(name: string): string {
  return fqdn(name.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
}

/**
 * TXT text from Route 53's presentation form: one or more quoted strings (`"a" "b"`) with
 * `\"`, `\\` and `\ooo` escapes, joined. A value without quotes is returned as it is.
 */
export function txtUnquote(value: string): string {
  const v = value.trim();
  if (!v.startsWith('"')) return v;
  const bytes: number[] = [];
  let i = 0;
  while (i < v.length) {
    if (v[i] !== '"') {
      i++; // whitespace between strings
      continue;
    }
    i++;
    while (i < v.length && v[i] !== '"') {
      if (v[i] === '\\' && i + 1 < v.length) {
        const oct = /^[0-7]{3}/.exec(v.slice(i + 1, i + 4));
        if (oct) {
          bytes.push(parseInt(oct[0], 8));
          i += 4;
        } else {
          bytes.push(...Buffer.from(v[i + 1]!, 'utf8'));
          i += 2;
        }
        continue;
      }
      const cp = v.codePointAt(i)!;
      const ch = String.fromCodePoint(cp);
      bytes.push(...Buffer.from(ch, 'utf8'));
      i += ch.length;
    }
    i++; // closing quote
  }
  return Buffer.from(bytes).toString('utf8');
}

/**
 * TXT text in Route 53's presentation form: quoted, `"` and `\` escaped, bytes outside
 * printable ASCII as `\ooo`, and split into strings of at most 255 bytes (the DNS limit for
 * one character-string).
 */
export function txtQuote(text: string): string {
  const bytes = Buffer.from(text, 'utf8');
  const parts: string[] = [];
  for (let off = 0; off < bytes.length || parts.length === 0; off += 255) {
    let s = '';
    for (const b of bytes.subarray(off, off + 255)) {
      if (b === 0x22 || b === 0x5c) s += '\\' + String.fromCharCode(b);
      else if (b < 0x20 || b > 0x7e) s += '\\' + b.toString(8).padStart(3, '0');
      else s += String.fromCharCode(b);
    }
    parts.push(`"${s}"`);
  }
  return parts.join(' ');
}

function setProp(r: DnsRecord, k: string, v: string): void {
  (r.providerSpecific ??= {})[k] = v;
}

/**
 * One Route 53 record set as a DnsRecord, or undefined for types gangplank does not manage
 * (CAA, PTR, ...). Alias record sets come back as CNAME records with `alias: "true"`.
 */
export function fromRecordSet(rs: ResourceRecordSet): DnsRecord | undefined {
  const type = rs.Type ?? '';
  if (!LISTED_TYPES.has(type) || !rs.Name) return undefined;
  const name = unescapeName(rs.Name);
  let r: DnsRecord;
  if (rs.AliasTarget) {
    r = { name, type: 'CNAME', ttl: 0, targets: [fqdn(rs.AliasTarget.DNSName ?? '')] };
    setProp(r, PS_ALIAS, 'true');
    setProp(r, PS_EVALUATE_TARGET_HEALTH, String(rs.AliasTarget.EvaluateTargetHealth ?? false));
    if (type === 'AAAA') setProp(r, PS_DUALSTACK, 'true');
  } else {
    const values = (rs.ResourceRecords ?? []).map((v) => v.Value ?? '');
    r = {
      name,
      type: type as RecordType,
      ttl: rs.TTL ?? 0,
      targets: type === 'TXT' ? values.map(txtUnquote) : type === 'CNAME' ? values.map(fqdn) : values,
    };
  }
  if (rs.SetIdentifier) r.setIdentifier = rs.SetIdentifier;
  if (rs.Weight !== undefined) setProp(r, PS_WEIGHT, String(rs.Weight));
  if (rs.Failover) setProp(r, PS_FAILOVER, rs.Failover);
  if (rs.Region) setProp(r, PS_REGION, rs.Region);
  if (rs.HealthCheckId) setProp(r, PS_HEALTH_CHECK_ID, rs.HealthCheckId);
  return r;
}

/**
 * Route 53 lists a dual-stack alias as two record sets (A and AAAA); gangplank sees one
 * alias record marked dual-stack. Records are merged on name, set identifier and alias target.
 */
export function mergeDualstackAliases(records: DnsRecord[]): DnsRecord[] {
  const out: DnsRecord[] = [];
  const aliasA = new Map<string, DnsRecord>();
  const key = (r: DnsRecord) => `${r.name}\0${r.setIdentifier ?? ''}\0${r.targets[0] ?? ''}`;
  for (const r of records) if (isAlias(r) && r.providerSpecific?.[PS_DUALSTACK] !== 'true') aliasA.set(key(r), r);
  for (const r of records) {
    if (isAlias(r) && r.providerSpecific?.[PS_DUALSTACK] === 'true') {
      const a = aliasA.get(key(r));
      if (a) {
        setProp(a, PS_DUALSTACK, 'true');
        continue;
      }
    }
    out.push(r);
  }
  return out;
}

/** Whether a record is written as a Route 53 alias: asked for, or a target only an alias can point at. */
export function isAlias(r: DnsRecord): boolean {
  if (r.type === 'ALIAS') return true;
  if (r.type !== 'CNAME') return false;
  const flag = r.providerSpecific?.[PS_ALIAS];
  if (flag === 'true') return true;
  if (flag === 'false') return false;
  return r.targets.length === 1 && canonicalHostedZone(r.targets[0]!) !== undefined;
}

function routing(r: DnsRecord, into: ResourceRecordSet): void {
  const ps = r.providerSpecific ?? {};
  if (r.setIdentifier) into.SetIdentifier = r.setIdentifier;
  if (ps[PS_WEIGHT] !== undefined) {
    const w = Number(ps[PS_WEIGHT]);
    if (!Number.isInteger(w) || w < 0 || w > 255) {
      throw new Error(`record ${r.name} ${r.type}: ${PS_WEIGHT} must be an integer 0..255, got "${ps[PS_WEIGHT]}"`);
    }
    into.Weight = w;
  }
  if (ps[PS_FAILOVER]) {
    const f = ps[PS_FAILOVER].toUpperCase();
    if (f !== 'PRIMARY' && f !== 'SECONDARY') {
      throw new Error(`record ${r.name} ${r.type}: ${PS_FAILOVER} must be PRIMARY or SECONDARY, got "${ps[PS_FAILOVER]}"`);
    }
    into.Failover = f;
  }
  if (ps[PS_REGION]) into.Region = ps[PS_REGION] as ResourceRecordSet['Region'];
  if (ps[PS_HEALTH_CHECK_ID]) into.HealthCheckId = ps[PS_HEALTH_CHECK_ID];
  const policies = [into.Weight !== undefined, !!into.Failover, !!into.Region].filter(Boolean).length;
  if (policies > 0 && !r.setIdentifier) {
    throw new Error(`record ${r.name} ${r.type}: a routing policy (weight, failover, region) needs a setIdentifier`);
  }
  if (policies > 1) throw new Error(`record ${r.name} ${r.type}: choose one routing policy of weight, failover and region`);
}

export interface ToRecordSetOptions {
  /** The hosted zone the record goes into: an alias to a name without a known AWS zone points into it. */
  hostedZoneId: string;
  /** Default for `aws/evaluate-target-health` (ExternalDNS's --aws-evaluate-target-health, true). */
  evaluateTargetHealth: boolean;
  /** Default TTL when the record says 0 (Route 53 requires one). */
  defaultTtl: number;
}

/**
 * The Route 53 record sets for one DnsRecord: usually one; an alias to a dual-stack target
 * gives an A and an AAAA alias. Throws on records Route 53 cannot take (bad routing fields).
 */
export function toRecordSets(r: DnsRecord, o: ToRecordSetOptions): ResourceRecordSet[] {
  const name = fqdn(r.name);
  if (isAlias(r)) {
    const target = fqdn(r.targets[0] ?? '');
    if (!target || r.targets.length !== 1) {
      throw new Error(`record ${name}: an alias needs exactly one target host name, got ${JSON.stringify(r.targets)}`);
    }
    const zoneId = canonicalHostedZone(target) ?? bareZoneId(o.hostedZoneId);
    const eth = r.providerSpecific?.[PS_EVALUATE_TARGET_HEALTH];
    const alias = { DNSName: target, HostedZoneId: zoneId, EvaluateTargetHealth: eth === undefined ? o.evaluateTargetHealth : eth === 'true' };
    const types: RRType[] = r.providerSpecific?.[PS_DUALSTACK] === 'true' ? ['A', 'AAAA'] : ['A'];
    return types.map((Type) => {
      const rs: ResourceRecordSet = { Name: name, Type, AliasTarget: { ...alias } };
      routing(r, rs);
      return rs;
    });
  }
  if (r.targets.length === 0) throw new Error(`record ${name} ${r.type}: has no targets`);
  const values = r.type === 'TXT' ? r.targets.map(txtQuote) : r.targets;
  const rs: ResourceRecordSet = {
    Name: name,
    Type: r.type as RRType,
    TTL: r.ttl > 0 ? r.ttl : o.defaultTtl,
    ResourceRecords: values.map((Value) => ({ Value })),
  };
  routing(r, rs);
  return [rs];
}

/** `/hostedzone/Z123` -> `Z123`. */
export function bareZoneId(id: string): string {
  return id.replace(/^\/?hostedzone\//, '');
}
