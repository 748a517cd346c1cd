/**
 * gangplank's embedded authoritative DNS server: UDP and TCP on one port, EDNS(0), RFC 2136
 * updates signed with TSIG, AXFR, and records persisted to a state file. Deciding lives in
 * answer.ts and update.ts; this file owns sockets, TSIG and the zone snapshots.
 */
import { createSocket, type Socket as UdpSocket, type RemoteInfo } from 'node:dgram';
import { createServer, type Server as TcpServer, type Socket } from 'node:net';
import { isIPv6 } from 'node:net';
import type { Logger } from '../runtime/logger.js';
import type { Component } from '../runtime/lifecycle.js';
import { DnsProviderError, fqdn, zoneFor, type ChangeSet, type DnsRecord } from '../controllers/dns/types.js';
import { CLASS, OPCODE, RCODE, TYPE, TcpFrameReader, decodeMessage, frameTcp, type Message, type WireRR } from './wire.js';
import { appendTsigError, normalizeName, parseTsig, signWith, verifyWith, TSIG_ERROR, type TsigKey } from './tsig.js';
import { encodeAnswer, encodeAxfr, encodeStatus, resolve, type EdnsReply, type RequestHead } from './answer.js';
import { applyUpdate } from './update.js';
import { Zone, isManaged, rdataKey, type SoaSettings, type ZoneConfig, type ZoneNode } from './zone.js';
import { loadState, saveState } from './state.js';
import { toDnsRecord, toRRset } from './records.js';

export interface DnsServerOptions {
  bind: string;
  /** 0 picks a free port (the same one for UDP and TCP). */
  port: number;
  zones: string[];
  tsigKeys: TsigKey[];
  stateFile?: string;
  logger: Logger;
  /** NS targets of every zone; default ns1.<zone>. */
  nameservers?: string[];
  soa?: SoaSettings;
  /** Unsigned updates are always refused; the option exists to say so in configuration. */
  allowUnsignedUpdates?: false;
  /** Allow AXFR without TSIG (default false: transfers need a key). */
  allowUnsignedTransfer?: boolean;
  /** Largest UDP answer we send with EDNS (default 1232, the DNS flag day value; at most 4096). */
  maxUdpSize?: number;
  /** Close idle TCP connections after this long (default 10 s). */
  tcpIdleTimeoutMs?: number;
  /** Concurrent TCP connections (default 256); more are refused by the kernel backlog. */
  maxTcpConnections?: number;
}

type Transport = 'udp' | 'tcp';

/** Signing context of a request that carried a valid TSIG. */
interface Signed {
  key: TsigKey;
  mac: Buffer;
}

/** Room left for the TSIG RR when a signed answer must fit a UDP size. */
const TSIG_RESERVE = 160;
const TCP_WRITE_HIGH_WATER = 1 << 20;

export class DnsServer implements Component {
  private readonly opts: DnsServerOptions;
  private readonly log: Logger;
  private readonly keys = new Map<string, TsigKey>();
  private readonly configs: ZoneConfig[];
  private snapshot = new Map<string, Zone>();
  private udp?: UdpSocket;
  private tcp?: TcpServer;
  private readonly sockets = new Set<Socket>();
  private ports = { udp: 0, tcp: 0 };
  private readonly maxUdp: number;
  private stopping?: Promise<void>;

  constructor(opts: DnsServerOptions) {
    this.opts = opts;
    this.log = opts.logger.child({ component: 'dnsserver' });
    for (const k of opts.tsigKeys) this.keys.set(normalizeName(k.name), k);
    const seen = new Set<string>();
    this.configs = opts.zones.map((z) => {
      const origin = fqdn(z);
      if (!origin) throw new Error('dnsserver: the root zone cannot be served; give zones like example.com');
      if (seen.has(origin)) throw new Error(`dnsserver: zone ${origin} is listed twice`);
      seen.add(origin);
      const nameservers = (opts.nameservers?.length ? opts.nameservers : [`ns1.${origin}`]).map(fqdn);
      return { origin, nameservers, soa: opts.soa ?? {} };
    });
    this.maxUdp = Math.max(512, Math.min(opts.maxUdpSize ?? 1232, 4096));
    // Loading here (not in start) lets a caller read records before the sockets are up.
    this.load();
  }

  private load(): void {
    const stored = this.opts.stateFile ? loadState(this.opts.stateFile) : new Map();
    const next = new Map<string, Zone>();
    const initialSerial = Math.floor(Date.now() / 1000);
    for (const cfg of this.configs) {
      const s = stored.get(cfg.origin);
      const nodes = new Map<string, ZoneNode>(s?.nodes ?? []);
      next.set(cfg.origin, new Zone(cfg, s?.serial ?? initialSerial, nodes));
    }
    for (const z of stored.keys()) {
      if (!next.has(z)) this.log.warn({ zone: z, stateFile: this.opts.stateFile }, 'state file holds a zone that is no longer configured; its records are dropped at the next write');
    }
    this.snapshot = next;
  }

  async start(): Promise<void> {
    const { bind, port } = this.opts;
    const family = isIPv6(bind) ? 'udp6' : 'udp4';
    for (let attempt = 0; ; attempt++) {
      const tcp = createServer((sock) => this.onTcp(sock));
      tcp.maxConnections = this.opts.maxTcpConnections ?? 256;
      await new Promise<void>((res, rej) => {
        tcp.once('error', rej);
        tcp.listen({ host: bind, port, exclusive: true }, () => {
          tcp.off('error', rej);
          res();
        });
      }).catch((err: Error) => {
        throw new Error(`dnsserver: cannot listen on tcp ${bind}:${port}: ${err.message}`);
      });
      const tcpPort = (tcp.address() as { port: number }).port;
      const udp = createSocket({ type: family, reuseAddr: false });
      try {
        await new Promise<void>((res, rej) => {
          udp.once('error', rej);
          udp.bind(tcpPort, bind, () => {
            udp.off('error', rej);
            res();
          });
        });
      } catch (err) {
        udp.close();
        await new Promise<void>((r) => tcp.close(() => r()));
        // With port 0 the kernel may give a TCP port whose UDP twin is taken: try another.
        if (port === 0 && attempt < 10) continue;
        throw new Error(`dnsserver: cannot listen on udp ${bind}:${tcpPort}: ${(err as Error).message}`);
      }
      udp.on('message', (msg, rinfo) => this.onUdp(msg, rinfo));
      udp.on('error', (err) => this.log.warn({ err: err.message }, 'UDP socket error'));
      tcp.on('error', (err) => this.log.warn({ err: err.message }, 'TCP listener error'));
      this.udp = udp;
      this.tcp = tcp;
      this.ports = { udp: tcpPort, tcp: tcpPort };
      this.log.info({ bind, port: tcpPort, zones: this.zones() }, 'authoritative DNS server listening');
      return;
    }
  }

  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    this.stopping = (async () => {
      const udp = this.udp;
      const tcp = this.tcp;
      this.udp = undefined;
      this.tcp = undefined;
      for (const s of this.sockets) s.destroy();
      this.sockets.clear();
      await Promise.all([
        udp ? new Promise<void>((r) => udp.close(() => r())) : undefined,
        tcp ? new Promise<void>((r) => tcp.close(() => r())) : undefined,
      ]);
    })();
    return this.stopping;
  }

  address(): { udp: number; tcp: number } {
    return { ...this.ports };
  }

  zones(): string[] {
    return this.configs.map((c) => c.origin);
  }

  /** Every record set of one zone (or all zones), apex SOA and NS included. */
  records(zone?: string): DnsRecord[] {
    const out: DnsRecord[] = [];
    const wanted = zone === undefined ? undefined : fqdn(zone);
    for (const z of this.snapshot.values()) {
      if (wanted !== undefined && z.origin !== wanted) continue;
      for (const [name, node] of z.nodes) for (const rrset of node.values()) out.push(toDnsRecord(name, rrset));
    }
    return out.sort((a, b) => (a.name === b.name ? a.type.localeCompare(b.type) : a.name.localeCompare(b.name)));
  }

  /**
   * Applies a change set atomically across zones: everything is checked first, then all zones
   * are persisted and swapped together. Throws DnsProviderError naming the offending record.
   */
  apply(changes: ChangeSet): void {
    if (changes.updateOld.length !== changes.updateNew.length) {
      throw new DnsProviderError('InvalidChange', `change set has ${changes.updateOld.length} old and ${changes.updateNew.length} new records for updates; they must pair up`, { retryable: false });
    }
    const zonesList = this.zones();
    const drafts = new Map<string, ReturnType<Zone['draft']>>();
    const draftFor = (rec: DnsRecord) => {
      const origin = zoneFor(rec.name, zonesList);
      if (!origin) {
        throw new DnsProviderError('ZoneNotFound', `record ${rec.name} ${rec.type} is in none of the served zones (${zonesList.join(', ')})`, { retryable: false });
      }
      let d = drafts.get(origin);
      if (!d) drafts.set(origin, (d = this.snapshot.get(origin)!.draft()));
      return { origin, draft: d };
    };
    const convert = (rec: DnsRecord) => {
      try {
        return toRRset(rec);
      } catch (err) {
        throw new DnsProviderError('InvalidRecord', (err as Error).message, { retryable: false, cause: err });
      }
    };
    const touched: Array<{ origin: string; name: string }> = [];
    const guard = (origin: string, name: string, type: number, rec: DnsRecord) => {
      if (isManaged(this.snapshot.get(origin)!.config, name, type)) {
        throw new DnsProviderError('ManagedRecord', `record ${rec.name} ${rec.type} is the zone apex ${rec.type}, which the embedded server manages itself`, { retryable: false });
      }
    };
    for (const rec of [...changes.delete, ...changes.updateOld]) {
      const { origin, draft } = draftFor(rec);
      const { name, rrset } = convert(rec);
      guard(origin, name, rrset.type, rec);
      draft.delete(name, rrset.type);
    }
    for (const rec of changes.updateNew) {
      const { origin, draft } = draftFor(rec);
      const { name, rrset } = convert(rec);
      guard(origin, name, rrset.type, rec);
      draft.set(name, rrset);
      touched.push({ origin, name });
    }
    for (const rec of changes.create) {
      const { origin, draft } = draftFor(rec);
      const { name, rrset } = convert(rec);
      guard(origin, name, rrset.type, rec);
      const cur = draft.get(name, rrset.type);
      if (cur) {
        const same =
          cur.ttl === rrset.ttl &&
          cur.data.length === rrset.data.length &&
          rrset.data.every((d) => cur.data.some((c) => rdataKey(rrset.type, c) === rdataKey(rrset.type, d)));
        if (same) continue;
        throw new DnsProviderError('AlreadyExists', `record ${rec.name} ${rec.type} already exists with other values; update it instead of creating it`, { retryable: false });
      }
      draft.set(name, rrset);
      touched.push({ origin, name });
    }
    for (const { origin, name } of touched) {
      const types = drafts.get(origin)!.types(name);
      if (types.includes(TYPE.CNAME) && types.length > 1) {
        throw new DnsProviderError('Conflict', `name ${name} would hold a CNAME and other records; a CNAME must stand alone`, { retryable: false });
      }
    }
    const next = new Map(this.snapshot);
    let changed = 0;
    for (const [origin, d] of drafts) {
      const z = d.commit();
      if (z !== this.snapshot.get(origin)) {
        next.set(origin, z);
        changed++;
      }
    }
    if (changed === 0) return;
    try {
      this.persist(next);
    } catch (err) {
      throw new DnsProviderError('StateWriteFailed', `cannot write DNS state file ${this.opts.stateFile}: ${(err as Error).message}`, { cause: err });
    }
    this.snapshot = next;
    this.log.info({ zones: [...drafts.keys()], changes: changes.create.length + changes.updateNew.length + changes.delete.length }, 'records changed');
  }

  private persist(next: Map<string, Zone>): void {
    if (this.opts.stateFile) saveState(this.opts.stateFile, next.values());
  }

  // -------------------------------------------------------------------------------------------
  // Transport

  private onUdp(msg: Buffer, rinfo: RemoteInfo): void {
    const udp = this.udp;
    if (!udp) return;
    const out = this.handle(msg, 'udp');
    if (out) udp.send(out[0]!, rinfo.port, rinfo.address);
  }

  private onTcp(sock: Socket): void {
    this.sockets.add(sock);
    const reader = new TcpFrameReader();
    sock.setNoDelay(true);
    sock.setTimeout(this.opts.tcpIdleTimeoutMs ?? 10_000, () => sock.destroy());
    sock.on('error', () => sock.destroy());
    sock.on('close', () => this.sockets.delete(sock));
    sock.on('drain', () => sock.resume());
    sock.on('data', (chunk) => {
      for (const m of reader.push(chunk)) {
        const out = this.handle(m, 'tcp');
        if (!out) continue;
        for (const o of out) if (o.length <= 65535) sock.write(frameTcp(o));
      }
      // A client that sends queries but does not read answers must not grow our buffers.
      if (sock.writableLength > TCP_WRITE_HIGH_WATER) sock.pause();
    });
  }

  /**
   * One request in, zero or more answers out (several for AXFR). Never throws: a message that
   * cannot be decoded gets FORMERR, one without a readable header is dropped.
   */
  handle(buf: Buffer, transport: Transport): Buffer[] | undefined {
    if (buf.length < 12) return undefined;
    const flags = buf.readUInt16BE(2);
    if (flags & 0x8000) return undefined; // a response: never answer it (no reflection loops)
    const head: RequestHead = { id: buf.readUInt16BE(0), opcode: (flags >> 11) & 0xf, rd: (flags & 0x0100) !== 0, cd: (flags & 0x0010) !== 0 };
    try {
      return this.dispatch(buf, head, transport);
    } catch (err) {
      this.log.debug({ err: (err as Error).message, transport }, 'malformed or unanswerable request');
      const rcode = (err as { name?: string }).name === 'WireError' ? RCODE.FORMERR : RCODE.SERVFAIL;
      // A question we cannot echo (e.g. a label holding a dot) is left out of the answer.
      return [encodeStatus({ ...head, question: undefined }, rcode)];
    }
  }

  private dispatch(buf: Buffer, head: RequestHead, transport: Transport): Buffer[] | undefined {
    let msg: Message;
    try {
      msg = decodeMessage(buf);
    } catch (err) {
      this.log.debug({ err: (err as Error).message, transport }, 'FORMERR: cannot decode request');
      return [encodeStatus(head, RCODE.FORMERR)];
    }
    if (msg.questions.length === 1) head.question = msg.questions[0];
    let opt: WireRR | undefined;
    let hasTsig = false;
    for (const a of msg.additionals) {
      if (a.type === TYPE.OPT) {
        if (opt || a.name !== '') return [encodeStatus(head, RCODE.FORMERR)];
        opt = a;
      } else if (a.type === TYPE.TSIG) hasTsig = true;
    }
    let edns: EdnsReply | undefined;
    let limit = transport === 'tcp' ? 65535 : 512;
    if (opt) {
      edns = { udpSize: this.maxUdp };
      if (transport === 'udp') limit = Math.max(512, Math.min(opt.class, this.maxUdp));
      if ((opt.ttl >>> 16) & 0xff) return [encodeStatus(head, 16 /* BADVERS */, edns)];
    }

    let signed: Signed | undefined;
    if (hasTsig) {
      const v = verifyWith(buf, (n) => this.keys.get(n), {});
      if (!v.ok) return [this.tsigFailure(buf, head, v.rcode, v.message, transport)];
      signed = { key: v.key, mac: v.mac };
      limit -= TSIG_RESERVE;
    }

    let out: Buffer[];
    switch (head.opcode) {
      case OPCODE.QUERY:
        out = this.query(msg, head, edns, limit, transport, signed);
        break;
      case OPCODE.UPDATE:
        out = [this.update(msg, head, signed, transport)];
        break;
      default:
        out = [encodeStatus(head, RCODE.NOTIMP, edns)];
    }
    if (!signed) return out;
    // Answers to signed requests are signed (RFC 8945 5.3); an AXFR stream chains its MACs.
    let prior = signed.mac;
    return out.map((m, i) => {
      const s = signWith(m, signed.key, { requestMac: prior, timersOnly: i > 0 });
      prior = s.mac;
      return s.wire;
    });
  }

  private tsigFailure(buf: Buffer, head: RequestHead, rcode: string, message: string, transport: Transport): Buffer {
    this.log.warn({ tsig: rcode, transport, detail: message }, 'request with a bad TSIG signature refused');
    if (rcode === 'FORMERR' || rcode === 'NOTSIGNED') return encodeStatus(head, RCODE.FORMERR);
    const t = parseTsig(buf)!;
    const status = encodeStatus(head, RCODE.NOTAUTH);
    if (rcode === 'BADTIME') {
      // BADTIME answers are signed and carry our clock in Other Data (RFC 8945 5.2.3).
      const key = this.keys.get(t.keyName)!;
      const now = Math.floor(Date.now() / 1000);
      const other = Buffer.alloc(6);
      other.writeUInt16BE(Math.floor(now / 0x100000000), 0);
      other.writeUInt32BE(now >>> 0, 2);
      return signWith(status, key, { requestMac: t.mac, time: t.time, fudge: t.fudge, error: TSIG_ERROR.BADTIME, otherData: other }).wire;
    }
    const code = rcode === 'BADKEY' ? TSIG_ERROR.BADKEY : TSIG_ERROR.BADSIG;
    return appendTsigError(status, t.keyName, t.algorithm, code, t.time, t.fudge);
  }

  private query(msg: Message, head: RequestHead, edns: EdnsReply | undefined, limit: number, transport: Transport, signed: Signed | undefined): Buffer[] {
    const q = head.question;
    if (!q || msg.answers.length || msg.authorities.length) return [encodeStatus(head, RCODE.FORMERR, edns)];
    if (q.class !== CLASS.IN && q.class !== CLASS.ANY) return [encodeStatus(head, RCODE.REFUSED, edns)];
    if (q.type === TYPE.AXFR || q.type === TYPE.IXFR) return this.transfer(head, q.name, edns, transport, signed);
    if (q.type === TYPE.OPT || q.type === TYPE.TSIG) return [encodeStatus(head, RCODE.FORMERR, edns)];
    return [encodeAnswer(head, resolve(this.snapshot, q.name, q.type), edns, limit)];
  }

  private transfer(head: RequestHead, name: string, edns: EdnsReply | undefined, transport: Transport, signed: Signed | undefined): Buffer[] {
    const zone = this.snapshot.get(name.toLowerCase());
    if (!zone) return [encodeStatus(head, this.findsZone(name) ? RCODE.NOTAUTH : RCODE.REFUSED, edns)];
    if (!signed && !this.opts.allowUnsignedTransfer) {
      this.log.warn({ zone: zone.origin, transport }, 'unsigned zone transfer refused');
      return [encodeStatus(head, RCODE.REFUSED, edns)];
    }
    // Over UDP (an IXFR probe) the current SOA tells the client to come back over TCP (RFC 1995 2).
    if (transport === 'udp') return [encodeAnswer(head, { rcode: RCODE.NOERROR, authoritative: true, answer: [{ owner: head.question!.name, rrset: zone.soa }], authority: [] }, edns, 512)];
    this.log.info({ zone: zone.origin, key: signed?.key.name, serial: zone.serial }, 'zone transfer');
    return encodeAxfr(head, zone);
  }

  private findsZone(name: string): boolean {
    return zoneFor(name, this.zones()) !== undefined;
  }

  private update(msg: Message, head: RequestHead, signed: Signed | undefined, transport: Transport): Buffer {
    const q = head.question;
    if (msg.questions.length !== 1 || !q || q.type !== TYPE.SOA || (q.class !== CLASS.IN && q.class !== CLASS.ANY)) {
      return encodeStatus(head, RCODE.FORMERR);
    }
    if (!signed) {
      this.log.warn({ zone: q.name, transport }, 'unsigned update refused: updates must be signed with a TSIG key');
      return encodeStatus(head, RCODE.REFUSED);
    }
    const zone = this.snapshot.get(q.name.toLowerCase());
    if (!zone) {
      this.log.warn({ zone: q.name, key: signed.key.name }, 'update for a zone this server is not authoritative for');
      return encodeStatus(head, RCODE.NOTAUTH);
    }
    const r = applyUpdate(zone, msg.answers, msg.authorities);
    if (r.rcode !== RCODE.NOERROR) {
      this.log.info({ zone: zone.origin, key: signed.key.name, reason: r.reason }, 'update refused');
      return encodeStatus(head, r.rcode);
    }
    if (r.zone) {
      const next = new Map(this.snapshot);
      next.set(zone.origin, r.zone);
      try {
        this.persist(next);
      } catch (err) {
        this.log.error({ zone: zone.origin, err: (err as Error).message, stateFile: this.opts.stateFile }, 'cannot persist update; answering SERVFAIL');
        return encodeStatus(head, RCODE.SERVFAIL);
      }
      this.snapshot = next;
      this.log.info({ zone: zone.origin, key: signed.key.name, changes: r.changes, serial: r.zone.serial }, 'zone updated');
    }
    return encodeStatus(head, RCODE.NOERROR);
  }
}
