/**
 * The routes controller: keeps a compiled route table in step with the store and hands every new
 * table to its consumers (the proxy, worker processes). Logs and counts reloads and conflicts.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Component } from '../../runtime/lifecycle.js';
import type { Logger } from '../../runtime/logger.js';
import type { Store } from '../../store/store.js';
import { RouteCompiler, registerRouteIndexes, type RouteConflict } from './compiler.js';
import type { CompiledTable } from './table.js';
import type { ClassConfig } from './classes.js';

export type TableConsumer = (table: CompiledTable) => void;

export class RoutesController implements Component {
  private readonly compiler: RouteCompiler;
  private readonly consumers = new Set<TableConsumer>();
  private unsubscribe: (() => void) | undefined;
  private knownConflicts = new Set<string>();
  private readonly reloads: Counter<'result'>;
  private readonly hosts: Gauge;
  private readonly conflictGauge: Gauge;

  constructor(
    private readonly store: Store,
    cfg: ClassConfig,
    private readonly logger: Logger,
    registry: Registry,
  ) {
    registerRouteIndexes(store);
    this.compiler = new RouteCompiler(store, cfg);
    this.reloads = new Counter({ name: 'gangplank_config_reloads_total', help: 'Route table compilations, by result.', labelNames: ['result'], registers: [registry] });
    this.hosts = new Gauge({ name: 'gangplank_route_hosts', help: 'Hosts in the route table (exact, wildcard and host-less).', registers: [registry], aggregator: 'max' });
    this.conflictGauge = new Gauge({ name: 'gangplank_route_conflicts', help: 'Ingress rules ignored because an older Ingress defines the same host and path.', registers: [registry], aggregator: 'max' });
  }

  current(): CompiledTable {
    return this.compiler.current();
  }

  conflicts(): RouteConflict[] {
    return this.compiler.conflicts();
  }

  onTable(c: TableConsumer): void {
    this.consumers.add(c);
  }

  async start(): Promise<void> {
    this.publish(() => this.compiler.rebuild());
    this.unsubscribe = this.store.subscribe((changes) => this.publish(() => this.compiler.apply(changes)));
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  private publish(build: () => CompiledTable): void {
    const before = this.compiler.current();
    let table: CompiledTable;
    const t0 = performance.now();
    try {
      table = build();
    } catch (err) {
      // A compiler bug must not take the data plane down: keep serving the last table.
      this.reloads.inc({ result: 'failure' });
      this.logger.error({ err: (err as Error).stack }, 'route table compilation failed; still serving the previous table');
      return;
    }
    if (table === before && before.version !== 0) return;
    this.reloads.inc({ result: 'success' });
    this.hosts.set(table.hostCount());
    this.reportConflicts();
    this.logger.debug({ version: table.version, ms: +(performance.now() - t0).toFixed(2) }, 'route table compiled');
    for (const c of this.consumers) c(table);
  }

  private reportConflicts(): void {
    const now = this.compiler.conflicts();
    this.conflictGauge.set(now.length);
    const next = new Set<string>();
    for (const c of now) {
      const id = `${c.host}|${c.path}|${c.pathType}|${c.loser}`;
      next.add(id);
      if (!this.knownConflicts.has(id)) this.logger.warn({ host: c.host || '*', path: c.path, pathType: c.pathType, winner: c.winner, loser: c.loser }, c.message);
    }
    this.knownConflicts = next;
  }
}
