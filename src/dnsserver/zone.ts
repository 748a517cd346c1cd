/**
 * One authoritative zone as an immutable snapshot: owner name -> type -> RRset, plus the set
 * of empty non-terminals, built once per change so the query path only does map lookups.
 * Changes go through a ZoneDraft (copy-on-write) and become visible all at once.
 */
import { TYPE, type RData, type SoaData } from './wire.js';

export interface RRset {
  readonly type: number;
  readonly ttl: number;
  readonly data: readonly RData[];
}

export type ZoneNode = ReadonlyMap<number, RRset>;

export interface SoaSettings {
  /** Primary name server (SOA MNAME); defaults to the first name server. */
  mname?: string;
  /** Responsible mailbox in name form; defaults to hostmaster.<zone>. */
  rname?: string;
  refresh?: number;
  retry?: number;
  expire?: number;
  /** Negative-caching TTL (RFC 2308). */
  minimum?: number;
  ttl?: number;
}

export interface ZoneConfig {
  origin: string;
  nameservers: string[];
  soa: SoaSettings;
}

/** The apex SOA and NS come from configuration; updates cannot change them. */
export function isManaged(zone: ZoneConfig, name: string, type: number): boolean {
  return name === zone.origin && (type === TYPE.SOA || type === TYPE.NS);
}

/** Canonical identity of one RR's data, for duplicate detection and RFC 2136 deletes. */
export function rdataKey(type: number, d: RData): string {
  if (typeof d === 'string') {
    if (type === TYPE.A || type === TYPE.AAAA) return d.toLowerCase();
    return d.toLowerCase().replace(/\.$/, '');
  }
  if (Buffer.isBuffer(d)) return d.toString('hex');
  if (Array.isArray(d)) return JSON.stringify(Buffer.from(d.join(''), 'utf8').toString('hex'));
  if ('mname' in d) return `${d.mname.toLowerCase()} ${d.rname.toLowerCase()} ${d.serial} ${d.refresh} ${d.retry} ${d.expire} ${d.minimum}`;
  if ('exchange' in d) return `${d.preference} ${d.exchange.toLowerCase().replace(/\.$/, '')}`;
  return `${d.priority} ${d.weight} ${d.port} ${d.target.toLowerCase().replace(/\.$/, '')}`;
}

export class Zone {
  readonly config: ZoneConfig;
  readonly serial: number;
  readonly nodes: ReadonlyMap<string, ZoneNode>;
  /** Names that exist only because something below them exists. */
  private readonly ents: ReadonlySet<string>;
  readonly soa: RRset;
  /** The SOA as it goes into negative answers, with the negative TTL (RFC 2308). */
  readonly negativeSoa: RRset;

  constructor(config: ZoneConfig, serial: number, nodes: Map<string, ZoneNode>) {
    this.config = config;
    this.serial = serial >>> 0;
    const s = config.soa;
    const soaData: SoaData = {
      mname: s.mname ?? config.nameservers[0] ?? `ns1.${config.origin}`,
      rname: s.rname ?? `hostmaster.${config.origin}`,
      serial: this.serial,
      refresh: s.refresh ?? 3600,
      retry: s.retry ?? 600,
      expire: s.expire ?? 1209600,
      minimum: s.minimum ?? 60,
    };
    this.soa = { type: TYPE.SOA, ttl: s.ttl ?? 300, data: [soaData] };
    this.negativeSoa = { type: TYPE.SOA, ttl: Math.min(this.soa.ttl, soaData.minimum), data: [soaData] };
    const apex = new Map(nodes.get(config.origin) ?? []);
    apex.set(TYPE.SOA, this.soa);
    apex.set(TYPE.NS, { type: TYPE.NS, ttl: s.ttl ?? 300, data: config.nameservers });
    nodes.set(config.origin, apex);
    this.nodes = nodes;
    const ents = new Set<string>();
    const suffix = '.' + config.origin;
    for (const name of nodes.keys()) {
      let n = name;
      while (n.endsWith(suffix)) {
        n = n.slice(n.indexOf('.') + 1);
        if (ents.has(n)) break;
        ents.add(n);
      }
    }
    this.ents = ents;
  }

  get origin(): string {
    return this.config.origin;
  }

  /** True when the name owns records or has descendants that do (empty non-terminal). */
  exists(name: string): boolean {
    return this.nodes.has(name) || this.ents.has(name);
  }

  contains(name: string): boolean {
    return name === this.origin || name.endsWith('.' + this.origin);
  }

  draft(): ZoneDraft {
    return new ZoneDraft(this);
  }
}

/** A mutable copy of a zone's records; `commit` returns the next snapshot with serial + 1. */
export class ZoneDraft {
  private readonly base: Zone;
  private readonly nodes: Map<string, ZoneNode>;
  private readonly copied = new Set<string>();
  changed = false;

  constructor(base: Zone) {
    this.base = base;
    this.nodes = new Map(base.nodes);
  }

  node(name: string): ZoneNode | undefined {
    return this.nodes.get(name);
  }

  private writable(name: string): Map<number, RRset> {
    let n = this.nodes.get(name) as Map<number, RRset> | undefined;
    if (!n) {
      n = new Map();
      this.nodes.set(name, n);
      this.copied.add(name);
    } else if (!this.copied.has(name)) {
      n = new Map(n);
      this.nodes.set(name, n);
      this.copied.add(name);
    }
    return n;
  }

  get(name: string, type: number): RRset | undefined {
    return this.nodes.get(name)?.get(type);
  }

  set(name: string, rrset: RRset): void {
    if (rrset.data.length === 0) {
      this.delete(name, rrset.type);
      return;
    }
    this.writable(name).set(rrset.type, rrset);
    this.changed = true;
  }

  delete(name: string, type: number): void {
    const n = this.nodes.get(name);
    if (!n || !n.has(type)) return;
    const w = this.writable(name);
    w.delete(type);
    if (w.size === 0) this.nodes.delete(name);
    this.changed = true;
  }

  /** Adds one RR (RFC 2136 3.4.2.2 semantics: duplicates ignored, the RRset takes the new TTL). */
  addRR(name: string, type: number, ttl: number, data: RData): void {
    const cur = this.get(name, type);
    const key = rdataKey(type, data);
    if (cur) {
      const dup = cur.data.some((d) => rdataKey(type, d) === key);
      if (dup && cur.ttl === ttl) return;
      this.set(name, { type, ttl, data: dup ? cur.data : [...cur.data, data] });
    } else {
      this.set(name, { type, ttl, data: [data] });
    }
  }

  deleteRR(name: string, type: number, data: RData): void {
    const cur = this.get(name, type);
    if (!cur) return;
    const key = rdataKey(type, data);
    const rest = cur.data.filter((d) => rdataKey(type, d) !== key);
    if (rest.length === cur.data.length) return;
    this.set(name, { type, ttl: cur.ttl, data: rest });
  }

  types(name: string): number[] {
    return [...(this.nodes.get(name)?.keys() ?? [])];
  }

  commit(): Zone {
    if (!this.changed) return this.base;
    return new Zone(this.base.config, (this.base.serial + 1) >>> 0 || 1, this.nodes);
  }
}
