/**
 * Desired DNS records from Kubernetes objects, with ExternalDNS's rules: which hostnames an
 * Ingress or Service asks for, and which targets they point at.
 */
import type { ObjectMeta } from '../../api/meta.js';
import type { Ingress, LoadBalancerIngress, Service } from '../../api/types.js';
import {
  controllerMismatch,
  GA_PREFIX,
  hostnameSourceOf,
  parseDnsAnnotations,
  type DnsAnnotations,
} from './annotations.js';
import { normalizeTarget, sortedTargets, targetType } from './records.js';
import type { DnsRecord } from './types.js';

/** A desired record set and the object that asks for it. */
export interface DnsEndpoint extends DnsRecord {
  /** The claiming object, as ExternalDNS's resource label: `ingress/<ns>/<name>` or `service/<ns>/<name>`. */
  owner: string;
  /** The claiming object's metadata, used to order conflicting claims (oldest wins). */
  source: { metadata: ObjectMeta };
}

/** The name the brief and the controller use for a desired record. */
export type Endpoint = DnsEndpoint;

export interface DesiredOptions {
  /** ExternalDNS's --ignore-hostname-annotation. */
  ignoreHostnameAnnotation?: boolean;
  /** ExternalDNS's --ignore-ingress-tls-spec. */
  ignoreIngressTlsSpec?: boolean;
}

export interface Desired {
  endpoints: DnsEndpoint[];
  /** Why an expected record is not there (no targets, bad annotation, ...): one message each, naming the object. */
  reasons: string[];
}

const LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;

/** Checks a host name (lower case, no trailing dot); `*` is allowed as the first label only. */
export function hostnameProblem(name: string): string | undefined {
  if (name === '') return 'is empty';
  if (name.length > 253) return 'is longer than 253 characters';
  const labels = name.split('.');
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i] ?? '';
    if (i === 0 && l === '*') continue;
    if (l === '*') return 'has "*" outside the first label';
    if (!LABEL.test(l)) return `has an invalid label "${l}" (letters, digits, "-" and "_", 1-63 characters)`;
  }
  return undefined;
}

function normalizeHost(h: string): string {
  const t = h.trim().toLowerCase();
  return t.endsWith('.') ? t.slice(0, -1) : t;
}

function targetsFromStatus(lb: LoadBalancerIngress[] | undefined): string[] {
  const out: string[] = [];
  for (const i of lb ?? []) {
    if (i.ip) out.push(i.ip);
    if (i.hostname) out.push(i.hostname);
  }
  return out;
}

/**
 * Record sets for one hostname: targets grouped by type (A, AAAA, CNAME), sorted. A name cannot
 * hold a CNAME beside other types, and a CNAME holds one target, so the extras are dropped with
 * a reason.
 */
function recordsForHostname(
  host: string,
  targets: string[],
  ann: DnsAnnotations,
  owner: string,
  source: { metadata: ObjectMeta },
  reasons: string[],
): DnsEndpoint[] {
  const byType = { A: [] as string[], AAAA: [] as string[], CNAME: [] as string[] };
  for (const t of targets) byType[targetType(t) as 'A' | 'AAAA' | 'CNAME'].push(normalizeTarget(t));
  const out: DnsEndpoint[] = [];
  const make = (type: 'A' | 'AAAA' | 'CNAME', ts: string[]): DnsEndpoint => {
    const ep: DnsEndpoint = {
      name: host,
      type,
      ttl: ann.ttl,
      targets: sortedTargets(ts),
      labels: { resource: owner },
      owner,
      source,
    };
    if (ann.setIdentifier !== undefined) ep.setIdentifier = ann.setIdentifier;
    if (Object.keys(ann.providerSpecific).length > 0) ep.providerSpecific = { ...ann.providerSpecific };
    return ep;
  };
  if (byType.A.length) out.push(make('A', byType.A));
  if (byType.AAAA.length) out.push(make('AAAA', byType.AAAA));
  if (byType.CNAME.length) {
    const cnames = sortedTargets(byType.CNAME);
    if (out.length > 0) {
      reasons.push(
        `${owner}: ${host} has address targets and host name targets [${cnames.join(', ')}]; a CNAME cannot sit beside A/AAAA records, so only the addresses are published`,
      );
    } else {
      if (cnames.length > 1) {
        reasons.push(
          `${owner}: ${host} has several host name targets [${cnames.join(', ')}]; a CNAME holds one, so ${cnames[0]} is published`,
        );
      }
      out.push(make('CNAME', cnames.slice(0, 1)));
    }
  }
  return out;
}

function publish(
  owner: string,
  source: { metadata: ObjectMeta },
  hosts: string[],
  targets: string[],
  targetOrigin: string,
  ann: DnsAnnotations,
  reasons: string[],
): DnsEndpoint[] {
  const valid: string[] = [];
  for (const raw of hosts) {
    const h = normalizeHost(raw);
    const problem = hostnameProblem(h);
    if (problem) reasons.push(`${owner}: hostname "${raw}" ${problem}; no DNS record for it`);
    else if (!valid.includes(h)) valid.push(h);
  }
  if (valid.length === 0) return [];
  const usable = targets.map((t) => t.trim()).filter((t) => t !== '');
  if (usable.length === 0) {
    reasons.push(
      `${owner}: no targets for ${valid.join(', ')}: ${targetOrigin} is empty and there is no ${GA_PREFIX}target annotation; no DNS record until the load balancer has an address`,
    );
    return [];
  }
  const out: DnsEndpoint[] = [];
  for (const h of valid) out.push(...recordsForHostname(h, usable, ann, owner, source, reasons));
  return out;
}

/** The record sets an Ingress asks for, and why any it mentions are not there. */
export function desiredFromIngress(ing: Ingress, opts: DesiredOptions = {}): Desired {
  const owner = `ingress/${ing.metadata.namespace}/${ing.metadata.name}`;
  const reasons: string[] = [];
  const ann = parseDnsAnnotations(ing.metadata.annotations);
  const skip = controllerMismatch(ann);
  if (skip) return { endpoints: [], reasons: [`${owner}: ${skip}`] };
  reasons.push(...ann.problems.map((p) => `${owner}: ${p}`));

  const src = hostnameSourceOf(ann);
  if ('error' in src) return { endpoints: [], reasons: [...reasons, `${owner}: ${src.error}`] };

  const defined: string[] = [];
  for (const rule of ing.spec.rules ?? []) if (rule.host) defined.push(rule.host);
  if (!opts.ignoreIngressTlsSpec) {
    for (const tls of ing.spec.tls ?? []) for (const h of tls.hosts ?? []) if (h) defined.push(h);
  }
  const annotated = opts.ignoreHostnameAnnotation ? [] : (ann.hostnames ?? []);
  const hosts =
    src.source === 'defined-hosts-only' ? defined : src.source === 'annotation-only' ? annotated : [...defined, ...annotated];

  const targets = ann.targets ?? targetsFromStatus(ing.status?.loadBalancer?.ingress);
  const endpoints = publish(owner, { metadata: ing.metadata }, hosts, targets, 'status.loadBalancer.ingress', ann, reasons);
  return { endpoints, reasons };
}

/**
 * The record sets a Service asks for: only a Service of type LoadBalancer with the hostname
 * annotation is published, pointing at its load balancer (or the target annotation).
 */
export function desiredFromService(svc: Service, opts: DesiredOptions = {}): Desired {
  const owner = `service/${svc.metadata.namespace}/${svc.metadata.name}`;
  const ann = parseDnsAnnotations(svc.metadata.annotations);
  if (ann.hostnames === undefined || opts.ignoreHostnameAnnotation) return { endpoints: [], reasons: [] };
  const skip = controllerMismatch(ann);
  if (skip) return { endpoints: [], reasons: [`${owner}: ${skip}`] };
  const reasons = ann.problems.map((p) => `${owner}: ${p}`);
  if (svc.spec.type !== 'LoadBalancer') {
    reasons.push(
      `${owner}: has the ${GA_PREFIX}hostname annotation but is of type ${svc.spec.type ?? 'ClusterIP'}; only Services of type LoadBalancer are published`,
    );
    return { endpoints: [], reasons };
  }
  const targets = ann.targets ?? targetsFromStatus(svc.status?.loadBalancer?.ingress);
  const endpoints = publish(owner, { metadata: svc.metadata }, ann.hostnames, targets, 'status.loadBalancer.ingress', ann, reasons);
  return { endpoints, reasons };
}
