/**
 * The DNS controller: keeps a provider's zones in step with the hostnames of the Ingresses and
 * Services gangplank publishes. Event-driven (a change reaches the provider within a second,
 * bursts coalesced) against a cache of the zones' records, so a change costs its writes and no
 * listing; a periodic resync (O(zones) list calls) catches drift made outside gangplank.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Ingress, Service } from '../../api/types.js';
import type { Component } from '../../runtime/lifecycle.js';
import type { Logger } from '../../runtime/logger.js';
import type { Change, Store } from '../../store/store.js';
import { classView, ingressIsOurs, type ClassConfig } from '../routes/classes.js';
import { publishedStatus, type PublishConfig } from '../publish.js';
import type { Conflict } from './conflicts.js';
import { desiredFromIngress, desiredFromService, type DnsEndpoint } from './endpoints.js';
import { plan, type Policy, type Skipped } from './plan.js';
import { ownershipKey } from './providers/batch.js';
import { recordKey } from './records.js';
import { toRegistryView, type RegistryConfig } from './registry.js';
import { changeCount, DnsProviderError, emptyChangeSet, zoneFor, type ChangeSet, type DnsProvider, type DnsRecord, type RecordType } from './types.js';

export interface DnsControllerOptions {
  store: Store;
  provider: DnsProvider;
  logger: Logger;
  registry: Registry;
  classes: ClassConfig;
  publish: PublishConfig;
  policy: Policy;
  domainFilter: string[];
  excludeDomains: string[];
  managedTypes: RecordType[];
  txt: RegistryConfig;
  /** Periodic drift check. */
  intervalMs: number;
  /** How long a burst of changes is coalesced before one sync. */
  debounceMs?: number;
  /** Base of the per-zone exponential backoff after provider errors. */
  backoffBaseMs?: number;
}

interface ZoneState {
  records: DnsRecord[];
  /** Provider errors of the last attempt, with the records they concern. */
  errors: { message: string; code: string; records: string[] }[];
  failures: number;
  retryAt: number;
  /** The provider's fingerprint when the records were listed; undefined once we wrote to the zone. */
  fingerprint?: string;
}

const MAX_BACKOFF_MS = 5 * 60_000;
/** With fingerprints, every this-many drift checks list every zone anyway (a count misses in-place edits). */
const FULL_LISTING_EVERY = 10;
/** Zones written to at the same time. */
const ZONE_CONCURRENCY = 4;

export class DnsController implements Component {
  private readonly zones = new Map<string, ZoneState>();
  private desired: DnsEndpoint[] = [];
  private reasons: string[] = [];
  private conflicts: Conflict[] = [];
  private skipped: Skipped[] = [];
  private debounce: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private pendingResync = false;
  private unsubscribe: (() => void) | undefined;
  private stopped = false;
  private lastSync: Date | undefined;
  private knownConflicts = new Set<string>();
  private checks = 0;
  private readonly m: {
    records: Gauge<'zone' | 'type'>;
    changes: Counter<'zone' | 'action' | 'result'>;
    calls: Counter<'op' | 'result'>;
    latency: Histogram<'op'>;
    lastSuccess: Gauge;
  };

  constructor(private readonly o: DnsControllerOptions) {
    const registers = [o.registry];
    this.m = {
      records: new Gauge({ name: 'gangplank_dns_records', help: 'Records in the managed zones, by zone and type.', labelNames: ['zone', 'type'], registers }),
      changes: new Counter({ name: 'gangplank_dns_changes_total', help: 'Record changes sent to the DNS provider, by zone, action and result.', labelNames: ['zone', 'action', 'result'], registers }),
      calls: new Counter({ name: 'gangplank_dns_provider_calls_total', help: 'Calls to the DNS provider, by operation and result.', labelNames: ['op', 'result'], registers }),
      latency: new Histogram({ name: 'gangplank_dns_provider_call_seconds', help: 'Latency of DNS provider calls.', labelNames: ['op'], buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers }),
      lastSuccess: new Gauge({ name: 'gangplank_dns_last_sync_timestamp_seconds', help: 'Time of the last sync that applied everything it planned.', registers }),
    };
  }

  /** Starts syncing in the background: a slow or failing DNS provider never holds up serving traffic. */
  async start(): Promise<void> {
    void this.enqueue(() => this.resync());
    this.unsubscribe = this.o.store.subscribe((changes) => this.onChanges(changes));
    this.resyncTimer = setInterval(() => {
      this.pendingResync = true;
      void this.enqueue(() => this.resync());
    }, this.o.intervalMs);
    this.resyncTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    clearTimeout(this.debounce);
    clearTimeout(this.retryTimer);
    clearInterval(this.resyncTimer);
    await this.running;
  }

  /** Resolves when every queued sync has run (tests, shutdown). */
  idle(): Promise<void> {
    return this.running;
  }

  private onChanges(changes: readonly Change[]): void {
    const publish = this.o.publish.publishService;
    const relevant = changes.some(
      (c) => c.kind === 'Ingress' || c.kind === 'IngressClass' || (c.kind === 'Service' && ((c.new ?? c.old)!.object as Service).spec.type === 'LoadBalancer') || (publish && c.kind === 'Service' && c.key === `Service/${publish}`),
    );
    if (!relevant) return;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.enqueue(() => this.sync()), this.o.debounceMs ?? 100);
  }

  private enqueue(fn: () => Promise<void>): Promise<void> {
    this.running = this.running
      .then(() => (this.stopped ? undefined : fn()))
      .catch((err: Error) => this.o.logger.error({ err: err.stack }, 'DNS sync failed'));
    return this.running;
  }

  private async call<T>(op: string, fn: () => Promise<T>): Promise<T> {
    const end = this.m.latency.startTimer({ op });
    try {
      const r = await fn();
      this.m.calls.inc({ op, result: 'success' });
      return r;
    } catch (err) {
      this.m.calls.inc({ op, result: 'error' });
      throw err;
    } finally {
      end();
    }
  }

  /** Lists every zone again (the drift check), then syncs. */
  private async resync(): Promise<void> {
    this.pendingResync = false;
    let zones: string[];
    try {
      zones = await this.call('zones', () => this.o.provider.zones());
    } catch (err) {
      this.o.logger.warn({ err: (err as Error).message, provider: this.o.provider.name }, 'DNS provider: cannot list zones; will retry');
      this.scheduleRetry(Date.now() + (this.o.backoffBaseMs ?? 1000));
      return;
    }
    for (const z of [...this.zones.keys()]) if (!zones.includes(z)) this.zones.delete(z);
    const full = this.checks++ % FULL_LISTING_EVERY === 0;
    let fingerprints: Map<string, string> | undefined;
    if (this.o.provider.zoneFingerprints) {
      fingerprints = await this.call('fingerprints', () => this.o.provider.zoneFingerprints!()).catch(() => undefined);
    }
    for (const z of zones) {
      const known = this.zones.get(z);
      const fp = fingerprints?.get(z);
      // Unchanged since we listed it (and we have not written since): no need to list it again.
      if (!full && known && fp !== undefined && known.fingerprint === fp && !known.failures) continue;
      try {
        const records = await this.call('records', () => this.o.provider.records(z));
        if (known) {
          known.records = records;
          known.fingerprint = fp;
        } else this.zones.set(z, { records, errors: [], failures: 0, retryAt: 0, fingerprint: fp });
      } catch (err) {
        this.o.logger.warn({ zone: z, err: (err as Error).message }, 'DNS provider: cannot list the zone; keeping the cached records');
        if (!known) this.zones.set(z, { records: [], errors: [{ message: (err as Error).message, code: 'list', records: [] }], failures: 1, retryAt: Date.now() + (this.o.backoffBaseMs ?? 1000) });
      }
    }
    await this.sync();
  }

  private computeDesired(): void {
    const { store, classes } = this.o;
    const view = classView(store.objects('IngressClass'), classes);
    const published = publishedStatus(store, this.o.publish);
    const endpoints: DnsEndpoint[] = [];
    const reasons: string[] = [];
    for (const ing of store.objects<Ingress>('Ingress')) {
      if (!ingressIsOurs(ing, view)) continue;
      // gangplank serves this Ingress, so its load-balancer address is the one gangplank publishes.
      const withStatus: Ingress = published.length ? { ...ing, status: { loadBalancer: { ingress: published } } } : ing;
      const d = desiredFromIngress(withStatus);
      endpoints.push(...d.endpoints);
      reasons.push(...d.reasons);
    }
    for (const svc of store.objects<Service>('Service')) {
      if (svc.spec.type !== 'LoadBalancer') continue;
      const d = desiredFromService(svc);
      endpoints.push(...d.endpoints);
      reasons.push(...d.reasons);
    }
    this.desired = endpoints;
    this.reasons = reasons;
  }

  private async sync(): Promise<void> {
    this.computeDesired();
    const { provider, logger } = this.o;
    const zoneNames = [...this.zones.keys()];
    const byZone = new Map<string, DnsEndpoint[]>(zoneNames.map((z) => [z, []]));
    const skipped: Skipped[] = [];
    for (const e of this.desired) {
      const z = zoneFor(e.name, zoneNames);
      if (z) byZone.get(z)!.push(e);
      else skipped.push({ record: e, reason: `no managed zone contains ${e.name} (zones: ${zoneNames.join(', ') || 'none'})` });
    }
    const conflicts: Conflict[] = [];
    let allOk = true;
    const now = Date.now();
    let nextRetry = Infinity;
    const syncZone = async (zone: string, desired: DnsEndpoint[]) => {
      const st = this.zones.get(zone)!;
      const planZone = () =>
        plan({
          desired,
          current: toRegistryView(st.records, { ...this.o.txt, managedTypes: this.o.managedTypes }),
          policy: this.o.policy,
          domainFilter: this.o.domainFilter,
          excludeDomains: this.o.excludeDomains,
          managedTypes: this.o.managedTypes,
          adjustDesired: provider.adjust ? (r) => provider.adjust!(r) : undefined,
        });
      let p = planZone();
      if (changeCount(p.changes)) {
        if (st.failures && st.retryAt > now) {
          allOk = false;
          nextRetry = Math.min(nextRetry, st.retryAt);
        } else {
          const ok = await this.applyZone(zone, st, p.changes, async () => {
            // The cache may be stale (records changed outside gangplank): list the zone once and plan again.
            st.records = await this.call('records', () => provider.records(zone));
            p = planZone();
            return p.changes;
          });
          if (!ok) {
            allOk = false;
            nextRetry = Math.min(nextRetry, st.retryAt);
          }
        }
      } else {
        st.errors = [];
        st.failures = 0;
      }
      conflicts.push(...p.conflicts);
      skipped.push(...p.skipped);
    };
    await inParallel([...byZone], ZONE_CONCURRENCY, ([zone, desired]) => syncZone(zone, desired));
    this.conflicts = conflicts;
    this.skipped = skipped;
    this.reportConflicts();
    this.m.records.reset();
    for (const [zone, st] of this.zones) for (const r of st.records) this.m.records.inc({ zone, type: r.type });
    this.lastSync = new Date();
    if (allOk) this.m.lastSuccess.set(Date.now() / 1000);
    if (nextRetry !== Infinity) this.scheduleRetry(nextRetry);
    logger.debug({ desired: this.desired.length, zones: zoneNames.length, ok: allOk }, 'DNS sync done');
  }

  /** Applies one zone's changes; on failure splits them into record groups so one bad record blocks nothing else. */
  private async applyZone(zone: string, st: ZoneState, first: ChangeSet, replan: () => Promise<ChangeSet>): Promise<boolean> {
    const { logger, provider } = this.o;
    let changes = first;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        if (attempt === 1) {
          changes = await replan();
          if (!changeCount(changes)) return true;
        }
        await this.call('apply', () => provider.applyChanges(changes));
        this.applyToCache(st, changes);
        this.count(zone, changes, 'success');
        st.errors = [];
        st.failures = 0;
        logger.info({ zone, create: changes.create.length, update: changes.updateNew.length, delete: changes.delete.length }, 'DNS changes applied');
        return true;
      } catch (err) {
        logger.warn({ zone, err: (err as Error).message }, attempt === 0 ? 'DNS change batch failed; listing the zone again and re-planning' : 'DNS change batch failed again; retrying record by record');
      }
    }
    const errors: ZoneState['errors'] = [];
    let retryAfter = 0;
    for (const group of splitByOwnership(changes)) {
      try {
        await this.call('apply', () => provider.applyChanges(group));
        this.applyToCache(st, group);
        this.count(zone, group, 'success');
      } catch (err) {
        const e = err as Error;
        const code = err instanceof DnsProviderError ? err.code : 'error';
        if (err instanceof DnsProviderError && err.retryAfter) retryAfter = Math.max(retryAfter, err.retryAfter * 1000);
        const names = [...group.create, ...group.updateNew, ...group.delete].map((r) => `${r.name} ${r.type}`);
        errors.push({ message: e.message, code, records: names });
        this.count(zone, group, 'failure');
        logger.warn({ zone, records: names, code, err: e.message }, 'DNS change failed');
      }
    }
    st.errors = errors;
    if (!errors.length) {
      st.failures = 0;
      return true;
    }
    st.failures++;
    const backoff = Math.min(MAX_BACKOFF_MS, (this.o.backoffBaseMs ?? 1000) * 2 ** (st.failures - 1));
    st.retryAt = Date.now() + Math.max(backoff, retryAfter);
    return false;
  }

  private count(zone: string, c: ChangeSet, result: 'success' | 'failure'): void {
    if (c.create.length) this.m.changes.inc({ zone, action: 'create', result }, c.create.length);
    if (c.updateNew.length) this.m.changes.inc({ zone, action: 'update', result }, c.updateNew.length);
    if (c.delete.length) this.m.changes.inc({ zone, action: 'delete', result }, c.delete.length);
  }

  private applyToCache(st: ZoneState, c: ChangeSet): void {
    st.fingerprint = undefined;
    const gone = new Set([...c.delete, ...c.updateOld].map(recordKey));
    const next = st.records.filter((r) => !gone.has(recordKey(r)));
    for (const r of [...c.create, ...c.updateNew]) next.push(stripLabels(r));
    st.records = next;
  }

  private scheduleRetry(at: number): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.enqueue(() => (this.pendingResync ? this.resync() : this.sync())), Math.max(50, at - Date.now()));
    this.retryTimer.unref();
  }

  private reportConflicts(): void {
    const next = new Set<string>();
    for (const c of this.conflicts) {
      const id = JSON.stringify(c);
      next.add(id);
      if (!this.knownConflicts.has(id)) this.o.logger.warn({ conflict: c }, 'DNS name conflict');
    }
    this.knownConflicts = next;
  }

  /** The view behind GET /api/dns. */
  view() {
    return {
      provider: this.o.provider.name,
      policy: this.o.policy,
      ownerId: this.o.txt.ownerId ?? 'default',
      lastSync: this.lastSync?.toISOString() ?? null,
      desired: this.desired.map((e) => ({ name: e.name, type: e.type, ttl: e.ttl, targets: e.targets, owner: e.owner, setIdentifier: e.setIdentifier })),
      zones: [...this.zones].map(([zone, st]) => ({
        zone,
        records: st.records.map((r) => ({ name: r.name, type: r.type, ttl: r.ttl, targets: r.targets, setIdentifier: r.setIdentifier })),
        errors: st.errors,
        failures: st.failures,
        retryAt: st.failures ? new Date(st.retryAt).toISOString() : null,
      })),
      owners: ownersOf([...this.zones.values()].flatMap((s) => s.records), this.o.txt, this.o.managedTypes),
      conflicts: this.conflicts,
      skipped: this.skipped.map((s) => ({ name: s.record.name, type: s.record.type, reason: s.reason })),
      problems: this.reasons,
    };
  }
}

/** Runs `fn` over `items`, at most `limit` at a time. */
async function inParallel<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

function stripLabels(r: DnsRecord): DnsRecord {
  if (!r.labels) return r;
  const { labels: _l, ...rest } = r;
  return rest;
}

/** One change set per ownership group (a record and its TXT), in the order deletes, updates, creates. */
function splitByOwnership(c: ChangeSet): ChangeSet[] {
  const groups = new Map<string, ChangeSet>();
  const get = (r: DnsRecord) => {
    const k = ownershipKey(r);
    let g = groups.get(k);
    if (!g) groups.set(k, (g = emptyChangeSet()));
    return g;
  };
  for (const r of c.create) get(r).create.push(r);
  for (const r of c.delete) get(r).delete.push(r);
  c.updateNew.forEach((r, i) => {
    const g = get(r);
    g.updateNew.push(r);
    g.updateOld.push(c.updateOld[i]!);
  });
  return [...groups.values()];
}

function ownersOf(records: DnsRecord[], txt: RegistryConfig, managedTypes: RecordType[]) {
  const view = toRegistryView(records, { ...txt, managedTypes });
  return [
    ...view.owned.map((r) => ({ name: r.name, type: r.type, owner: r.labels?.owner ?? null, resource: r.labels?.resource ?? null, ours: true })),
    ...view.foreign.map((r) => ({ name: r.name, type: r.type, owner: r.labels?.owner ?? null, resource: r.labels?.resource ?? null, ours: false })),
  ];
}
