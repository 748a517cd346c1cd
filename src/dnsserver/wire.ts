/**
 * A small, strict DNS wire codec (RFC 1035, 3596, 2136, 6891) for the embedded server and the
 * RFC 2136 client. dns-packet cannot carry class NONE (254) nor empty RDATA in update sections,
 * and the query path wants a lean encoder with name compression and a size limit, so the
 * server speaks the wire format through this module. Names are presentation strings without
 * the trailing dot (the root is ''); case is preserved as received.
 */

export const TYPE = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  TSIG: 250,
  IXFR: 251,
  AXFR: 252,
  ANY: 255,
} as const;

export const CLASS = { IN: 1, CH: 3, HS: 4, NONE: 254, ANY: 255 } as const;

export const OPCODE = { QUERY: 0, NOTIFY: 4, UPDATE: 5 } as const;

export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  YXDOMAIN: 6,
  YXRRSET: 7,
  NXRRSET: 8,
  NOTAUTH: 9,
  NOTZONE: 10,
  // Extended (EDNS / TSIG) codes.
  BADVERS: 16,
  BADSIG: 16,
  BADKEY: 17,
  BADTIME: 18,
} as const;

const TYPE_NAMES = new Map<number, string>(Object.entries(TYPE).map(([k, v]) => [v, k]));
const CLASS_NAMES = new Map<number, string>(Object.entries(CLASS).map(([k, v]) => [v, k]));

/** `A` -> 1, `TYPE65` -> 65; throws on an unknown mnemonic. */
export function typeCode(name: string): number {
  const up = name.toUpperCase();
  const known = (TYPE as Record<string, number>)[up];
  if (known !== undefined) return known;
  const m = /^TYPE(\d{1,5})$/.exec(up);
  if (m && Number(m[1]) <= 0xffff) return Number(m[1]);
  throw new Error(`unknown DNS record type "${name}": use A, AAAA, CNAME, TXT, NS, SOA, MX, SRV, PTR or TYPEnnn`);
}

export function typeName(code: number): string {
  return TYPE_NAMES.get(code) ?? `TYPE${code}`;
}

export function classCode(name: string): number {
  const up = name.toUpperCase();
  const known = (CLASS as Record<string, number>)[up];
  if (known !== undefined) return known;
  const m = /^CLASS(\d{1,5})$/.exec(up);
  if (m && Number(m[1]) <= 0xffff) return Number(m[1]);
  throw new Error(`unknown DNS class "${name}": use IN, NONE or ANY`);
}

export function className(code: number): string {
  return CLASS_NAMES.get(code) ?? `CLASS${code}`;
}

export interface SoaData {
  mname: string;
  rname: string;
  serial: number;
  refresh: number;
  retry: number;
  expire: number;
  minimum: number;
}
export interface MxData {
  preference: number;
  exchange: string;
}
export interface SrvData {
  priority: number;
  weight: number;
  port: number;
  target: string;
}

/**
 * Decoded RDATA by type: an address or a host name (A, AAAA, CNAME, NS, PTR), the strings of
 * a TXT record, SOA/MX/SRV fields, or the raw bytes of anything else (OPT, TSIG, unknown).
 * `undefined` means empty RDATA (RFC 2136 deletes and prerequisites).
 */
export type RData = string | string[] | SoaData | MxData | SrvData | Buffer;

export interface Question {
  name: string;
  type: number;
  class: number;
}

export interface WireRR {
  name: string;
  type: number;
  class: number;
  ttl: number;
  data?: RData;
}

export interface Message {
  id: number;
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  ad: boolean;
  cd: boolean;
  rcode: number;
  questions: Question[];
  answers: WireRR[];
  authorities: WireRR[];
  additionals: WireRR[];
}

export class WireError extends Error {
  override readonly name = 'WireError';
}

export function emptyMessage(init: Partial<Message> = {}): Message {
  return {
    id: 0,
    qr: false,
    opcode: 0,
    aa: false,
    tc: false,
    rd: false,
    ra: false,
    ad: false,
    cd: false,
    rcode: 0,
    questions: [],
    answers: [],
    authorities: [],
    additionals: [],
    ...init,
  };
}

// ---------------------------------------------------------------------------------------------
// Decoding

/** Where decodeName stopped; a module-level cell instead of a tuple keeps the hot path allocation-free. */
let nameEnd = 0;

/** Decodes a possibly compressed name at `off`; sets `nameEnd` to the offset after it. */
export function decodeName(buf: Buffer, off: number): string {
  let out = '';
  let end = -1;
  let total = 0;
  let jumps = 0;
  let pos = off;
  for (;;) {
    if (pos >= buf.length) throw new WireError('name runs past the end of the message');
    const len = buf[pos]!;
    if (len === 0) {
      pos++;
      break;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= buf.length) throw new WireError('name pointer runs past the end of the message');
      const ptr = ((len & 0x3f) << 8) | buf[pos + 1]!;
      if (end < 0) end = pos + 2;
      // Pointers must go backwards; this also makes loops impossible.
      if (ptr >= pos || ++jumps > 64) throw new WireError('bad name compression pointer');
      pos = ptr;
      continue;
    }
    if (kind !== 0) throw new WireError('unsupported label type');
    total += len + 1;
    if (total > 255) throw new WireError('name longer than 255 octets');
    if (pos + 1 + len > buf.length) throw new WireError('label runs past the end of the message');
    const label = buf.toString('latin1', pos + 1, pos + 1 + len);
    out = out.length === 0 ? label : out + '.' + label;
    pos += 1 + len;
  }
  nameEnd = end < 0 ? pos : end;
  return out;
}

function u16(buf: Buffer, off: number): number {
  if (off + 2 > buf.length) throw new WireError('message truncated');
  return (buf[off]! << 8) | buf[off + 1]!;
}

function u32(buf: Buffer, off: number): number {
  if (off + 4 > buf.length) throw new WireError('message truncated');
  return buf.readUInt32BE(off);
}

export function ipv4ToString(buf: Buffer, off = 0): string {
  return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
}

export function ipv6ToString(buf: Buffer, off = 0): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push((buf[off + 2 * i]! << 8) | buf[off + 2 * i + 1]!);
  // Longest run of zero words (length >= 2) collapses to '::' (RFC 5952).
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart < 0) return hex.join(':');
  return hex.slice(0, bestStart).join(':') + '::' + hex.slice(bestStart + bestLen).join(':');
}

function decodeRData(buf: Buffer, type: number, off: number, len: number): RData | undefined {
  if (len === 0) return undefined;
  const end = off + len;
  switch (type) {
    case TYPE.A:
      if (len !== 4) throw new WireError('A record RDATA must be 4 octets');
      return ipv4ToString(buf, off);
    case TYPE.AAAA:
      if (len !== 16) throw new WireError('AAAA record RDATA must be 16 octets');
      return ipv6ToString(buf, off);
    case TYPE.CNAME:
    case TYPE.NS:
    case TYPE.PTR: {
      const n = decodeName(buf, off);
      if (nameEnd !== end) throw new WireError(`${typeName(type)} RDATA length does not match its name`);
      return n;
    }
    case TYPE.TXT: {
      const out: string[] = [];
      let p = off;
      while (p < end) {
        const l = buf[p]!;
        if (p + 1 + l > end) throw new WireError('TXT string runs past its RDATA');
        out.push(buf.toString('utf8', p + 1, p + 1 + l));
        p += 1 + l;
      }
      return out;
    }
    case TYPE.SOA: {
      const mname = decodeName(buf, off);
      const rname = decodeName(buf, nameEnd);
      const p = nameEnd;
      if (p + 20 !== end) throw new WireError('SOA RDATA length does not match');
      return {
        mname,
        rname,
        serial: u32(buf, p),
        refresh: u32(buf, p + 4),
        retry: u32(buf, p + 8),
        expire: u32(buf, p + 12),
        minimum: u32(buf, p + 16),
      };
    }
    case TYPE.MX: {
      const preference = u16(buf, off);
      const exchange = decodeName(buf, off + 2);
      if (nameEnd !== end) throw new WireError('MX RDATA length does not match');
      return { preference, exchange };
    }
    case TYPE.SRV: {
      if (len < 7) throw new WireError('SRV RDATA too short');
      const priority = u16(buf, off);
      const weight = u16(buf, off + 2);
      const port = u16(buf, off + 4);
      const target = decodeName(buf, off + 6);
      if (nameEnd !== end) throw new WireError('SRV RDATA length does not match');
      return { priority, weight, port, target };
    }
    default:
      return Buffer.from(buf.subarray(off, end));
  }
}

/** Offset just after one resource record starting at `off` (no decoding of its data). */
export function skipRR(buf: Buffer, off: number): number {
  decodeName(buf, off);
  const p = nameEnd;
  if (p + 10 > buf.length) throw new WireError('resource record header truncated');
  const rdlen = u16(buf, p + 8);
  if (p + 10 + rdlen > buf.length) throw new WireError('RDATA runs past the end of the message');
  return p + 10 + rdlen;
}

function decodeRR(buf: Buffer, off: number, out: WireRR[]): number {
  const name = decodeName(buf, off);
  const p = nameEnd;
  if (p + 10 > buf.length) throw new WireError('resource record header truncated');
  const type = u16(buf, p);
  const cls = u16(buf, p + 2);
  const ttl = buf.readUInt32BE(p + 4);
  const rdlen = u16(buf, p + 8);
  const start = p + 10;
  if (start + rdlen > buf.length) throw new WireError('RDATA runs past the end of the message');
  const rr: WireRR = { name, type, class: cls, ttl };
  const data = decodeRData(buf, type, start, rdlen);
  if (data !== undefined) rr.data = data;
  out.push(rr);
  return start + rdlen;
}

export const HEADER_SIZE = 12;

/** Decodes a whole message; throws WireError on anything malformed (callers answer FORMERR). */
export function decodeMessage(buf: Buffer): Message {
  if (buf.length < HEADER_SIZE) throw new WireError('message shorter than the 12-octet header');
  const flags = u16(buf, 2);
  const msg = emptyMessage({
    id: u16(buf, 0),
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    aa: (flags & 0x0400) !== 0,
    tc: (flags & 0x0200) !== 0,
    rd: (flags & 0x0100) !== 0,
    ra: (flags & 0x0080) !== 0,
    ad: (flags & 0x0020) !== 0,
    cd: (flags & 0x0010) !== 0,
    rcode: flags & 0xf,
  });
  const qd = u16(buf, 4);
  const an = u16(buf, 6);
  const ns = u16(buf, 8);
  const ar = u16(buf, 10);
  let off = HEADER_SIZE;
  for (let i = 0; i < qd; i++) {
    const name = decodeName(buf, off);
    off = nameEnd;
    msg.questions.push({ name, type: u16(buf, off), class: u16(buf, off + 2) });
    off += 4;
  }
  for (let i = 0; i < an; i++) off = decodeRR(buf, off, msg.answers);
  for (let i = 0; i < ns; i++) off = decodeRR(buf, off, msg.authorities);
  for (let i = 0; i < ar; i++) off = decodeRR(buf, off, msg.additionals);
  if (off !== buf.length) throw new WireError(`${buf.length - off} trailing octets after the last record`);
  return msg;
}

/** Start offsets of every record in the answer, authority and additional sections (for TSIG). */
export function recordOffsets(buf: Buffer): { additionalStarts: number[]; end: number } {
  if (buf.length < HEADER_SIZE) throw new WireError('message shorter than the 12-octet header');
  const qd = u16(buf, 4);
  const rrs = u16(buf, 6) + u16(buf, 8);
  const ar = u16(buf, 10);
  let off = HEADER_SIZE;
  for (let i = 0; i < qd; i++) {
    decodeName(buf, off);
    off = nameEnd + 4;
    if (off > buf.length) throw new WireError('question truncated');
  }
  for (let i = 0; i < rrs; i++) off = skipRR(buf, off);
  const additionalStarts: number[] = [];
  for (let i = 0; i < ar; i++) {
    additionalStarts.push(off);
    off = skipRR(buf, off);
  }
  return { additionalStarts, end: off };
}

// ---------------------------------------------------------------------------------------------
// Encoding

const MAX_MESSAGE = 65535;

/** Thrown by the encoder when a message would exceed its size limit (the caller truncates). */
export class TooBigError extends WireError {}

/**
 * Appends to one reusable scratch buffer (encoding is synchronous, so sharing is safe) and
 * compresses names against earlier ones by lower-cased suffix.
 */
export class Encoder {
  private static scratch = Buffer.allocUnsafe(MAX_MESSAGE + 2);
  readonly buf: Buffer;
  pos = 0;
  private readonly limit: number;
  private readonly names = new Map<string, number>();

  constructor(limit = MAX_MESSAGE) {
    this.buf = Encoder.scratch;
    this.limit = Math.min(limit, MAX_MESSAGE);
  }

  private room(n: number): void {
    if (this.pos + n > this.limit) throw new TooBigError(`message exceeds ${this.limit} octets`);
  }

  u8(v: number): void {
    this.room(1);
    this.buf[this.pos++] = v & 0xff;
  }

  u16(v: number): void {
    this.room(2);
    this.buf[this.pos++] = (v >> 8) & 0xff;
    this.buf[this.pos++] = v & 0xff;
  }

  u32(v: number): void {
    this.room(4);
    this.buf.writeUInt32BE(v >>> 0, this.pos);
    this.pos += 4;
  }

  bytes(b: Buffer): void {
    this.room(b.length);
    b.copy(this.buf, this.pos);
    this.pos += b.length;
  }

  /** Writes a name; `compress` false for RDATA of types where compression is not allowed. */
  name(name: string, compress = true): void {
    if (name === '' || name === '.') {
      this.u8(0);
      return;
    }
    const n = name.endsWith('.') ? name.slice(0, -1) : name;
    const lower = compress ? n.toLowerCase() : '';
    let i = 0;
    for (;;) {
      if (compress) {
        const suffix = i === 0 ? lower : lower.slice(i);
        const ptr = this.names.get(suffix);
        if (ptr !== undefined) {
          this.u16(0xc000 | ptr);
          return;
        }
        if (this.pos < 0x3fff) this.names.set(suffix, this.pos);
      }
      const dot = n.indexOf('.', i);
      const label = dot < 0 ? n.slice(i) : n.slice(i, dot);
      const len = Buffer.byteLength(label, 'latin1');
      if (len === 0 || len > 63) throw new WireError(`invalid label in name "${name}": labels are 1 to 63 octets`);
      this.room(len + 1);
      this.buf[this.pos++] = len;
      this.buf.write(label, this.pos, 'latin1');
      this.pos += len;
      if (dot < 0) break;
      i = dot + 1;
    }
    this.u8(0);
  }

  header(m: Message, qd: number, an: number, ns: number, ar: number): void {
    const flags =
      (m.qr ? 0x8000 : 0) |
      ((m.opcode & 0xf) << 11) |
      (m.aa ? 0x0400 : 0) |
      (m.tc ? 0x0200 : 0) |
      (m.rd ? 0x0100 : 0) |
      (m.ra ? 0x0080 : 0) |
      (m.ad ? 0x0020 : 0) |
      (m.cd ? 0x0010 : 0) |
      (m.rcode & 0xf);
    this.u16(m.id);
    this.u16(flags);
    this.u16(qd);
    this.u16(an);
    this.u16(ns);
    this.u16(ar);
  }

  question(q: Question): void {
    this.name(q.name);
    this.u16(q.type);
    this.u16(q.class);
  }

  rr(r: WireRR): void {
    this.record(r.name, r.type, r.class, r.ttl, r.data);
  }

  /** One resource record; RDATA length is filled in after the data is written. */
  record(owner: string, type: number, cls: number, ttl: number, data: RData | undefined): void {
    this.name(owner);
    this.u16(type);
    this.u16(cls);
    this.u32(ttl);
    this.room(2);
    const lenAt = this.pos;
    this.pos += 2;
    if (data !== undefined) this.rdata(type, data);
    const len = this.pos - lenAt - 2;
    this.buf[lenAt] = len >> 8;
    this.buf[lenAt + 1] = len & 0xff;
  }

  /** Rewinds to `pos` after a record did not fit; compression entries past it are dropped. */
  rewind(pos: number): void {
    this.pos = pos;
    for (const [k, v] of this.names) if (v >= pos) this.names.delete(k);
  }

  /** Overwrites the four section counts of the header already written at offset 0. */
  counts(qd: number, an: number, ns: number, ar: number): void {
    this.buf.writeUInt16BE(qd, 4);
    this.buf.writeUInt16BE(an, 6);
    this.buf.writeUInt16BE(ns, 8);
    this.buf.writeUInt16BE(ar, 10);
  }

  private rdata(type: number, d: RData): void {
    switch (type) {
      case TYPE.A:
        this.bytes(parseIPv4(expectString(type, d)));
        return;
      case TYPE.AAAA:
        this.bytes(parseIPv6(expectString(type, d)));
        return;
      case TYPE.CNAME:
      case TYPE.NS:
      case TYPE.PTR:
        this.name(expectString(type, d));
        return;
      case TYPE.TXT: {
        const parts = typeof d === 'string' ? [d] : Array.isArray(d) ? d : undefined;
        if (!parts) throw new WireError('TXT data must be a string or a list of strings');
        for (const s of parts) for (const chunk of txtChunks(s)) {
          this.u8(chunk.length);
          this.bytes(chunk);
        }
        return;
      }
      case TYPE.SOA: {
        const s = d as SoaData;
        if (typeof s !== 'object' || typeof s.mname !== 'string') throw new WireError('SOA data must have mname, rname, serial, ...');
        this.name(s.mname);
        this.name(s.rname);
        this.u32(s.serial);
        this.u32(s.refresh);
        this.u32(s.retry);
        this.u32(s.expire);
        this.u32(s.minimum);
        return;
      }
      case TYPE.MX: {
        const m = d as MxData;
        if (typeof m !== 'object' || typeof m.exchange !== 'string') throw new WireError('MX data must have preference and exchange');
        this.u16(m.preference);
        this.name(m.exchange);
        return;
      }
      case TYPE.SRV: {
        const s = d as SrvData;
        if (typeof s !== 'object' || typeof s.target !== 'string') throw new WireError('SRV data must have priority, weight, port and target');
        this.u16(s.priority);
        this.u16(s.weight);
        this.u16(s.port);
        this.name(s.target, false);
        return;
      }
      default:
        if (!Buffer.isBuffer(d)) throw new WireError(`${typeName(type)} data must be raw bytes`);
        this.bytes(d);
    }
  }

  /** A copy of what was written (the scratch buffer is reused by the next encode). */
  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }
}

function expectString(type: number, d: RData): string {
  if (typeof d !== 'string') throw new WireError(`${typeName(type)} data must be a string`);
  return d;
}

/** TXT text longer than 255 octets is carried as several character-strings (RFC 1035 3.3.14). */
export function txtChunks(s: string): Buffer[] {
  const b = Buffer.from(s, 'utf8');
  if (b.length <= 255) return [b];
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += 255) out.push(b.subarray(i, i + 255));
  return out;
}

export function parseIPv4(s: string): Buffer {
  const parts = s.split('.');
  if (parts.length !== 4) throw new WireError(`"${s}" is not an IPv4 address`);
  const out = Buffer.allocUnsafe(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) throw new WireError(`"${s}" is not an IPv4 address`);
    out[i] = Number(p);
  }
  return out;
}

export function parseIPv6(s: string): Buffer {
  const bad = () => new WireError(`"${s}" is not an IPv6 address`);
  let str = s;
  let tail: number[] = [];
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two words.
  const lastColon = str.lastIndexOf(':');
  if (lastColon >= 0 && str.indexOf('.', lastColon) > 0) {
    const v4 = parseIPv4(str.slice(lastColon + 1));
    tail = [(v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!];
    const prefix = str.slice(0, lastColon + 1);
    str = prefix.endsWith('::') ? prefix : prefix.slice(0, -1);
  }
  const halves = str.split('::');
  if (halves.length > 2) throw bad();
  const parse = (h: string) => (h === '' ? [] : h.split(':').map((w) => {
    if (!/^[0-9a-fA-F]{1,4}$/.test(w)) throw bad();
    return parseInt(w, 16);
  }));
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  const explicit = head.length + rest.length + tail.length;
  let words: number[];
  if (halves.length === 2) {
    if (explicit > 7) throw bad();
    words = [...head, ...new Array<number>(8 - explicit).fill(0), ...rest, ...tail];
  } else {
    if (explicit !== 8) throw bad();
    words = [...head, ...tail];
  }
  const out = Buffer.allocUnsafe(16);
  for (let i = 0; i < 8; i++) out.writeUInt16BE(words[i]!, 2 * i);
  return out;
}

/** Encodes a whole message; throws TooBigError when it exceeds `limit` octets. */
export function encodeMessage(m: Message, limit = MAX_MESSAGE): Buffer {
  const e = new Encoder(limit);
  e.header(m, m.questions.length, m.answers.length, m.authorities.length, m.additionals.length);
  for (const q of m.questions) e.question(q);
  for (const r of m.answers) e.rr(r);
  for (const r of m.authorities) e.rr(r);
  for (const r of m.additionals) e.rr(r);
  return e.finish();
}

// ---------------------------------------------------------------------------------------------
// RFC 2136 UPDATE messages, for the rfc2136 client

/** One record of an update's prerequisite or update section, in presentation form. */
export interface UpdateRR {
  name: string;
  /** `A`, `TXT`, ... or `ANY` (with class ANY/NONE: "name in use" / "delete all RRsets"). */
  type: string;
  class: 'IN' | 'NONE' | 'ANY';
  ttl: number;
  /** Absent for RRset/name prerequisites and RRset deletes; TXT takes a string (split at 255 octets) or strings. */
  data?: RData;
}

function toWire(r: UpdateRR): WireRR {
  const out: WireRR = { name: r.name, type: typeCode(r.type), class: classCode(r.class), ttl: r.ttl };
  if (r.data !== undefined) out.data = r.data;
  return out;
}

/** Builds an UPDATE message (opcode 5) for `zone` with a random id; sign it with tsig.signMessage. */
export function encodeUpdate(zone: string, prereqs: UpdateRR[], updates: UpdateRR[], id = randomId()): Buffer {
  return encodeMessage(
    emptyMessage({
      id,
      opcode: OPCODE.UPDATE,
      questions: [{ name: zone, type: TYPE.SOA, class: CLASS.IN }],
      answers: prereqs.map(toWire),
      authorities: updates.map(toWire),
    }),
  );
}

/** Builds a query (e.g. an AXFR request) with a random id. */
export function encodeQuery(name: string, type: string | number, opts: { id?: number; rd?: boolean } = {}): Buffer {
  return encodeMessage(
    emptyMessage({
      id: opts.id ?? randomId(),
      rd: opts.rd ?? false,
      questions: [{ name, type: typeof type === 'number' ? type : typeCode(type), class: CLASS.IN }],
    }),
  );
}

export function randomId(): number {
  return Math.floor(Math.random() * 0x10000);
}

// ---------------------------------------------------------------------------------------------
// TCP framing (RFC 1035 4.2.2: each message is preceded by a two-octet length)

export function frameTcp(msg: Buffer): Buffer {
  if (msg.length > MAX_MESSAGE) throw new WireError('message longer than 65535 octets cannot go over TCP');
  const out = Buffer.allocUnsafe(msg.length + 2);
  out.writeUInt16BE(msg.length, 0);
  msg.copy(out, 2);
  return out;
}

/** Reassembles length-prefixed messages from a TCP byte stream. */
export class TcpFrameReader {
  private pending: Buffer = Buffer.alloc(0);

  /** Feeds a chunk; returns the messages it completed (possibly none). */
  push(chunk: Buffer): Buffer[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const out: Buffer[] = [];
    let off = 0;
    while (this.pending.length - off >= 2) {
      const len = this.pending.readUInt16BE(off);
      if (this.pending.length - off - 2 < len) break;
      out.push(this.pending.subarray(off + 2, off + 2 + len));
      off += 2 + len;
    }
    this.pending = off === 0 ? this.pending : this.pending.subarray(off);
    return out;
  }

  /** Octets received but not yet forming a whole message. */
  buffered(): number {
    return this.pending.length;
  }
}
