/**
 * The address gangplank publishes for the Ingresses it serves (their status.loadBalancer), like
 * Traefik's publishedService: the load-balancer status of `--publish-service`, or the fixed
 * `--publish-address` values. Pure, given the store.
 */
import { isIP } from 'node:net';
import type { LoadBalancerIngress, Service } from '../api/types.js';
import type { Store } from '../store/store.js';

export interface PublishConfig {
  /** `namespace/name` of a Service of type LoadBalancer. */
  publishService?: string;
  /** IP addresses or host names. */
  publishAddress: string[];
}

export function publishedStatus(store: Store, cfg: PublishConfig): LoadBalancerIngress[] {
  if (cfg.publishAddress.length) return cfg.publishAddress.map((a) => (isIP(a) ? { ip: a } : { hostname: a }));
  if (!cfg.publishService) return [];
  const [ns, name] = cfg.publishService.split('/');
  const svc = store.getObject<Service>('Service', ns, name ?? '');
  return (svc?.status?.loadBalancer?.ingress ?? []).map((i) => (i.ip ? { ip: i.ip } : { hostname: i.hostname }));
}
