/**
 * Answering a query from zone snapshots (pure), and encoding the answer within a size limit.
 * The query path does map lookups only: one per label to find the zone, one per name in the
 * CNAME chain.
 */
import { CLASS, Encoder, RCODE, TYPE, TooBigError, type Question } from './wire.js';
import type { RRset, Zone, ZoneNode } from './zone.js';

export interface Part {
  owner: string;
  rrset: RRset;
}

export interface Resolution {
  rcode: number;
  /** False when no zone of ours contains the name (the answer is REFUSED, not authoritative). */
  authoritative: boolean;
  answer: Part[];
  authority: Part[];
}

/** How many CNAMEs an answer follows before it stops (loops end here too). */
const MAX_CHAIN = 8;

/** The zone (by origin) that holds a lower-case name: the longest matching suffix. */
export function findZone(zones: ReadonlyMap<string, Zone>, lname: string): Zone | undefined {
  let n = lname;
  for (;;) {
    const z = zones.get(n);
    if (z) return z;
    const dot = n.indexOf('.');
    if (dot < 0) return undefined;
    n = n.slice(dot + 1);
  }
}

const REFUSED: Resolution = { rcode: RCODE.REFUSED, authoritative: false, answer: [], authority: [] };

export function resolve(zones: ReadonlyMap<string, Zone>, qname: string, qtype: number): Resolution {
  let lname = qname.toLowerCase();
  let owner = qname;
  const first = findZone(zones, lname);
  if (!first) return REFUSED;
  let zone: Zone = first;
  const answer: Part[] = [];
  for (let hops = 0; ; hops++) {
    const node: ZoneNode | undefined = zone.nodes.get(lname);
    if (!node) {
      // An empty non-terminal exists (NODATA); anything else does not (NXDOMAIN, RFC 8020).
      const rcode = zone.exists(lname) ? RCODE.NOERROR : RCODE.NXDOMAIN;
      return { rcode, authoritative: true, answer, authority: [{ owner: zone.origin, rrset: zone.negativeSoa }] };
    }
    if (qtype === TYPE.ANY) {
      for (const rrset of node.values()) answer.push({ owner, rrset });
      return { rcode: RCODE.NOERROR, authoritative: true, answer, authority: [] };
    }
    const direct = node.get(qtype);
    if (direct) {
      answer.push({ owner, rrset: direct });
      return { rcode: RCODE.NOERROR, authoritative: true, answer, authority: [] };
    }
    const cname: RRset | undefined = node.get(TYPE.CNAME);
    if (cname) {
      answer.push({ owner, rrset: cname });
      const target: string = (cname.data[0] as string).toLowerCase();
      const next: Zone | undefined = hops + 1 < MAX_CHAIN ? findZone(zones, target) : undefined;
      // A target outside our zones is the resolver's job to follow.
      if (!next) return { rcode: RCODE.NOERROR, authoritative: true, answer, authority: [] };
      zone = next;
      lname = target;
      owner = target;
      continue;
    }
    return { rcode: RCODE.NOERROR, authoritative: true, answer, authority: [{ owner: zone.origin, rrset: zone.negativeSoa }] };
  }
}

/** What the answer echoes from the request. */
export interface RequestHead {
  id: number;
  opcode: number;
  rd: boolean;
  cd: boolean;
  question?: Question;
}

export interface EdnsReply {
  /** Our UDP payload size, advertised in the OPT record. */
  udpSize: number;
  /** Upper 8 bits of a 12-bit rcode (BADVERS). */
  extRcode?: number;
}

/** Writes the header with zero counts (patched later) and the question. */
function start(e: Encoder, h: RequestHead, rcode: number, aa: boolean, tc: boolean): void {
  e.header(
    { id: h.id, qr: true, opcode: h.opcode, aa, tc, rd: h.rd, ra: false, ad: false, cd: h.cd, rcode, questions: [], answers: [], authorities: [], additionals: [] },
    0,
    0,
    0,
    0,
  );
  if (h.question) e.question(h.question);
}

function writeOpt(e: Encoder, edns: EdnsReply): void {
  e.record('', TYPE.OPT, edns.udpSize, ((edns.extRcode ?? 0) & 0xff) << 24, undefined);
}

function writeParts(e: Encoder, parts: readonly Part[]): number {
  let n = 0;
  for (const p of parts) {
    const { type, ttl, data } = p.rrset;
    for (const d of data) {
      e.record(p.owner, type, CLASS.IN, ttl, d);
      n++;
    }
  }
  return n;
}

/**
 * Encodes an answer; when it does not fit in `limit` octets, an empty answer with TC set
 * (RFC 2181 9: the client retries over TCP and gets the whole answer there).
 */
export function encodeAnswer(h: RequestHead, r: Resolution, edns: EdnsReply | undefined, limit: number): Buffer {
  const qd = h.question ? 1 : 0;
  try {
    const e = new Encoder(limit);
    start(e, h, r.rcode, r.authoritative, false);
    const an = writeParts(e, r.answer);
    const ns = writeParts(e, r.authority);
    if (edns) writeOpt(e, edns);
    e.counts(qd, an, ns, edns ? 1 : 0);
    return e.finish();
  } catch (err) {
    if (!(err instanceof TooBigError)) throw err;
    const e = new Encoder(limit);
    start(e, h, r.rcode, r.authoritative, true);
    if (edns) writeOpt(e, edns);
    e.counts(qd, 0, 0, edns ? 1 : 0);
    return e.finish();
  }
}

/** An answer with only a header, the question (if any) and an rcode (errors, REFUSED, NOTIMP). */
export function encodeStatus(h: RequestHead, rcode: number, edns?: EdnsReply): Buffer {
  const e = new Encoder();
  start(e, h, rcode & 0xf, false, false);
  if (edns) writeOpt(e, { ...edns, extRcode: rcode >> 4 });
  e.counts(h.question ? 1 : 0, 0, 0, edns ? 1 : 0);
  return e.finish();
}

/**
 * The messages of a zone transfer: SOA, every other RRset, SOA again (RFC 5936), packed into
 * messages of at most `limit` octets; only the first carries the question.
 */
export function encodeAxfr(h: RequestHead, zone: Zone, limit = 65000): Buffer[] {
  const records: Array<[string, RRset]> = [[zone.origin, zone.soa]];
  for (const [name, node] of zone.nodes) {
    for (const rrset of node.values()) if (!(name === zone.origin && rrset.type === TYPE.SOA)) records.push([name, rrset]);
  }
  records.push([zone.origin, zone.soa]);
  const out: Buffer[] = [];
  let e = new Encoder(limit);
  let first = true;
  let an = 0;
  const open = () => {
    e = new Encoder(limit);
    start(e, first ? h : { ...h, question: undefined }, RCODE.NOERROR, true, false);
    an = 0;
  };
  const close = () => {
    e.counts(first && h.question ? 1 : 0, an, 0, 0);
    out.push(e.finish());
    first = false;
  };
  open();
  for (const [name, rrset] of records) {
    for (const d of rrset.data) {
      const mark = e.pos;
      try {
        e.record(name, rrset.type, CLASS.IN, rrset.ttl, d);
        an++;
      } catch (err) {
        if (!(err instanceof TooBigError) || an === 0) throw err;
        e.rewind(mark);
        close();
        open();
        e.record(name, rrset.type, CLASS.IN, rrset.ttl, d);
        an++;
      }
    }
  }
  close();
  return out;
}
