/** Wires the certificates controller and the ingress-shim into a gangplank process. */
import { join, resolve } from 'node:path';
import type { Registry } from 'prom-client';
import type { RunConfig } from '../../runtime/config.js';
import type { Component } from '../../runtime/lifecycle.js';
import type { Logger } from '../../runtime/logger.js';
import type { Store } from '../../store/store.js';
import type { Writer } from '../../writers/types.js';
import { CertificatesController, type CertificatesControllerOptions, type CertificateView } from './controller.js';
import { ShimController } from './shim.js';
import { Http01Registry } from './solvers/http01.js';

export interface CertificatesContext {
  cfg: RunConfig;
  store: Store;
  writer: Writer;
  logger: Logger;
  registry: Registry;
}

export interface Certificates {
  /** Start in this order, stop in reverse: the controller, then the shim. */
  components: Component[];
  /** HTTP-01 key authorizations; the router answers /.well-known/acme-challenge/<token> from it. */
  http01: Http01Registry;
  /** GET /api/certificates */
  view(): CertificateView[];
  controller: CertificatesController;
  shim: ShimController;
}

export function createCertificates(ctx: CertificatesContext, overrides: Partial<CertificatesControllerOptions> = {}): Certificates {
  const { cfg } = ctx;
  const http01 = overrides.http01 ?? new Http01Registry();
  const controller = new CertificatesController({
    store: ctx.store,
    writer: ctx.writer,
    logger: ctx.logger.child({ component: 'certificates' }),
    registry: ctx.registry,
    stateDir: resolve(cfg.stateDir),
    clusterResourceNamespace: cfg.clusterResourceNamespace,
    maxConcurrentIssuances: cfg.maxConcurrentChallenges,
    backoffBaseMs: cfg.issuanceBackoffBase,
    backoffMaxMs: cfg.issuanceBackoffMax,
    dns01RecursiveNameservers: cfg.dns01RecursiveNameservers,
    ...overrides,
    http01,
  });
  const shim = new ShimController({
    store: ctx.store,
    writer: ctx.writer,
    logger: ctx.logger.child({ component: 'ingress-shim' }),
    defaults: { issuerName: cfg.defaultIssuerName, issuerKind: cfg.defaultIssuerKind, issuerGroup: cfg.defaultIssuerGroup },
  });
  return { components: [controller, shim], http01, view: () => controller.view(), controller, shim };
}

/** Where ACME state lives for a state dir (for tools that inspect it). */
export const acmeStateDir = (stateDir: string) => join(resolve(stateDir), 'acme');
