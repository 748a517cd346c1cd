/**
 * The `rfc2136` DNS provider: any server that takes RFC 2136 dynamic updates (BIND 9, Knot,
 * PowerDNS, gangplank's own). Lists zones by AXFR (TSIG-signed with tsigAxfr) and applies each
 * batch as one TSIG-signed UPDATE message over TCP, so a batch is atomic on the server and a
 * record never travels without its ownership TXT. It decides nothing.
 */
import { readFileSync } from 'node:fs';
import {
  RCODE,
  decodeMessage,
  encodeQuery,
  encodeUpdate,
  typeName,
  type MxData,
  type RData,
  type SrvData,
  type UpdateRR,
  type WireRR,
} from '../../../dnsserver/wire.js';
import { algorithmFromName, signMessage, verifyWith, type TsigAlgorithm, type TsigKey } from '../../../dnsserver/tsig.js';
import { DnsProviderError, fqdn, type ChangeSet, type DnsProvider, type DnsRecord, type RecordType } from '../types.js';
import { changesByZone, changesOf, describeRecord, packBatches, type Change } from './batch.js';
import { DnsTimeoutError, tcpExchange } from './rfc2136-tcp.js';

export interface Rfc2136TsigOptions {
  /** --rfc2136-tsig-keyname */
  name: string;
  /** --rfc2136-tsig-secret-alg: hmac-sha256 (default), hmac-sha1, hmac-sha224, hmac-sha384, hmac-sha512. */
  algorithm?: string;
  /** From --rfc2136-tsig-secret-file or EXTERNAL_DNS_RFC2136_TSIG_SECRET, see loadRfc2136Secret. */
  secret: Buffer;
}

export interface Rfc2136Options {
  /** --rfc2136-host */
  host: string;
  /** --rfc2136-port (default 53) */
  port?: number;
  /** --rfc2136-zone (repeatable): the zones this provider manages; the longest match wins. */
  zones: string[];
  /** TSIG key; absent only with --rfc2136-insecure (updates unsigned). */
  tsig?: Rfc2136TsigOptions;
  /** --rfc2136-tsig-axfr: sign zone transfers with the key (default false: unsigned AXFR). */
  tsigAxfr?: boolean;
  /** --rfc2136-batch-change-size: changes per UPDATE message (default 50). */
  batchChangeSize?: number;
  /** --rfc2136-min-ttl: records get at least this TTL in seconds (default 0). */
  minTtl?: number;
  /** TTL for records that ask for the provider default (ttl 0). Default 300. */
  defaultTtl?: number;
  /** Deadline of one UPDATE or AXFR exchange, in ms (default 10 s). */
  timeoutMs?: number;
  /**
   * Guard changes with RFC 2136 prerequisites (default true): a create requires the RRset to
   * be absent (else YXRRSET), a delete requires it present (else NXRRSET), so a record written
   * by someone else since the last listing is never overwritten silently. Updates replace.
   */
  prerequisites?: boolean;
}

/**
 * The TSIG secret (base64), from a file (raw base64, or a BIND `key` statement holding
 * `secret "..."`) or else from EXTERNAL_DNS_RFC2136_TSIG_SECRET. Never from an argument.
 */
export function loadRfc2136Secret(src: { file?: string; env?: NodeJS.ProcessEnv }): Buffer {
  let text: string;
  let from: string;
  if (src.file) {
    from = `--rfc2136-tsig-secret-file ${src.file}`;
    try {
      text = readFileSync(src.file, 'utf8');
    } catch (err) {
      throw new Error(`cannot read the TSIG secret from ${from}: ${(err as Error).message}`);
    }
  } else {
    const v = (src.env ?? process.env).EXTERNAL_DNS_RFC2136_TSIG_SECRET;
    if (!v) throw new Error('no TSIG secret: set --rfc2136-tsig-secret-file or EXTERNAL_DNS_RFC2136_TSIG_SECRET (or use --rfc2136-insecure)');
    text = v;
    from = 'EXTERNAL_DNS_RFC2136_TSIG_SECRET';
  }
  const bind = /secret\s+"([^"]+)"/.exec(text);
  const b64 = (bind ? bind[1]! : text).replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw new Error(`the TSIG secret in ${from} is not base64`);
  const secret = Buffer.from(b64, 'base64');
  if (secret.length === 0) throw new Error(`the TSIG secret in ${from} is empty`);
  return secret;
}

const LISTED_TYPES: ReadonlySet<string> = new Set<RecordType>(['A', 'AAAA', 'CNAME', 'TXT', 'NS', 'MX', 'SRV']);

const RCODE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(RCODE)
    .filter(([k]) => k !== 'BADVERS')
    .map(([k, v]) => [v, k]),
);

export class Rfc2136Provider implements DnsProvider {
  readonly name = 'rfc2136';
  private readonly host: string;
  private readonly port: number;
  private readonly zoneList: string[];
  private readonly key?: TsigKey;
  private readonly o: { tsigAxfr: boolean; batchChangeSize: number; minTtl: number; defaultTtl: number; timeoutMs: number; prerequisites: boolean };

  constructor(opts: Rfc2136Options) {
    if (!opts.host) throw new Error('rfc2136 provider: --rfc2136-host is required');
    if (!opts.zones?.length) throw new Error('rfc2136 provider: at least one --rfc2136-zone is required');
    this.host = opts.host;
    this.port = opts.port ?? 53;
    this.zoneList = [...new Set(opts.zones.map(fqdn))];
    if (opts.tsig) {
      const alg = opts.tsig.algorithm ?? 'hmac-sha256';
      const algorithm: TsigAlgorithm | undefined = algorithmFromName(alg);
      if (!algorithm || algorithm === 'hmac-md5') {
        throw new Error(`rfc2136 provider: --rfc2136-tsig-secret-alg "${alg}" is not supported; use hmac-sha256, hmac-sha1, hmac-sha224, hmac-sha384 or hmac-sha512`);
      }
      if (!opts.tsig.name) throw new Error('rfc2136 provider: --rfc2136-tsig-keyname is required with a TSIG secret');
      this.key = { name: fqdn(opts.tsig.name), algorithm, secret: opts.tsig.secret };
    }
    this.o = {
      tsigAxfr: opts.tsigAxfr ?? false,
      batchChangeSize: opts.batchChangeSize ?? 50,
      minTtl: opts.minTtl ?? 0,
      defaultTtl: opts.defaultTtl ?? 300,
      timeoutMs: opts.timeoutMs ?? 10_000,
      prerequisites: opts.prerequisites ?? true,
    };
    if (!Number.isInteger(this.o.batchChangeSize) || this.o.batchChangeSize < 1) {
      throw new Error(`rfc2136 provider: --rfc2136-batch-change-size must be a positive integer, got ${this.o.batchChangeSize}`);
    }
  }

  async zones(): Promise<string[]> {
    return [...this.zoneList];
  }

  async records(zone?: string): Promise<DnsRecord[]> {
    const zones = zone === undefined ? this.zoneList : this.zoneList.filter((z) => z === fqdn(zone));
    const out: DnsRecord[] = [];
    for (const z of zones) out.push(...(await this.axfr(z)));
    return out;
  }

  /** RFC 2136 stores no routing settings; TTLs below --rfc2136-min-ttl are raised. */
  adjust(r: DnsRecord): DnsRecord {
    const ttl = r.ttl > 0 ? Math.max(r.ttl, this.o.minTtl) : 0;
    return { ...r, ttl, providerSpecific: undefined };
  }

  async applyChanges(cs: ChangeSet): Promise<void> {
    const changes = changesOf(cs);
    if (changes.length === 0) return;
    const { byZone, orphans } = changesByZone(changes, this.zoneList);
    const failures: DnsProviderError[] = [];
    if (orphans.length > 0) {
      failures.push(
        new DnsProviderError(
          'no-zone',
          `no configured --rfc2136-zone (${this.zoneList.join(', ')}) contains ${orphans.map((c) => describeRecord(c.record)).join(', ')}`,
          { retryable: false },
        ),
      );
    }
    for (const { zone, changes: zc } of byZone) {
      for (const batch of packBatches(zc, this.o.batchChangeSize)) {
        try {
          await this.update(zone, batch);
        } catch (err) {
          failures.push(err instanceof DnsProviderError ? err : new DnsProviderError('invalid-record', `zone ${zone}: ${(err as Error).message}`, { retryable: false, cause: err }));
        }
      }
    }
    if (failures.length === 1) throw failures[0];
    if (failures.length > 1) {
      throw new DnsProviderError(failures[0]!.code, `${failures.length} RFC 2136 updates failed: ${failures.map((f) => f.message).join('; ')}`, {
        retryable: failures.some((f) => f.retryable),
        cause: failures,
      });
    }
  }

  private ttl(r: DnsRecord): number {
    return Math.max(r.ttl > 0 ? r.ttl : this.o.defaultTtl, this.o.minTtl);
  }

  /** One batch as one UPDATE message; the server applies all of it or none. */
  private async update(zone: string, batch: Change[]): Promise<void> {
    const prereqs: UpdateRR[] = [];
    const updates: UpdateRR[] = [];
    for (const c of batch) {
      const r = c.record;
      const name = fqdn(r.name);
      if (c.action === 'create') {
        if (this.o.prerequisites) prereqs.push({ name, type: r.type, class: 'NONE', ttl: 0 });
        for (const data of rdataOf(r)) updates.push({ name, type: r.type, class: 'IN', ttl: this.ttl(r), data });
      } else if (c.action === 'delete') {
        if (this.o.prerequisites) prereqs.push({ name, type: r.type, class: 'ANY', ttl: 0 });
        // Only the values we know: a value someone else added to the set stays.
        for (const data of rdataOf(r)) updates.push({ name, type: r.type, class: 'NONE', ttl: 0, data });
      } else {
        const old = c.old ?? r;
        updates.push({ name: fqdn(old.name), type: old.type, class: 'ANY', ttl: 0 });
        for (const data of rdataOf(r)) updates.push({ name, type: r.type, class: 'IN', ttl: this.ttl(r), data });
      }
    }
    const what = `update of zone ${zone} [${batch.map((c) => `${c.action} ${describeRecord(c.record)}`).join(', ')}]`;
    let request = encodeUpdate(zone, prereqs, updates);
    let mac: Buffer | undefined;
    if (this.key) ({ wire: request, mac } = signMessage(request, this.key));
    let answer: Buffer | undefined;
    await this.exchange(request, what, (m) => {
      answer = m;
      return true;
    });
    this.checkAnswer(answer!, mac, zone, what);
  }

  /** Verifies the answer's TSIG and turns a failure rcode into a DnsProviderError that says what to do. */
  private checkAnswer(answer: Buffer, mac: Buffer | undefined, zone: string, what: string): void {
    if (answer.length < 12) throw new DnsProviderError('bad-answer', `${what}: answer shorter than a DNS header`);
    const rcode = answer.readUInt16BE(2) & 0xf;
    if (this.key) {
      const v = verifyWith(answer, (n) => (n === this.key!.name ? this.key : undefined), { requestMac: mac });
      if (!v.ok) {
        if (v.rcode === 'BADSIG') {
          throw new DnsProviderError('tsig', `${what}: TSIG key "${this.key.name}" rejected (BADSIG): the secret does not match the server's; check --rfc2136-tsig-secret-file / EXTERNAL_DNS_RFC2136_TSIG_SECRET and --rfc2136-tsig-secret-alg`);
        }
        if (v.rcode === 'BADKEY') {
          throw new DnsProviderError('tsig', `${what}: TSIG key "${this.key.name}" unknown to the server (BADKEY): check --rfc2136-tsig-keyname and --rfc2136-tsig-secret-alg against the server's key statement`);
        }
        if (v.rcode === 'BADTIME') {
          throw new DnsProviderError('tsig', `${what}: TSIG time rejected (BADTIME): the clocks of this host and ${this.host} differ by more than the fudge; sync them (NTP)`);
        }
        // An unsigned error answer (e.g. REFUSED before any key check) falls through to the rcode.
        if (!(v.rcode === 'NOTSIGNED' && rcode !== RCODE.NOERROR)) {
          throw new DnsProviderError('tsig', `${what}: the answer's TSIG signature does not verify (${v.rcode}: ${v.message}); refusing to trust it`);
        }
      }
    }
    if (rcode === RCODE.NOERROR) return;
    const name = RCODE_NAMES[rcode] ?? `RCODE${rcode}`;
    switch (rcode) {
      case RCODE.YXRRSET:
        throw new DnsProviderError('conflict', `${what}: a record set to create already exists (YXRRSET); written by someone else since the last listing? It is re-listed on the next sync`, { retryable: false });
      case RCODE.NXRRSET:
        throw new DnsProviderError('not-found', `${what}: a record set to delete is not there (NXRRSET); removed by someone else since the last listing? It is re-listed on the next sync`, { retryable: false });
      case RCODE.REFUSED:
        throw new DnsProviderError('refused', `${what}: ${this.host}:${this.port} refused the update (REFUSED): check that its update-policy/allow-update for zone ${zone} grants ${this.key ? `key "${this.key.name}"` : 'unsigned updates (use a TSIG key)'} these names and types`);
      case RCODE.NOTAUTH:
        throw new DnsProviderError('notauth', `${what}: ${this.host}:${this.port} is not authoritative for zone ${zone} or did not accept the key (NOTAUTH): check --rfc2136-zone, that --rfc2136-host is the zone's primary, and the TSIG key`);
      case RCODE.NOTZONE:
        throw new DnsProviderError('notzone', `${what}: a name is outside zone ${zone} (NOTZONE): check --rfc2136-zone`, { retryable: false });
      case RCODE.SERVFAIL:
        throw new DnsProviderError('servfail', `${what}: ${this.host}:${this.port} failed to apply the update (SERVFAIL): see the server's log; retrying`);
      case RCODE.FORMERR:
        throw new DnsProviderError('formerr', `${what}: the server could not parse the update (FORMERR); a record value is probably malformed`, { retryable: false });
      default:
        throw new DnsProviderError(name.toLowerCase(), `${what}: the server answered ${name}`);
    }
  }

  private async exchange(request: Buffer, what: string, onMessage: (m: Buffer) => boolean): Promise<void> {
    try {
      await tcpExchange(request, { host: this.host, port: this.port, timeoutMs: this.o.timeoutMs, onMessage });
    } catch (err) {
      if (err instanceof DnsProviderError) throw err;
      if (err instanceof DnsTimeoutError) throw new DnsProviderError('timeout', `${what}: ${err.message}; retrying`, { retryable: true, cause: err });
      throw new DnsProviderError('unavailable', `${what}: ${(err as Error).message}`, { retryable: true, cause: err });
    }
  }

  /** The zone's record sets by AXFR, SOA left out. */
  private async axfr(zone: string): Promise<DnsRecord[]> {
    const what = `zone transfer (AXFR) of ${zone} from ${this.host}:${this.port}`;
    let request = encodeQuery(zone, 'AXFR');
    const key = this.o.tsigAxfr ? this.key : undefined;
    let mac: Buffer | undefined;
    if (key) ({ wire: request, mac } = signMessage(request, key));
    const rrs: WireRR[] = [];
    let soaSeen = 0;
    let first = true;
    await this.exchange(request, what, (m) => {
      const rcode = m.readUInt16BE(2) & 0xf;
      if (key) {
        const v = verifyWith(m, (n) => (n === key.name ? key : undefined), { requestMac: mac, timersOnly: !first });
        if (!v.ok) {
          if (rcode !== RCODE.NOERROR) this.transferError(rcode, zone, what);
          throw new DnsProviderError('tsig', `${what}: ${v.rcode === 'BADSIG' ? `TSIG key "${key.name}" rejected (BADSIG): check --rfc2136-tsig-secret-file` : `answer not verified (${v.rcode}): ${v.message}`}`);
        }
        mac = v.mac;
      }
      first = false;
      if (rcode !== RCODE.NOERROR) this.transferError(rcode, zone, what);
      const msg = decodeMessage(m);
      for (const rr of msg.answers) {
        if (typeName(rr.type) === 'SOA') soaSeen++;
        rrs.push(rr);
      }
      if (rrs.length === 0 || typeName(rrs[0]!.type) !== 'SOA') {
        throw new DnsProviderError('bad-answer', `${what}: the transfer does not start with the zone's SOA`);
      }
      return soaSeen >= 2;
    });
    return toRecords(rrs);
  }

  private transferError(rcode: number, zone: string, what: string): never {
    const name = RCODE_NAMES[rcode] ?? `RCODE${rcode}`;
    if (rcode === RCODE.REFUSED || rcode === RCODE.NOTAUTH) {
      throw new DnsProviderError('refused', `${what}: refused (${name}): check that the server's allow-transfer for ${zone} permits ${this.o.tsigAxfr ? `key "${this.key?.name}"` : 'this host (or set --rfc2136-tsig-axfr to transfer with the key)'}`);
    }
    throw new DnsProviderError(name.toLowerCase(), `${what}: the server answered ${name}`);
  }
}

/** RRs grouped into record sets (one DnsRecord per name and type). */
function toRecords(rrs: WireRR[]): DnsRecord[] {
  const sets = new Map<string, DnsRecord>();
  for (const rr of rrs) {
    const type = typeName(rr.type);
    if (!LISTED_TYPES.has(type) || rr.data === undefined) continue;
    const name = fqdn(rr.name);
    const k = `${name}\0${type}`;
    let r = sets.get(k);
    if (!r) sets.set(k, (r = { name, type: type as RecordType, ttl: rr.ttl, targets: [] }));
    const v = presentation(type, rr.data);
    if (!r.targets.includes(v)) r.targets.push(v);
  }
  return [...sets.values()];
}

function presentation(type: string, d: RData): string {
  switch (type) {
    case 'TXT':
      return Array.isArray(d) ? d.join('') : String(d);
    case 'CNAME':
    case 'NS':
      return fqdn(String(d));
    case 'MX': {
      const m = d as MxData;
      return `${m.preference} ${fqdn(m.exchange)}`;
    }
    case 'SRV': {
      const s = d as SrvData;
      return `${s.priority} ${s.weight} ${s.port} ${fqdn(s.target)}`;
    }
    default:
      return String(d);
  }
}

/** The RDATA of each target of a record, for the wire encoder. */
function rdataOf(r: DnsRecord): RData[] {
  if (r.targets.length === 0) throw new Error(`record ${describeRecord(r)} has no targets`);
  return r.targets.map((t): RData => {
    switch (r.type) {
      case 'A':
      case 'AAAA':
      case 'TXT':
        return t;
      case 'CNAME':
      case 'NS':
        return fqdn(t);
      case 'MX': {
        const m = /^(\d+)\s+(\S+)$/.exec(t.trim());
        if (!m) throw new Error(`record ${describeRecord(r)}: MX target "${t}" must be "PREFERENCE HOST"`);
        return { preference: Number(m[1]), exchange: fqdn(m[2]!) };
      }
      case 'SRV': {
        const m = /^(\d+)\s+(\d+)\s+(\d+)\s+(\S+)$/.exec(t.trim());
        if (!m) throw new Error(`record ${describeRecord(r)}: SRV target "${t}" must be "PRIORITY WEIGHT PORT HOST"`);
        return { priority: Number(m[1]), weight: Number(m[2]), port: Number(m[3]), target: fqdn(m[4]!) };
      }
      default:
        throw new Error(`record ${describeRecord(r)}: type ${r.type} cannot be written over RFC 2136`);
    }
  });
}
