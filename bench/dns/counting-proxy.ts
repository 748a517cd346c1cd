/**
 * A counting HTTP proxy in front of moto: gangplank's AWS SDK talks to it, it forwards every
 * request unchanged and remembers what it was (operation, zone, changes in the batch, status,
 * timing). This is moto's side of the call count, independent of gangplank's own metrics.
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { classifyRoute53, countChanges, type Route53Op } from './route53-ops.js';

export interface Call {
  op: Route53Op;
  zoneId?: string;
  /** Changes in a ChangeResourceRecordSets batch. */
  changes?: number;
  status: number;
  start: number;
  end: number;
}

export interface CountingProxy {
  endpoint: string;
  calls: Call[];
  /** Requests forwarded and not answered yet. */
  inFlight(): number;
  /** Calls that ended in [from, to). */
  between(from: number, to?: number): Call[];
  close(): Promise<void>;
}

export async function startCountingProxy(target: { host: string; port: number }): Promise<CountingProxy> {
  const calls: Call[] = [];
  let inFlight = 0;
  const server: Server = createServer((req, res) => {
    const start = Date.now();
    inFlight++;
    let done = false;
    const finish = (call: Call) => {
      if (done) return;
      done = true;
      inFlight--;
      calls.push(call);
    };
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const { op, zoneId } = classifyRoute53(req.method ?? 'GET', req.url ?? '/');
      const up = request(
        { host: target.host, port: target.port, method: req.method, path: req.url, headers: req.headers },
        (upRes) => {
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          upRes.pipe(res);
          upRes.on('end', () =>
            finish({ op, zoneId, changes: op === 'ChangeResourceRecordSets' ? countChanges(body.toString('utf8')).total : undefined, status: upRes.statusCode ?? 0, start, end: Date.now() }),
          );
        },
      );
      up.on('error', (err) => {
        finish({ op, zoneId, status: 502, start, end: Date.now() });
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`counting proxy: moto at ${target.host}:${target.port} failed: ${err.message}\n`);
      });
      up.end(body);
    });
  });
  // moto answers slowly for big zones; never cut a request the SDK is still waiting for.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls,
    inFlight: () => inFlight,
    between: (from, to = Infinity) => calls.filter((c) => c.end >= from && c.end < to),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
