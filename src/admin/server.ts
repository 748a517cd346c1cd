/** The admin HTTP API: health, readiness, Prometheus metrics and JSON views of the system. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import type { Component } from '../runtime/lifecycle.js';
import type { Logger } from '../runtime/logger.js';

export type JsonHandler = (url: URL) => unknown | Promise<unknown>;

export interface AdminOptions {
  bind: string;
  port: number;
  registry: Registry;
  logger: Logger;
  /** True once the first full configuration is compiled and serving. */
  ready: () => boolean;
  /** Lets worker processes contribute their metrics (cluster aggregation). */
  metrics?: () => Promise<string>;
}

export class AdminServer implements Component {
  private server: Server | undefined;
  private readonly routes = new Map<string, JsonHandler>();

  constructor(private readonly opts: AdminOptions) {}

  /** Registers a JSON view, e.g. `/api/routes`. */
  addJson(path: string, handler: JsonHandler): void {
    this.routes.set(path, handler);
  }

  address(): { port: number } {
    const a = this.server?.address();
    return { port: typeof a === 'object' && a ? a.port : 0 };
  }

  async start(): Promise<void> {
    const server = createServer({ requestTimeout: 30_000, headersTimeout: 10_000 }, (req, res) => {
      this.handle(req, res).catch((err: Error) => {
        this.opts.logger.error({ err: err.message, path: req.url }, 'admin request failed');
        if (!res.headersSent) send(res, 500, 'text/plain', `internal error: ${err.message}\n`);
        else res.destroy();
      });
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.bind || undefined, () => {
        server.off('error', reject);
        resolve();
      });
    });
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'only GET and HEAD are supported\n', { allow: 'GET, HEAD' });
    switch (url.pathname) {
      case '/healthz':
        return send(res, 200, 'text/plain', 'ok\n');
      case '/readyz':
        return this.opts.ready() ? send(res, 200, 'text/plain', 'ready\n') : send(res, 503, 'text/plain', 'not ready: the first configuration is still loading\n');
      case '/metrics': {
        const body = this.opts.metrics ? await this.opts.metrics() : await this.opts.registry.metrics();
        return send(res, 200, this.opts.registry.contentType, body);
      }
    }
    const h = this.routes.get(url.pathname);
    if (!h) return send(res, 404, 'text/plain', `no such admin endpoint ${url.pathname}; try ${['/healthz', '/readyz', '/metrics', ...this.routes.keys()].join(', ')}\n`);
    const body = JSON.stringify(await h(url), null, 2) + '\n';
    return send(res, 200, 'application/json', body);
  }
}

function send(res: ServerResponse, code: number, type: string, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(code, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', ...headers });
  res.end(body);
}
