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
 *
 * Plain JavaScript on purpose: no build step, nothing of gangplank's, started pinned by run.ts.
 */
import { createServer as createHttpServer } from 'node:http';
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
} else {
  throw new Error(`unknown floor ${mode}: relay or http`);
}
process.on('SIGTERM', () => process.exit(0));
