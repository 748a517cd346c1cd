/** Real HTTP backends for black-box tests: each answers with its name, the path and the headers it got. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Backend {
  name: string;
  port: number;
  server: Server;
  /** Connections accepted so far (for keep-alive checks). */
  connections(): number;
  close(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export function echo(name: string): Handler {
  return (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.stringify({ backend: name, method: req.method, path: req.url, headers: req.headers, bodyBytes: Buffer.concat(chunks).length });
      res.writeHead(200, { 'content-type': 'application/json', 'x-backend': name });
      res.end(body);
    });
  };
}

export async function startBackend(name: string, handler: Handler = echo(name), host = '127.0.0.1'): Promise<Backend> {
  const server = createServer({ keepAliveTimeout: 30_000 }, handler);
  let conns = 0;
  server.on('connection', () => conns++);
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return {
    name,
    port: (server.address() as AddressInfo).port,
    server,
    connections: () => conns,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
