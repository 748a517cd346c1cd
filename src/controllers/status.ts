/**
 * Ingress status: gangplank writes the address it publishes into status.loadBalancer of every
 * Ingress it serves (through the writer: the state dir, or the Kubernetes status subresource).
 */
import type { Ingress, LoadBalancerIngress } from '../api/types.js';
import type { Component } from '../runtime/lifecycle.js';
import type { Logger } from '../runtime/logger.js';
import { deepEqual, type Change, type Store } from '../store/store.js';
import type { Writer } from '../writers/types.js';
import { classView, ingressIsOurs, type ClassConfig } from './routes/classes.js';
import { publishedStatus, type PublishConfig } from './publish.js';

const WRITE_CONCURRENCY = 16;

export class IngressStatusController implements Component {
  private unsubscribe: (() => void) | undefined;
  private readonly written = new Map<string, LoadBalancerIngress[]>();
  private queue: Promise<void> = Promise.resolve();
  private readonly pending: (() => Promise<void>)[] = [];
  private active = 0;

  constructor(
    private readonly store: Store,
    private readonly writer: Writer,
    private readonly classes: ClassConfig,
    private readonly publish: PublishConfig,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    this.reconcile();
    this.unsubscribe = this.store.subscribe((changes) => this.onChanges(changes));
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.pending.length = 0;
    await this.queue;
  }

  private onChanges(changes: readonly Change[]): void {
    if (changes.some((c) => c.kind === 'Ingress' || c.kind === 'IngressClass' || c.kind === 'Service')) this.reconcile();
  }

  private reconcile(): void {
    if (!this.publish.publishService && !this.publish.publishAddress.length) return;
    const published = publishedStatus(this.store, this.publish);
    const view = classView(this.store.objects('IngressClass'), this.classes);
    for (const ing of this.store.objects<Ingress>('Ingress')) {
      if (!ingressIsOurs(ing, view)) continue;
      const key = `${ing.metadata.namespace}/${ing.metadata.name}`;
      const current = this.written.get(key) ?? ing.status?.loadBalancer?.ingress ?? [];
      if (deepEqual(current, published)) continue;
      this.written.set(key, published);
      const ref = { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', namespace: ing.metadata.namespace, name: ing.metadata.name, uid: ing.metadata.uid };
      this.pending.push(() =>
        this.writer.writeStatus(ref, { loadBalancer: { ingress: published } }).catch((err: Error) => {
          this.written.delete(key);
          this.logger.warn({ ingress: key, err: err.message }, 'cannot write the Ingress status; will retry on the next change');
        }),
      );
    }
    this.drain();
  }

  /** Writes run a few at a time: ten thousand Ingresses neither wait in one line nor flood the API server. */
  private drain(): void {
    while (this.active < WRITE_CONCURRENCY && this.pending.length) {
      const next = this.pending.shift()!;
      this.active++;
      const done = next().finally(() => {
        this.active--;
        this.drain();
      });
      this.queue = Promise.all([this.queue, done]).then(() => undefined);
    }
  }
}
