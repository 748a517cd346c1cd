/**
 * `gangplank demo`: three tiny backends that answer with their own name, the path and the headers
 * they received, and gangplank serving examples/ in front of them.
 */
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { resolveConfig } from '../runtime/config.js';
import { startApp } from '../runtime/app.js';
import { createLogger } from '../runtime/logger.js';
import { untilSignal } from '../runtime/signals.js';

export const DEMO_BACKENDS = [
  { name: 'web', port: 9101 },
  { name: 'api', port: 9102 },
  { name: 'docs', port: 9103 },
];

export function startEchoBackend(name: string, port: number, host = '127.0.0.1'): Promise<Server> {
  const server = createServer((req, res) => {
    const body = JSON.stringify({ backend: name, method: req.method, path: req.url, headers: req.headers }, null, 2) + '\n';
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-backend': name });
    res.end(body);
  });
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'EADDRINUSE' ? new Error(`demo backend ${name} cannot listen on ${host}:${port}: the port is in use`) : err),
    );
    server.listen(port, host, () => resolve(server));
  });
}

export async function runDemo(o: { httpPort: number; adminPort: number }): Promise<void> {
  const examples = fileURLToPath(new URL('../../examples', import.meta.url));
  const logger = createLogger({ level: 'info', format: 'pretty' });
  const backends = await Promise.all(DEMO_BACKENDS.map((b) => startEchoBackend(b.name, b.port)));
  const cfg = resolveConfig({ manifests: [examples], 'http-port': o.httpPort, 'admin-port': o.adminPort, 'state-dir': '.gangplank/demo', 'access-log': 'false' });
  const app = await startApp(cfg, logger);
  const p = o.httpPort;
  process.stdout.write(
    [
      '',
      'gangplank demo is running. Try:',
      `  curl -H 'Host: shop.demo.localhost' http://127.0.0.1:${p}/            # -> web`,
      `  curl -H 'Host: shop.demo.localhost' http://127.0.0.1:${p}/api/orders  # -> api`,
      `  curl -H 'Host: v2.docs.demo.localhost' http://127.0.0.1:${p}/guide    # -> docs (wildcard host)`,
      `  curl http://127.0.0.1:${p}/anything                                   # -> docs (default backend)`,
      '',
      `Admin API: http://127.0.0.1:${o.adminPort}/api/routes  /api/objects  /metrics  /healthz`,
      `Edit the manifests in ${examples} and the routes change within a second.`,
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );
  await untilSignal();
  await app.stop();
  await Promise.all(backends.map((s) => new Promise((r) => s.close(r))));
  setTimeout(() => process.exit(0), 2000).unref();
}
