/**
 * The `aws` DNS provider: Route 53 through the AWS SDK. It lists hosted zones and record sets
 * and applies change sets as ChangeResourceRecordSets batches (each batch is atomic in Route
 * 53; a record and its ownership TXT always share one). It decides nothing.
 */
// The AWS SDK costs ~20 MiB of memory: loaded only when a Route 53 provider talks to AWS.
import type {
  Change as R53Change,
  HostedZone,
  ResourceRecordSet,
  Route53Client,
  Route53ClientConfig,
  RRType,
} from '@aws-sdk/client-route-53';
import { DnsProviderError, fqdn, type ChangeSet, type DnsProvider, type DnsRecord } from '../types.js';
import { changesByZone, changesOf, describeRecord, packBatches, type Change } from './batch.js';
import { bareZoneId, fromRecordSet, isAlias, mergeDualstackAliases, PS_ALIAS, PS_EVALUATE_TARGET_HEALTH, toRecordSets } from './route53-records.js';

export interface Route53ProviderOptions {
  /** ExternalDNS --aws-zone-type: only public or only private hosted zones; '' for both. */
  zoneType?: 'public' | 'private' | '';
  /** ExternalDNS --zone-id-filter: only these hosted zone ids (bare or `/hostedzone/` form). */
  zoneIdFilter?: string[];
  /** ExternalDNS --aws-zones-cache-duration: how long the hosted-zone list is reused. 0 = always ask. */
  zonesCacheDurationMs?: number;
  /** ExternalDNS --aws-batch-change-size: at most this many Route 53 changes per request (default 1000). */
  batchChangeSize?: number;
  /** ExternalDNS --aws-evaluate-target-health: default for alias records (default true). */
  evaluateTargetHealth?: boolean;
  /** TTL written when a record asks for the provider default (0). ExternalDNS uses 300. */
  defaultTtl?: number;
  /** A ready client (tests); otherwise one is built from `clientConfig` and the standard AWS environment. */
  client?: Route53Client;
  clientConfig?: Route53ClientConfig;
}

interface Zone {
  id: string;
  name: string;
  private: boolean;
  /** ResourceRecordSetCount: changes when record sets are added or removed. */
  count: number;
}

/** How long a zone listing made by zones() is reused by the calls of the same sync. */
const SAME_SYNC_MS = 10_000;

/** Route 53 returns at most 300 record sets per page. */
const PAGE_SIZE = 300;

export class Route53Provider implements DnsProvider {
  readonly name = 'aws';
  private clientP: Promise<Route53Client> | undefined;
  private readonly clientConfig: Route53ClientConfig;
  private readonly sdk = () => import('@aws-sdk/client-route-53');
  private readonly opts: Required<Omit<Route53ProviderOptions, 'client' | 'clientConfig'>>;
  private cache?: { at: number; zones: Zone[] };

  constructor(opts: Route53ProviderOptions = {}) {
    if (opts.client) this.clientP = Promise.resolve(opts.client);
    this.clientConfig = opts.clientConfig ?? {};
    this.opts = {
      zoneType: opts.zoneType ?? '',
      zoneIdFilter: (opts.zoneIdFilter ?? []).map(bareZoneId),
      zonesCacheDurationMs: opts.zonesCacheDurationMs ?? 0,
      batchChangeSize: opts.batchChangeSize ?? 1000,
      evaluateTargetHealth: opts.evaluateTargetHealth ?? true,
      defaultTtl: opts.defaultTtl ?? 300,
    };
    if (!Number.isInteger(this.opts.batchChangeSize) || this.opts.batchChangeSize < 1) {
      throw new Error(`aws provider: batchChangeSize must be a positive integer, got ${this.opts.batchChangeSize}`);
    }
  }

  private client(): Promise<Route53Client> {
    return (this.clientP ??= this.sdk().then(({ Route53Client }) => new Route53Client(this.clientConfig)));
  }

  /** Lists the hosted zones (or reuses --aws-zones-cache-duration's cache). */
  async zones(): Promise<string[]> {
    return [...new Set((await this.hostedZones()).map((z) => z.name))].sort();
  }

  /**
   * Each zone's record-set count, from the listing zones() just made: the drift check lists
   * again only zones whose count moved (plus a full listing now and then, since an UPSERT made
   * outside gangplank keeps the count).
   */
  async zoneFingerprints(): Promise<Map<string, string>> {
    const zones = await this.knownZones();
    return new Map(zones.map((z) => [z.name, `${z.id}:${z.count}`]));
  }

  async records(zone?: string): Promise<DnsRecord[]> {
    const zones = await this.knownZones();
    const wanted = zone === undefined ? zones : zones.filter((z) => z.name === fqdn(zone));
    const out: DnsRecord[] = [];
    for (const z of wanted) out.push(...(await this.zoneRecords(z)));
    return out;
  }

  /** Alias targets are stored as alias records (no TTL, evaluate-target-health set); plain records keep aws/* settings. */
  adjust(r: DnsRecord): DnsRecord {
    if (isAlias(r)) {
      const ps: Record<string, string> = { ...(r.providerSpecific ?? {}), [PS_ALIAS]: 'true' };
      ps[PS_EVALUATE_TARGET_HEALTH] ??= String(this.opts.evaluateTargetHealth);
      return { ...r, ttl: 0, providerSpecific: ps };
    }
    if (!r.providerSpecific || !(PS_ALIAS in r.providerSpecific)) return r;
    const { [PS_ALIAS]: _drop, ...rest } = r.providerSpecific;
    return Object.keys(rest).length ? { ...r, providerSpecific: rest } : { ...r, providerSpecific: undefined };
  }

  async applyChanges(cs: ChangeSet): Promise<void> {
    const changes = changesOf(cs);
    if (changes.length === 0) return;
    const zones = await this.knownZones();
    const { byZone, orphans } = changesByZone(
      changes,
      zones.map((z) => z.name),
    );
    const failures: DnsProviderError[] = [];
    if (orphans.length > 0) {
      failures.push(
        new DnsProviderError(
          'no-zone',
          `no Route 53 hosted zone (of ${zones.length} visible) contains ${orphans.map((c) => describeRecord(c.record)).join(', ')}: create the hosted zone or check --aws-zone-type/--zone-id-filter`,
          { retryable: false },
        ),
      );
    }
    for (const { zone, changes: zc } of byZone) {
      // Split-horizon setups have a public and a private hosted zone of one name: both get the change.
      for (const hz of zones.filter((z) => z.name === zone)) {
        let batches: { changes: Change[]; r53: R53Change[] }[];
        try {
          const conv = (c: Change) => this.toChanges(c, hz);
          batches = packBatches(zc, this.opts.batchChangeSize, (c) => conv(c).length).map((b) => ({
            changes: b,
            r53: b.flatMap(conv),
          }));
        } catch (err) {
          failures.push(new DnsProviderError('invalid-record', `zone ${zone} (${hz.id}): ${(err as Error).message}`, { retryable: false, cause: err }));
          continue;
        }
        for (const b of batches) {
          try {
            const { ChangeResourceRecordSetsCommand } = await this.sdk();
            await (await this.client()).send(new ChangeResourceRecordSetsCommand({ HostedZoneId: hz.id, ChangeBatch: { Changes: b.r53 } }));
          } catch (err) {
            if (isName(err, 'NoSuchHostedZone')) this.cache = undefined;
            failures.push(toProviderError(err, `zone ${zone} (${hz.id}), batch of ${b.r53.length} changes [${b.changes.map((c) => `${c.action} ${describeRecord(c.record)}`).join(', ')}]`));
          }
        }
      }
    }
    if (failures.length === 1) throw failures[0];
    if (failures.length > 1) {
      const retryable = failures.some((f) => f.retryable);
      const retryAfter = Math.max(0, ...failures.map((f) => f.retryAfter ?? 0)) || undefined;
      throw new DnsProviderError(failures[0]!.code, `${failures.length} Route 53 batches failed: ${failures.map((f) => f.message).join('; ')}`, {
        retryable,
        retryAfter,
        cause: failures,
      });
    }
  }

  /** One change in Route 53's terms: UPSERT for updates, CREATE for creates, DELETE for deletes. */
  private toChanges(c: Change, hz: Zone): R53Change[] {
    const o = { hostedZoneId: hz.id, evaluateTargetHealth: this.opts.evaluateTargetHealth, defaultTtl: this.opts.defaultTtl };
    const sets = toRecordSets(c.record, o);
    if (c.action === 'create') return sets.map((s) => ({ Action: 'CREATE', ResourceRecordSet: s }));
    if (c.action === 'delete') return sets.map((s) => ({ Action: 'DELETE', ResourceRecordSet: s }));
    // An update whose old record sets are not replaced key for key (CNAME -> alias A, dual-stack
    // dropped) deletes the leftovers first: UPSERT only replaces a set of the same name and type.
    const keep = new Set(sets.map(setKey));
    const old = c.old ? toRecordSets(c.old, o).filter((s) => !keep.has(setKey(s))) : [];
    return [
      ...old.map((s): R53Change => ({ Action: 'DELETE', ResourceRecordSet: s })),
      ...sets.map((s): R53Change => ({ Action: 'UPSERT', ResourceRecordSet: s })),
    ];
  }

  /** The zones of the last listing when recent (or cached), else a new listing: records() and applyChanges() never list zones again per call. */
  private async knownZones(): Promise<Zone[]> {
    const ttl = Math.max(this.opts.zonesCacheDurationMs, SAME_SYNC_MS);
    if (this.cache && Date.now() - this.cache.at < ttl) return this.cache.zones;
    return this.hostedZones();
  }

  private async hostedZones(): Promise<Zone[]> {
    const ttl = this.opts.zonesCacheDurationMs;
    if (this.cache && ttl > 0 && Date.now() - this.cache.at < ttl) return this.cache.zones;
    const zones: Zone[] = [];
    let marker: string | undefined;
    do {
      let page;
      try {
        const { ListHostedZonesCommand } = await this.sdk();
        page = await (await this.client()).send(new ListHostedZonesCommand({ Marker: marker }));
      } catch (err) {
        throw toProviderError(err, 'listing hosted zones');
      }
      for (const hz of page.HostedZones ?? []) {
        const z = toZone(hz);
        if (this.opts.zoneType === 'public' && z.private) continue;
        if (this.opts.zoneType === 'private' && !z.private) continue;
        if (this.opts.zoneIdFilter.length > 0 && !this.opts.zoneIdFilter.includes(bareZoneId(z.id))) continue;
        zones.push(z);
      }
      marker = page.IsTruncated ? page.NextMarker : undefined;
    } while (marker);
    this.cache = { at: Date.now(), zones };
    return zones;
  }

  private async zoneRecords(z: Zone): Promise<DnsRecord[]> {
    const out: DnsRecord[] = [];
    let start: { StartRecordName?: string; StartRecordType?: RRType; StartRecordIdentifier?: string } = {};
    for (;;) {
      let page;
      try {
        const { ListResourceRecordSetsCommand } = await this.sdk();
        page = await (await this.client()).send(new ListResourceRecordSetsCommand({ HostedZoneId: z.id, MaxItems: PAGE_SIZE, ...start }));
      } catch (err) {
        if (isName(err, 'NoSuchHostedZone')) this.cache = undefined;
        throw toProviderError(err, `listing records of zone ${z.name} (${z.id})`);
      }
      for (const rs of page.ResourceRecordSets ?? []) {
        const r = fromRecordSet(rs);
        if (r) out.push(r);
      }
      if (!page.IsTruncated || !page.NextRecordName) break;
      start = { StartRecordName: page.NextRecordName, StartRecordType: page.NextRecordType, StartRecordIdentifier: page.NextRecordIdentifier };
    }
    return mergeDualstackAliases(out);
  }
}

function toZone(hz: HostedZone): Zone {
  return { id: hz.Id ?? '', name: fqdn(hz.Name ?? ''), private: hz.Config?.PrivateZone === true, count: hz.ResourceRecordSetCount ?? -1 };
}

function setKey(s: ResourceRecordSet): string {
  return `${s.Name}\0${s.Type}\0${s.SetIdentifier ?? ''}`;
}

function isName(err: unknown, name: string): boolean {
  return typeof err === 'object' && err !== null && (err as { name?: unknown }).name === name;
}

const THROTTLING = new Set([
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'PriorRequestNotComplete',
  'SlowDown',
]);
const AUTH = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'ExpiredTokenException',
  'CredentialsProviderError',
]);

/**
 * An AWS SDK error as a DnsProviderError: throttling is retryable after a pause; a batch
 * Route 53 refused (record exists, record missing, invalid values) is not, until the plan changes.
 */
export function toProviderError(err: unknown, what: string): DnsProviderError {
  if (err instanceof DnsProviderError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as {
    name?: string;
    code?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
    $response?: { headers?: Record<string, string> };
  };
  const name = e.name ?? 'Error';
  const msg = e.message ?? String(err);
  const status = e.$metadata?.httpStatusCode;
  if (THROTTLING.has(name) || status === 429) {
    const ra = Number(e.$response?.headers?.['retry-after']);
    return new DnsProviderError('throttled', `Route 53 throttled ${what} (${name}: ${msg}); retrying later`, {
      retryable: true,
      retryAfter: Number.isFinite(ra) && ra > 0 ? ra : 1,
      cause: err,
    });
  }
  if (name === 'InvalidChangeBatch' || name === 'InvalidInput') {
    const code = /already exists/i.test(msg) ? 'conflict' : /not found|found none/i.test(msg) ? 'not-found' : 'invalid-change';
    const hint =
      code === 'conflict'
        ? 'a record set with this name and type already exists (created out of band?); it is re-listed on the next sync'
        : code === 'not-found'
          ? 'the record set to delete or replace is not there as listed (changed out of band?); it is re-listed on the next sync'
          : 'Route 53 rejected the values';
    return new DnsProviderError(code, `Route 53 refused ${what}: ${name}: ${msg} (${hint})`, { retryable: false, cause: err });
  }
  if (name === 'NoSuchHostedZone') {
    return new DnsProviderError('zone-not-found', `Route 53 has no hosted zone for ${what}: ${msg} (the zone list is refreshed on retry)`, {
      retryable: true,
      cause: err,
    });
  }
  if (AUTH.has(name) || status === 403) {
    return new DnsProviderError('auth', `Route 53 denied ${what}: ${name}: ${msg} (check the AWS credentials and the IAM policy: route53:ListHostedZones, ListResourceRecordSets, ChangeResourceRecordSets)`, {
      retryable: true,
      cause: err,
    });
  }
  return new DnsProviderError('unavailable', `Route 53 request failed while ${what}: ${name}: ${msg}`, { retryable: true, cause: err });
}
