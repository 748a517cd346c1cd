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

export async function runDemo(o: { httpPort: number; httpsPort: number; adminPort: number; dnsPort: number }): Promise<void> {
  const examples = fileURLToPath(new URL('../../examples', import.meta.url));
  const logger = createLogger({ level: 'info', format: 'pretty' });
  const backends = await Promise.all(DEMO_BACKENDS.map((b) => startEchoBackend(b.name, b.port)));
  const cfg = resolveConfig({
    manifests: [examples],
    'http-port': o.httpPort,
    'https-port': o.httpsPort,
    'admin-port': o.adminPort,
    'state-dir': '.gangplank/demo',
    'access-log': 'false',
    workers: 1,
    // The embedded DNS server answers for the demo hosts with the published address.
    'dns-port': o.dnsPort,
    'dns-zone': ['demo.localhost'],
    'publish-address': ['127.0.0.1'],
  });
  const app = await startApp(cfg, logger);
  const p = o.httpPort;
  const s = o.httpsPort;
  const ca = `${cfg.stateDir}/objects/Secret_gangplank_demo-ca.json`;
  process.stdout.write(
    [
      '',
      'gangplank demo is running. Try:',
      `  curl -i -H 'Host: shop.demo.localhost' http://127.0.0.1:${p}/api/orders        # -> 301 to https (the host has TLS)`,
      `  curl -k --resolve shop.demo.localhost:${s}:127.0.0.1 https://shop.demo.localhost:${s}/            # -> web`,
      `  curl -k --resolve shop.demo.localhost:${s}:127.0.0.1 https://shop.demo.localhost:${s}/api/orders  # -> api`,
      `  curl -k --http2 --resolve v2.docs.demo.localhost:${s}:127.0.0.1 https://v2.docs.demo.localhost:${s}/guide  # -> docs (wildcard host, HTTP/2)`,
      `  curl http://127.0.0.1:${p}/anything                                             # -> docs (default backend)`,
      `  dig @127.0.0.1 -p ${o.dnsPort} shop.demo.localhost A                              # the embedded DNS server`,
      '',
      `The https certificates are issued by a local CA made from examples/certificates.yaml (its Secret: ${ca}).`,
      `Admin API: http://127.0.0.1:${o.adminPort}/api/routes  /api/certificates  /api/dns  /api/objects  /metrics`,
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
