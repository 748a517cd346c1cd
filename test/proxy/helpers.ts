/** Shared pieces of the proxy tests: a hand-built route table, real backends, a proxy under test. */
import { createServer, request as httpRequest, type ClientRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Registry } from 'prom-client';
import type { Backend, Route, RouteTable, StickyCookie, UpstreamEndpoint, UpstreamScheme } from '../../src/controllers/routes/types.js';
import { HostIndex } from '../../src/controllers/routes/hostindex.js';
import { freePort } from '../harness/net.js';
import { silentLogger } from '../../src/runtime/logger.js';
import { createProxyMetrics } from '../../src/proxy/metrics.js';
import { HttpProxy, type ProxyOptions } from '../../src/proxy/proxy.js';

export function endpoint(port: number, address = '127.0.0.1', scheme: UpstreamScheme = 'http'): UpstreamEndpoint {
  const host = address.includes(':') ? `[${address}]` : address;
  return { origin: `${scheme === 'https' ? 'https' : 'http'}://${host}:${port}`, address, port, ready: true };
}

export function backend(id: string, endpoints: UpstreamEndpoint[], extra: Partial<Backend> = {}): Backend {
  const [ns, rest] = id.split('/');
  const [svc, port] = (rest ?? '').split(':');
  return { id, namespace: ns ?? '', service: svc ?? '', port: port ?? '', endpoints, scheme: 'http', passHostHeader: true, ...extra };
}

export function route(host: string, path: string, b: Backend, sticky?: StickyCookie): Route {
  const be = sticky ? { ...b, sticky } : b;
  return { id: `${host || '*'}|Prefix|${path}`, host, path, pathType: 'Prefix', ingress: { namespace: 'default', name: 'test' }, backend: be };
}

/**
 * A RouteTable matching exact hosts (or `''` = any) and element-wise path prefixes, longest first.
 * A host whose only route is Prefix `/` is a root (RouteTable.roots), as in the compiled table,
 * so the proxy tests take the data plane's root path for such hosts.
 */
export class TestTable implements RouteTable {
  private static versions = 0;
  readonly version = ++TestTable.versions;
  readonly roots: HostIndex<Route>;
  constructor(private readonly rs: Route[]) {
    const roots: [string, Route][] = [];
    for (const r of rs) {
      if (r.host === '' || r.path !== '/' || r.priority !== undefined) continue;
      if (rs.filter((o) => o.host === r.host).length === 1) roots.push([r.host, r]);
    }
    this.roots = new HostIndex(roots);
  }
  match(host: string, path: string): Route | undefined {
    let best: Route | undefined;
    for (const r of this.rs) {
      if (r.host !== '' && r.host !== host) continue;
      const p = r.path;
      const ok = p === '/' || path === p || path.startsWith(p.endsWith('/') ? p : p + '/');
      if (!ok) continue;
      if (!best || (r.host !== '' && best.host === '') || (r.host === best.host && r.path.length > best.path.length)) best = r;
    }
    return best;
  }
  routes(): readonly Route[] {
    return this.rs;
  }
}

export interface Backendsrv {
  server: Server;
  port: number;
  /** Remote ports of connections the backend accepted. */
  connections: number[];
  close(): Promise<void>;
}

/** A node backend; default handler answers JSON describing what it received. */
export async function startBackend(name: string, handler?: (req: IncomingMessage, res: ServerResponse) => void): Promise<Backendsrv> {
  const connections: number[] = [];
  const server = createServer(
    handler ??
      ((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const body = JSON.stringify({ name, url: req.url, method: req.method, headers: req.headers, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks).toString(), remotePort: req.socket.remotePort });
          res.writeHead(200, { 'content-type': 'application/json', 'x-backend': name });
          res.end(body);
        });
      }),
  );
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    connections.push(s.remotePort ?? 0);
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    connections,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

export interface ProxyUnderTest {
  proxy: HttpProxy;
  port: number;
  url: string;
  registry: Registry;
  close(): Promise<void>;
}

export async function startProxy(table: RouteTable, opts: Partial<ProxyOptions> = {}): Promise<ProxyUnderTest> {
  const registry = new Registry();
  const proxy = new HttpProxy({
    entrypoint: 'web',
    bind: '127.0.0.1',
    port: 0,
    trustedProxies: [],
    logger: silentLogger(),
    metrics: createProxyMetrics(registry),
    accessLog: null,
    ...opts,
  });
  proxy.setTable(table);
  await proxy.start();
  const port = proxy.address().port;
  return { proxy, port, url: `http://127.0.0.1:${port}`, registry, close: () => proxy.stop(500) };
}

/**
 * A port nothing listens on (connections to it are refused): the harness's freePort, drawn below
 * the kernel's ephemeral range and reserved across test files, so that no server listening on
 * port 0 (the proxy under test among them) can be given it. A just-closed server's port once
 * went straight back to the proxy, which then proxied to itself.
 */
export function deadPort(): Promise<number> {
  return freePort();
}

/** Sends raw bytes and collects everything until the server closes (or `timeoutMs`). */
export async function rawExchange(port: number, data: string | Buffer, timeoutMs = 5_000): Promise<{ text: string; closed: boolean }> {
  const { connect } = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ text, closed: false });
    }, timeoutMs);
    s.on('data', (d: Buffer) => (text += d.toString('latin1')));
    s.on('error', (e) => {
      clearTimeout(timer);
      if (text) resolve({ text, closed: true });
      else reject(e);
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ text, closed: true });
    });
    s.write(data);
  });
}

/** Splits a raw HTTP/1.1 response into status, lower-cased headers and the (de-chunked) body. */
export function parseRawResponse(text: string): { status: number; headers: Record<string, string>; body: string } {
  const end = text.indexOf('\r\n\r\n');
  const headLines = text.slice(0, end < 0 ? text.length : end).split('\r\n');
  const status = Number(headLines[0]?.split(' ')[1]);
  const headers: Record<string, string> = {};
  for (const l of headLines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
  }
  let body = end < 0 ? '' : text.slice(end + 4);
  if (headers['transfer-encoding'] === 'chunked') {
    let out = '';
    for (;;) {
      const nl = body.indexOf('\r\n');
      const size = parseInt(body.slice(0, nl), 16);
      if (!size) break;
      out += body.slice(nl + 2, nl + 2 + size);
      body = body.slice(nl + 2 + size + 2);
    }
    body = out;
  }
  return { status, headers, body };
}

export interface NodeResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/**
 * A request through node's own http client (it sends any header we ask for, hop-by-hop included),
 * left open for the caller to write its body, and its whole response.
 */
export function openRequest(url: string, opts: { method?: string; headers: Record<string, string> }): { req: ClientRequest; response: Promise<NodeResponse> } {
  const req = httpRequest(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: false });
  const response = new Promise<NodeResponse>((resolve, reject) => {
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on('error', reject);
  });
  return { req, response };
}

/** A GET through node's own http client. */
export async function nodeGet(url: string, headers: Record<string, string>): Promise<NodeResponse> {
  const { req, response } = openRequest(url, { headers });
  req.end();
  return response;
}
