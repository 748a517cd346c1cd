/**
 * TSIG (RFC 8945): HMAC signatures over DNS messages, shared by the embedded server and the
 * RFC 2136 client. It works on encoded messages: signing appends a TSIG RR and bumps ARCOUNT;
 * verifying strips it again. dns-packet has no TSIG codec, so this module owns the RR format.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CLASS, TYPE, WireError, decodeName, recordOffsets } from './wire.js';

export type TsigAlgorithm = 'hmac-md5' | 'hmac-sha1' | 'hmac-sha224' | 'hmac-sha256' | 'hmac-sha384' | 'hmac-sha512';
export interface TsigKey {
  name: string;
  algorithm: TsigAlgorithm;
  secret: Buffer;
}

export type TsigVerifyResult =
  | { ok: true; key: TsigKey; mac: Buffer; unsigned: Buffer /* the message with the TSIG RR removed, ARCOUNT fixed */ }
  | { ok: false; rcode: 'BADSIG' | 'BADKEY' | 'BADTIME' | 'FORMERR' | 'NOTSIGNED'; keyName?: string; message: string };

/** TSIG error codes carried in the TSIG RR's Error field. */
export const TSIG_ERROR = { NOERROR: 0, BADSIG: 16, BADKEY: 17, BADTIME: 18, BADTRUNC: 22 } as const;

/** Default fudge: 300 s, as BIND and RFC 8945 recommend. */
export const DEFAULT_FUDGE = 300;

const ALGORITHMS: Record<TsigAlgorithm, { wire: string; hash: string; size: number }> = {
  'hmac-md5': { wire: 'hmac-md5.sig-alg.reg.int', hash: 'md5', size: 16 },
  'hmac-sha1': { wire: 'hmac-sha1', hash: 'sha1', size: 20 },
  'hmac-sha224': { wire: 'hmac-sha224', hash: 'sha224', size: 28 },
  'hmac-sha256': { wire: 'hmac-sha256', hash: 'sha256', size: 32 },
  'hmac-sha384': { wire: 'hmac-sha384', hash: 'sha384', size: 48 },
  'hmac-sha512': { wire: 'hmac-sha512', hash: 'sha512', size: 64 },
};

const BY_WIRE_NAME = new Map<string, TsigAlgorithm>(
  (Object.keys(ALGORITHMS) as TsigAlgorithm[]).map((a) => [ALGORITHMS[a].wire, a]),
);

/** `hmac-sha256`, `HMAC-SHA256.`, `hmac-md5.sig-alg.reg.int` -> the algorithm, or undefined. */
export function algorithmFromName(name: string): TsigAlgorithm | undefined {
  const n = normalizeName(name);
  if (n in ALGORITHMS) return n as TsigAlgorithm;
  return BY_WIRE_NAME.get(n);
}

/** Key and algorithm names compare case-insensitively and without the trailing dot. */
export function normalizeName(name: string): string {
  const n = name.trim().toLowerCase();
  return n.endsWith('.') ? n.slice(0, -1) : n;
}

/** A name in canonical wire form (lower case, uncompressed), as the MAC covers it. */
function canonicalName(name: string): Buffer {
  const n = normalizeName(name);
  if (n === '') return Buffer.from([0]);
  const labels = n.split('.');
  const parts: Buffer[] = [];
  for (const l of labels) {
    const b = Buffer.from(l, 'latin1');
    if (b.length === 0 || b.length > 63) throw new WireError(`invalid label in TSIG name "${name}"`);
    parts.push(Buffer.from([b.length]), b);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

function u48(v: number): Buffer {
  const b = Buffer.alloc(6);
  b.writeUInt16BE(Math.floor(v / 0x100000000) & 0xffff, 0);
  b.writeUInt32BE(v % 0x100000000 >>> 0, 2);
  return b;
}

function u16b(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v & 0xffff, 0);
  return b;
}

export interface TsigSignOptions {
  /** Seconds since the epoch; defaults to now. */
  time?: number;
  fudge?: number;
  /** The request's MAC when signing a response (or the previous MAC for a continuation). */
  requestMac?: Buffer;
  /** TSIG error to report (BADTIME answers are signed and carry it). */
  error?: number;
  otherData?: Buffer;
  /** Later messages of a multi-message answer (AXFR) cover only the timers (RFC 8945 5.3.1). */
  timersOnly?: boolean;
}

/** Signs an encoded DNS message; returns the signed wire form and the MAC (needed to verify the answer). */
export function signMessage(
  wire: Buffer,
  key: TsigKey,
  opts?: { time?: number; fudge?: number; requestMac?: Buffer },
): { wire: Buffer; mac: Buffer } {
  return signWith(wire, key, opts ?? {});
}

/** signMessage with the full set of TSIG fields, for the server's answers. */
export function signWith(wire: Buffer, key: TsigKey, opts: TsigSignOptions): { wire: Buffer; mac: Buffer } {
  const alg = ALGORITHMS[key.algorithm];
  if (!alg) throw new Error(`TSIG key "${key.name}" has unsupported algorithm "${String(key.algorithm)}"`);
  if (wire.length < 12) throw new WireError('cannot sign a message shorter than its header');
  const time = opts.time ?? Math.floor(Date.now() / 1000);
  const fudge = opts.fudge ?? DEFAULT_FUDGE;
  const error = opts.error ?? 0;
  const other = opts.otherData ?? Buffer.alloc(0);
  const mac = computeMac(wire, key, { time, fudge, error, other, requestMac: opts.requestMac, timersOnly: opts.timersOnly });
  return { wire: appendTsig(wire, key.name, alg.wire, { time, fudge, mac, error, other }), mac };
}

/**
 * An unsigned error answer's TSIG RR (BADKEY, BADSIG: MAC size 0, RFC 8945 5.3.2), appended to
 * an encoded answer. The algorithm name is echoed from the request.
 */
export function appendTsigError(wire: Buffer, keyName: string, algorithmWireName: string, error: number, time: number, fudge: number): Buffer {
  return appendTsig(wire, keyName, algorithmWireName, { time, fudge, mac: Buffer.alloc(0), error, other: Buffer.alloc(0) });
}

function appendTsig(
  wire: Buffer,
  keyName: string,
  algWire: string,
  f: { time: number; fudge: number; mac: Buffer; error: number; other: Buffer },
): Buffer {
  const originalId = wire.readUInt16BE(0);
  const rdata = Buffer.concat([
    canonicalName(algWire),
    u48(f.time),
    u16b(f.fudge),
    u16b(f.mac.length),
    f.mac,
    u16b(originalId),
    u16b(f.error),
    u16b(f.other.length),
    f.other,
  ]);
  const rrHead = Buffer.alloc(10);
  rrHead.writeUInt16BE(TYPE.TSIG, 0);
  rrHead.writeUInt16BE(CLASS.ANY, 2);
  rrHead.writeUInt32BE(0, 4);
  rrHead.writeUInt16BE(rdata.length, 8);
  const out = Buffer.concat([wire, canonicalName(keyName), rrHead, rdata]);
  const ar = out.readUInt16BE(10);
  if (ar === 0xffff) throw new WireError('message already has 65535 additional records');
  out.writeUInt16BE(ar + 1, 10);
  return out;
}

function computeMac(
  unsigned: Buffer,
  key: TsigKey,
  v: { time: number; fudge: number; error: number; other: Buffer; requestMac?: Buffer; timersOnly?: boolean },
): Buffer {
  const alg = ALGORITHMS[key.algorithm];
  const h = createHmac(alg.hash, key.secret);
  if (v.requestMac) {
    h.update(u16b(v.requestMac.length));
    h.update(v.requestMac);
  }
  h.update(unsigned);
  if (v.timersOnly) {
    h.update(u48(v.time));
    h.update(u16b(v.fudge));
  } else {
    h.update(canonicalName(key.name));
    h.update(u16b(CLASS.ANY));
    h.update(Buffer.alloc(4)); // TTL 0
    h.update(canonicalName(alg.wire));
    h.update(u48(v.time));
    h.update(u16b(v.fudge));
    h.update(u16b(v.error));
    h.update(u16b(v.other.length));
    h.update(v.other);
  }
  return h.digest();
}

/** The TSIG RR of a message, parsed; `start` is where it begins (the message before it is what was signed). */
export interface ParsedTsig {
  start: number;
  keyName: string;
  algorithm: string;
  time: number;
  fudge: number;
  mac: Buffer;
  originalId: number;
  error: number;
  other: Buffer;
}

/** Finds and parses the TSIG RR; undefined when the message is unsigned; throws WireError when malformed. */
export function parseTsig(wire: Buffer): ParsedTsig | undefined {
  const { additionalStarts, end } = recordOffsets(wire);
  if (end !== wire.length) throw new WireError('trailing octets after the last record');
  let tsigAt = -1;
  for (let i = 0; i < additionalStarts.length; i++) {
    const off = additionalStarts[i]!;
    decodeName(wire, off);
    const typeAt = nameAfter(wire, off);
    if (wire.readUInt16BE(typeAt) === TYPE.TSIG) {
      if (i !== additionalStarts.length - 1) throw new WireError('TSIG record is not the last additional record');
      tsigAt = off;
    }
  }
  if (tsigAt < 0) return undefined;
  const keyName = decodeName(wire, tsigAt);
  let p = nameAfter(wire, tsigAt);
  const cls = wire.readUInt16BE(p + 2);
  const ttl = wire.readUInt32BE(p + 4);
  const rdlen = wire.readUInt16BE(p + 8);
  if (cls !== CLASS.ANY || ttl !== 0) throw new WireError('TSIG record must have class ANY and TTL 0');
  p += 10;
  const rdEnd = p + rdlen;
  const algorithm = decodeName(wire, p);
  p = nameAfter(wire, p);
  if (p + 10 > rdEnd) throw new WireError('TSIG RDATA truncated');
  const time = wire.readUInt16BE(p) * 0x100000000 + wire.readUInt32BE(p + 2);
  const fudge = wire.readUInt16BE(p + 6);
  const macLen = wire.readUInt16BE(p + 8);
  p += 10;
  if (p + macLen + 6 > rdEnd) throw new WireError('TSIG MAC runs past its RDATA');
  const mac = Buffer.from(wire.subarray(p, p + macLen));
  p += macLen;
  const originalId = wire.readUInt16BE(p);
  const error = wire.readUInt16BE(p + 2);
  const otherLen = wire.readUInt16BE(p + 4);
  p += 6;
  if (p + otherLen !== rdEnd) throw new WireError('TSIG other data does not match its RDATA length');
  const other = Buffer.from(wire.subarray(p, p + otherLen));
  return { start: tsigAt, keyName: normalizeName(keyName), algorithm: normalizeName(algorithm), time, fudge, mac, originalId, error, other };
}

/** Offset after the (possibly compressed) name at `off`. */
function nameAfter(wire: Buffer, off: number): number {
  let p = off;
  for (;;) {
    const len = wire[p]!;
    if (len === 0) return p + 1;
    if ((len & 0xc0) === 0xc0) return p + 2;
    p += 1 + len;
  }
}

/** The message without its TSIG RR, ARCOUNT decremented. */
function stripTsig(wire: Buffer, t: ParsedTsig): Buffer {
  const out = Buffer.from(wire.subarray(0, t.start));
  out.writeUInt16BE(out.readUInt16BE(10) - 1, 10);
  return out;
}

const ERROR_NAMES: Record<number, 'BADSIG' | 'BADKEY' | 'BADTIME'> = { 16: 'BADSIG', 17: 'BADKEY', 18: 'BADTIME' };

export function verifyMessage(
  wire: Buffer,
  lookup: (keyName: string) => TsigKey | undefined,
  opts?: { requestMac?: Buffer; now?: number },
): TsigVerifyResult {
  return verifyWith(wire, lookup, opts ?? {});
}

/** verifyMessage, also for the later messages of a multi-message answer (`timersOnly`, previous MAC as requestMac). */
export function verifyWith(
  wire: Buffer,
  lookup: (keyName: string) => TsigKey | undefined,
  opts: { requestMac?: Buffer; now?: number; timersOnly?: boolean },
): TsigVerifyResult {
  let t: ParsedTsig | undefined;
  try {
    t = parseTsig(wire);
  } catch (err) {
    return { ok: false, rcode: 'FORMERR', message: `malformed message or TSIG record: ${(err as Error).message}` };
  }
  if (!t) return { ok: false, rcode: 'NOTSIGNED', message: 'message carries no TSIG record' };
  const key = lookup(t.keyName);
  if (!key) return { ok: false, rcode: 'BADKEY', keyName: t.keyName, message: `TSIG key "${t.keyName}" is not known here` };
  const alg = ALGORITHMS[key.algorithm];
  if (algorithmFromName(t.algorithm) !== key.algorithm) {
    return { ok: false, rcode: 'BADKEY', keyName: t.keyName, message: `TSIG key "${t.keyName}" is ${key.algorithm}, the message used ${t.algorithm}` };
  }
  // An answer that reports a TSIG error with an empty MAC (the peer could not verify our request).
  if (t.error !== 0 && t.mac.length === 0) {
    const name = ERROR_NAMES[t.error] ?? 'BADSIG';
    return { ok: false, rcode: name, keyName: t.keyName, message: `peer rejected the TSIG signature of key "${t.keyName}": ${name}` };
  }
  // Truncated MACs (RFC 8945 5.2.2.1) are accepted down to half the digest and 10 octets.
  if (t.mac.length > alg.size || t.mac.length < Math.max(10, alg.size / 2)) {
    return { ok: false, rcode: 'FORMERR', keyName: t.keyName, message: `TSIG MAC of ${t.mac.length} octets is not valid for ${key.algorithm}` };
  }
  const unsigned = stripTsig(wire, t);
  const digestInput = Buffer.from(unsigned);
  digestInput.writeUInt16BE(t.originalId, 0);
  const expected = computeMac(digestInput, key, {
    time: t.time,
    fudge: t.fudge,
    error: t.error,
    other: t.other,
    requestMac: opts.requestMac,
    timersOnly: opts.timersOnly,
  }).subarray(0, t.mac.length);
  if (!timingSafeEqual(expected, t.mac)) {
    return { ok: false, rcode: 'BADSIG', keyName: t.keyName, message: `TSIG signature of key "${t.keyName}" does not verify (wrong secret or altered message)` };
  }
  const now = opts.now ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - t.time) > t.fudge) {
    return {
      ok: false,
      rcode: 'BADTIME',
      keyName: t.keyName,
      message: `TSIG time ${t.time} is ${now - t.time} s away from now, more than the fudge of ${t.fudge} s: check the clocks`,
    };
  }
  if (t.error !== 0) {
    const name = ERROR_NAMES[t.error] ?? 'BADSIG';
    return { ok: false, rcode: name, keyName: t.keyName, message: `peer answered with TSIG error ${name}` };
  }
  return { ok: true, key, mac: t.mac, unsigned };
}

/** The wire name of an algorithm (`hmac-sha256`, `hmac-md5.sig-alg.reg.int`). */
export function algorithmWireName(a: TsigAlgorithm): string {
  return ALGORITHMS[a].wire;
}

/**
 * Reads `NAME:ALGORITHM:SECRET_FILE`; the file holds the base64 secret (or a BIND key
 * statement with `secret "..."`). Secrets come from files so they never show in `ps`.
 */
export function parseTsigKeySpec(spec: string): TsigKey {
  const first = spec.indexOf(':');
  const second = first < 0 ? -1 : spec.indexOf(':', first + 1);
  if (first <= 0 || second <= first + 1 || second === spec.length - 1) {
    throw new Error(`TSIG key spec "${spec}" must look like NAME:ALGORITHM:SECRET_FILE (e.g. gangplank:hmac-sha256:/etc/gangplank/tsig.secret)`);
  }
  const name = normalizeName(spec.slice(0, first));
  const algName = spec.slice(first + 1, second);
  const file = spec.slice(second + 1);
  const algorithm = algorithmFromName(algName);
  if (!algorithm) {
    throw new Error(`TSIG key "${name}": unknown algorithm "${algName}"; use one of ${Object.keys(ALGORITHMS).join(', ')}`);
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`TSIG key "${name}": cannot read secret file ${file}: ${(err as Error).message}`);
  }
  const bind = /secret\s+"([^"]+)"/.exec(text);
  const b64 = (bind ? bind[1]! : text).replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) {
    throw new Error(`TSIG key "${name}": secret file ${file} does not hold a base64 secret`);
  }
  const secret = Buffer.from(b64, 'base64');
  if (secret.length === 0) throw new Error(`TSIG key "${name}": secret file ${file} is empty`);
  return { name, algorithm, secret };
}
