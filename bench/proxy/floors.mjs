/**
 * The floors Node itself sets on one core, measured beside the proxies (issue: edge router
 * performance asks for them on this machine, not quoted from elsewhere):
 *
 *   node bench/proxy/floors.mjs relay PORT UPSTREAM_PORT   raw TCP relay: each client connection gets its
 *                                                          own upstream connection, bytes piped both ways,
 *                                                          no HTTP parsing at all (the lowest any Node proxy
 *                                                          can cost: two reads and two writes per request)
 *   node bench/proxy/floors.mjs http PORT BODY             node:http server answering BODY itself, no
 *                                                          upstream (the cost of Node's HTTP server alone)
 *   node bench/proxy/floors.mjs h2 PORT BODY CERT KEY      node:http2 over TLS (core stream API, not the
 *                                                          compatibility layer) answering BODY itself: the
 *                                                          cost of Node's HTTP/2 + TLS alone
 *
 * Plain JavaScript on purpose: no build step, nothing of gangplank's, started pinned by run.ts.
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createSecureServer } from 'node:http2';
import { connect, createServer } from 'node:net';

const [mode, portArg, arg] = process.argv.slice(2);
const port = Number(portArg);
if (!Number.isInteger(port) || port <= 0) throw new Error(`usage: floors.mjs relay|http PORT UPSTREAM_PORT|BODY (got ${process.argv.slice(2).join(' ')})`);

if (mode === 'relay') {
  const upstreamPort = Number(arg);
  createServer({ noDelay: true }, (client) => {
    const up = connect({ host: '127.0.0.1', port: upstreamPort, noDelay: true });
    client.pipe(up);
    up.pipe(client);
    const close = () => {
      client.destroy();
      up.destroy();
    };
    client.on('error', close).on('close', close);
    up.on('error', close).on('close', close);
  }).listen(port, '127.0.0.1');
} else if (mode === 'http') {
  const body = Buffer.from(arg ?? '');
  const server = createHttpServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
    res.end(body);
  });
  server.keepAliveTimeout = 60_000;
  server.listen(port, '127.0.0.1');
} else if (mode === 'h2') {
  const [, , , certFile, keyFile] = process.argv.slice(2);
  const body = Buffer.from(arg ?? '');
  const server = createSecureServer({ cert: readFileSync(certFile), key: readFileSync(keyFile), allowHTTP1: true, settings: { maxConcurrentStreams: 128 } });
  server.on('stream', (stream) => {
    stream.respond({ ':status': 200, 'content-type': 'text/plain', 'content-length': body.length });
    stream.end(body);
  });
  // HTTP/1.1 over TLS (the readiness check) gets the same answer.
  server.on('request', (req, res) => {
    if (req.httpVersionMajor === 2) return;
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
    res.end(body);
  });
  server.listen(port, '127.0.0.1');
} else {
  throw new Error(`unknown floor ${mode}: relay, http or h2`);
}
process.on('SIGTERM', () => process.exit(0));
