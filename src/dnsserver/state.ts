/**
 * The server's records on disk: one JSON file, written to a temp file and renamed so a crash
 * never leaves half a file. The apex SOA and NS are not stored (they come from configuration).
 */
import { readFileSync, writeFileSync, renameSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { typeCode, typeName, TYPE, type RData } from './wire.js';
import { isManaged, type RRset, type Zone, type ZoneNode } from './zone.js';

interface StoredRecord {
  name: string;
  type: string;
  ttl: number;
  /** TXT: list of strings; MX/SRV: objects; unknown types: { hex }. */
  data: unknown[];
}

interface StoredZone {
  serial: number;
  records: StoredRecord[];
}

interface StateFile {
  version: 1;
  zones: Record<string, StoredZone>;
}

export interface LoadedZone {
  serial: number;
  nodes: Map<string, ZoneNode>;
}

function toJson(d: RData): unknown {
  return Buffer.isBuffer(d) ? { hex: d.toString('hex') } : d;
}

function fromJson(type: number, v: unknown, where: string): RData {
  const bad = () => new Error(`${where}: value ${JSON.stringify(v)} does not fit type ${typeName(type)}`);
  switch (type) {
    case TYPE.A:
    case TYPE.AAAA:
    case TYPE.CNAME:
    case TYPE.NS:
    case TYPE.PTR:
      if (typeof v !== 'string') throw bad();
      return v;
    case TYPE.TXT:
      if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) throw bad();
      return v as string[];
    case TYPE.MX:
      if (typeof v !== 'object' || v === null || typeof (v as { exchange?: unknown }).exchange !== 'string') throw bad();
      return v as RData;
    case TYPE.SRV:
      if (typeof v !== 'object' || v === null || typeof (v as { target?: unknown }).target !== 'string') throw bad();
      return v as RData;
    default:
      if (typeof v !== 'object' || v === null || typeof (v as { hex?: unknown }).hex !== 'string') throw bad();
      return Buffer.from((v as { hex: string }).hex, 'hex');
  }
}

/** Reads the state file; a missing file is an empty state, a damaged one an error (never silently dropped). */
export function loadState(file: string): Map<string, LoadedZone> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw new Error(`cannot read DNS state file ${file}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`DNS state file ${file} is not valid JSON (${(err as Error).message}); fix or move it away to start empty`);
  }
  const state = parsed as Partial<StateFile>;
  if (typeof state !== 'object' || state === null || state.version !== 1 || typeof state.zones !== 'object' || state.zones === null) {
    throw new Error(`DNS state file ${file} is not a version 1 gangplank DNS state`);
  }
  const out = new Map<string, LoadedZone>();
  for (const [zone, z] of Object.entries(state.zones)) {
    if (typeof z?.serial !== 'number' || !Array.isArray(z.records)) throw new Error(`DNS state file ${file}: zone ${zone} lacks serial or records`);
    const nodes = new Map<string, Map<number, RRset>>();
    z.records.forEach((r, i) => {
      const where = `DNS state file ${file}: zone ${zone} record ${i}`;
      if (typeof r?.name !== 'string' || typeof r.type !== 'string' || typeof r.ttl !== 'number' || !Array.isArray(r.data)) {
        throw new Error(`${where}: needs name, type, ttl and data`);
      }
      const type = typeCode(r.type);
      const data = r.data.map((d) => fromJson(type, d, where));
      let node = nodes.get(r.name);
      if (!node) nodes.set(r.name, (node = new Map()));
      node.set(type, { type, ttl: r.ttl, data });
    });
    out.set(zone, { serial: z.serial, nodes });
  }
  return out;
}

export function serializeZones(zones: Iterable<Zone>): string {
  const state: StateFile = { version: 1, zones: {} };
  for (const z of zones) {
    const records: StoredRecord[] = [];
    for (const [name, node] of z.nodes) {
      for (const rrset of node.values()) {
        if (isManaged(z.config, name, rrset.type)) continue;
        records.push({ name, type: typeName(rrset.type), ttl: rrset.ttl, data: rrset.data.map(toJson) });
      }
    }
    state.zones[z.origin] = { serial: z.serial, records };
  }
  return JSON.stringify(state, null, 1) + '\n';
}

/** Atomic replace: write a temp file beside the target, then rename over it. */
export function saveState(file: string, zones: Iterable<Zone>): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, serializeZones(zones));
  renameSync(tmp, file);
}
