/**
 * DNS-01: the TXT record `_acme-challenge.<domain>` written through a DnsProvider, a
 * propagation check against the zone's nameservers, and a cleanup that removes only our value
 * (a name and its wildcard share one record name, and other clients may have values there too).
 */
import { Resolver } from 'node:dns/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { emptyChangeSet, fqdn, zoneFor, type DnsProvider, type DnsRecord } from '../../dns/types.js';
import { parseHostPort } from '../../../api/certmanager.js';
import { queryDns } from './dnsquery.js';

export const CHALLENGE_TTL = 60;

/** `_acme-challenge.<domain>` for a name (a wildcard's `*.` removed). */
export function challengeRecordName(domain: string): string {
  const d = fqdn(domain);
  return `_acme-challenge.${d.startsWith('*.') ? d.slice(2) : d}`;
}

// One change at a time per record name in this process: two authorizations (name and wildcard)
// adding values to one TXT record set must not overwrite each other.
const locks = new Map<string, Promise<unknown>>();
async function withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const prev = locks.get(key) ?? Promise.resolve();
  const run = prev.catch(() => undefined).then(fn);
  locks.set(key, run);
  try {
    return await run;
  } finally {
    if (locks.get(key) === run) locks.delete(key);
  }
}

/**
 * A provider that finds the zone of a name itself (an rfc2136 solver names a server, not its
 * zones: the zone comes from the server's SOA answer), instead of from a fixed zone list.
 */
export interface ZoneFinder {
  findZone(name: string): Promise<string>;
}

async function zoneOf(provider: DnsProvider, recordName: string): Promise<string> {
  const finder = (provider as Partial<ZoneFinder>).findZone;
  if (typeof finder === 'function') return finder.call(provider, recordName);
  const zones = await provider.zones();
  const zone = zoneFor(recordName, zones);
  if (!zone) throw new Error(`no zone of DNS provider ${provider.name} contains ${recordName} (zones: ${zones.join(', ') || 'none'}); add the zone or pick another solver`);
  return zone;
}

async function currentTxt(provider: DnsProvider, zone: string, recordName: string): Promise<DnsRecord | undefined> {
  const recs = await provider.records(zone);
  return recs.find((r) => r.type === 'TXT' && fqdn(r.name) === recordName && !r.setIdentifier);
}

/** Adds `value` to the TXT record set at `recordName` (idempotent). */
export async function presentTxt(provider: DnsProvider, recordName: string, value: string, ttl = CHALLENGE_TTL): Promise<void> {
  const name = fqdn(recordName);
  await withLock(`${provider.name}|${name}`, async () => {
    const zone = await zoneOf(provider, name);
    const cur = await currentTxt(provider, zone, name);
    const cs = emptyChangeSet();
    if (!cur) cs.create.push({ name, type: 'TXT', ttl, targets: [value] });
    else if (!cur.targets.includes(value)) {
      cs.updateOld.push(cur);
      cs.updateNew.push({ ...cur, targets: [...cur.targets, value] });
    } else return;
    await provider.applyChanges(cs);
  });
}

/** Removes `value` from the TXT record set at `recordName`, deleting the set when it was the last value. */
export async function cleanupTxt(provider: DnsProvider, recordName: string, value: string): Promise<void> {
  const name = fqdn(recordName);
  await withLock(`${provider.name}|${name}`, async () => {
    const zone = await zoneOf(provider, name);
    const cur = await currentTxt(provider, zone, name);
    if (!cur || !cur.targets.includes(value)) return;
    const cs = emptyChangeSet();
    const rest = cur.targets.filter((t) => t !== value);
    if (rest.length === 0) cs.delete.push(cur);
    else {
      cs.updateOld.push(cur);
      cs.updateNew.push({ ...cur, targets: rest });
    }
    await provider.applyChanges(cs);
  });
}

export interface PropagationOptions {
  /**
   * Nameservers to ask (host:port). When empty, the zone's authoritative nameservers are found
   * through the system resolver and asked on port 53.
   */
  nameservers?: string[];
  timeoutMs?: number;
  intervalMs?: number;
  /** Per-query timeout. */
  queryTimeoutMs?: number;
  /** Skip the self-check (the CA is asked to validate at once). For CAs that see another DNS view than ours. */
  skipSelfCheck?: boolean;
}

function serversOf(opts: PropagationOptions): { host: string; port: number }[] | undefined {
  if (!opts.nameservers?.length) return undefined;
  return opts.nameservers.map((s) => {
    const hp = parseHostPort(s, 53);
    if (!hp) throw new Error(`propagation nameserver "${s}" is not host:port`);
    return hp;
  });
}

/**
 * cnameStrategy Follow: where `_acme-challenge.<name>` points when it is a CNAME (followed up to
 * 8 hops), so the TXT is written in the zone that is delegated for challenges.
 */
export async function followCname(recordName: string, opts: PropagationOptions = {}): Promise<string> {
  let name = fqdn(recordName);
  const servers = serversOf(opts);
  for (let hop = 0; hop < 8; hop++) {
    let targets: string[] = [];
    if (servers) {
      const a = await queryDns(servers[0]!, name, 'CNAME', opts.queryTimeoutMs ?? 2000);
      targets = a.values;
    } else {
      targets = await new Resolver().resolveCname(name).catch(() => [] as string[]);
    }
    if (!targets.length) return name;
    name = fqdn(targets[0]!);
  }
  throw new Error(`CNAME chain from ${recordName} is longer than 8 hops`);
}

async function authoritativeServers(recordName: string): Promise<{ host: string; port: number }[]> {
  const r = new Resolver();
  // Walk up from the record's parent until a name has NS records: that is the zone cut.
  const labels = recordName.split('.');
  for (let i = 1; i < labels.length - 1; i++) {
    const zone = labels.slice(i).join('.');
    let ns: string[] = [];
    try {
      ns = await r.resolveNs(zone);
    } catch {
      continue;
    }
    const out: { host: string; port: number }[] = [];
    for (const n of ns) {
      const addrs = await r.resolve4(n).catch(() => [] as string[]);
      for (const a of addrs) out.push({ host: a, port: 53 });
    }
    if (out.length) return out;
  }
  throw new Error(`cannot find the authoritative nameservers of ${recordName}; set the solver's propagation nameservers`);
}

/**
 * Waits until every nameserver answers `value` among the TXT values of `recordName`. Throws
 * with the last answers seen when the deadline passes.
 */
export async function waitForTxt(recordName: string, value: string, opts: PropagationOptions = {}): Promise<void> {
  if (opts.skipSelfCheck) return;
  const name = fqdn(recordName);
  const servers = serversOf(opts) ?? (await authoritativeServers(name));
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  let last = '';
  for (;;) {
    const seen: string[] = [];
    let ok = true;
    for (const s of servers) {
      try {
        const a = await queryDns(s, name, 'TXT', opts.queryTimeoutMs ?? 2000);
        if (!a.values.includes(value)) {
          ok = false;
          seen.push(`${s.host}:${s.port} ${a.rcode} [${a.values.join(', ')}]`);
        }
      } catch (err) {
        ok = false;
        seen.push(`${s.host}:${s.port} ${(err as Error).message}`);
      }
    }
    if (ok) return;
    last = seen.join('; ');
    if (Date.now() > deadline) throw new Error(`TXT ${name} did not propagate in time: ${last}`);
    await sleep(opts.intervalMs ?? 1000);
  }
}
