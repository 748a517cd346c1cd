/**
 * Conversions between the provider contract's DnsRecord (presentation form, one record set)
 * and the server's RRsets (wire-ready data).
 */
import { fqdn, type DnsRecord, type RecordType } from '../controllers/dns/types.js';
import { TYPE, ipv6ToString, parseIPv4, parseIPv6, typeName, type MxData, type RData, type SoaData, type SrvData } from './wire.js';
import type { RRset } from './zone.js';

/** The record types gangplank's providers can write to the embedded server. */
const WRITABLE: Partial<Record<RecordType, number>> = {
  A: TYPE.A,
  AAAA: TYPE.AAAA,
  CNAME: TYPE.CNAME,
  TXT: TYPE.TXT,
  NS: TYPE.NS,
  MX: TYPE.MX,
  SRV: TYPE.SRV,
};

export const DEFAULT_TTL = 300;

/** Parses one presentation value; throws an Error naming the record and the value. */
export function parseTarget(rec: Pick<DnsRecord, 'name' | 'type'>, type: number, target: string): RData {
  const where = `record ${rec.name} ${rec.type} value "${target}"`;
  try {
    switch (type) {
      case TYPE.A:
        parseIPv4(target);
        return target;
      case TYPE.AAAA:
        return ipv6ToString(parseIPv6(target));
      case TYPE.CNAME:
      case TYPE.NS:
      case TYPE.PTR: {
        const n = fqdn(target);
        checkName(n);
        return n;
      }
      case TYPE.TXT:
        return [target];
      case TYPE.MX: {
        const m = /^(\d{1,5})\s+(\S+)$/.exec(target.trim());
        if (!m || Number(m[1]) > 65535) throw new Error('MX values look like "10 mail.example.com"');
        const exchange = fqdn(m[2]!);
        checkName(exchange);
        return { preference: Number(m[1]), exchange } satisfies MxData;
      }
      case TYPE.SRV: {
        const m = /^(\d{1,5})\s+(\d{1,5})\s+(\d{1,5})\s+(\S+)$/.exec(target.trim());
        if (!m || [m[1], m[2], m[3]].some((v) => Number(v) > 65535)) throw new Error('SRV values look like "10 5 443 host.example.com"');
        const t = fqdn(m[4]!);
        checkName(t);
        return { priority: Number(m[1]), weight: Number(m[2]), port: Number(m[3]), target: t } satisfies SrvData;
      }
      default:
        throw new Error(`type ${typeName(type)} is not supported`);
    }
  } catch (err) {
    throw new Error(`${where}: ${(err as Error).message}`);
  }
}

function checkName(n: string): void {
  if (n.length === 0 || n.length > 253 || n.split('.').some((l) => l.length === 0 || l.length > 63)) {
    throw new Error('not a valid host name');
  }
}

/** DnsRecord -> wire type and RRset; throws on types or values the server cannot hold. */
export function toRRset(rec: DnsRecord): { name: string; rrset: RRset } {
  const type = WRITABLE[rec.type];
  if (type === undefined) {
    throw new Error(`record ${rec.name} has type ${rec.type}, which the embedded DNS server does not serve (use A, AAAA, CNAME, TXT, NS, MX or SRV)`);
  }
  if (rec.setIdentifier) {
    throw new Error(`record ${rec.name} ${rec.type} has set identifier "${rec.setIdentifier}": routing policies need Route 53, not the embedded server`);
  }
  const name = fqdn(rec.name);
  checkName(name);
  if (rec.targets.length === 0) throw new Error(`record ${rec.name} ${rec.type} has no values`);
  if (type === TYPE.CNAME && rec.targets.length > 1) throw new Error(`record ${rec.name} CNAME has ${rec.targets.length} targets; a CNAME has exactly one`);
  const ttl = rec.ttl > 0 ? Math.min(rec.ttl, 0x7fffffff) : DEFAULT_TTL;
  return { name, rrset: { type, ttl, data: rec.targets.map((t) => parseTarget(rec, type, t)) } };
}

export function toTarget(type: number, d: RData): string {
  if (typeof d === 'string') return d;
  if (Buffer.isBuffer(d)) return `\\# ${d.length} ${d.toString('hex')}`;
  if (Array.isArray(d)) return d.join('');
  if ('mname' in d) {
    const s = d as SoaData;
    return `${s.mname} ${s.rname} ${s.serial} ${s.refresh} ${s.retry} ${s.expire} ${s.minimum}`;
  }
  if ('exchange' in d) return `${d.preference} ${d.exchange}`;
  return `${d.priority} ${d.weight} ${d.port} ${d.target}`;
}

export function toDnsRecord(name: string, rrset: RRset): DnsRecord {
  return { name, type: typeName(rrset.type) as RecordType, ttl: rrset.ttl, targets: rrset.data.map((d) => toTarget(rrset.type, d)) };
}
