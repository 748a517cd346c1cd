import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { WebSocket, WebSocketServer } from 'ws';
import { waitFor } from '../harness/wait.js';
import { backend, endpoint, route, startBackend, startProxy, TestTable, type Backendsrv, type ProxyUnderTest } from './helpers.js';

describe('WebSocket through the proxy', () => {
  let be: Backendsrv;
  let wss: WebSocketServer;
  let p: ProxyUnderTest;
  const serverCloses: { code: number; reason: string }[] = [];
  const upgradeHeaders: Record<string, string | string[] | undefined>[] = [];

  before(async () => {
    be = await startBackend('ws', (_req, res) => res.end('plain'));
    wss = new WebSocketServer({ server: be.server });
    wss.on('connection', (ws, req) => {
      upgradeHeaders.push(req.headers);
      ws.on('message', (m, isBinary) => {
        const text = m.toString();
        if (text === 'close-me') ws.close(4001, 'server says bye');
        else ws.send(isBinary ? m : `echo:${text}`, { binary: isBinary });
      });
      ws.on('close', (code, reason) => serverCloses.push({ code, reason: reason.toString() }));
    });
    p = await startProxy(new TestTable([route('ws.test', '/', backend('default/ws:80', [endpoint(be.port)]))]), {
      // Short HTTP timeouts: an upgraded connection must not be cut by them.
      timeouts: { headersMs: 200, requestMs: 300, keepAliveMs: 300 },
    });
  });
  after(async () => {
    await p?.close();
    wss?.close();
    await be?.close();
  });

  async function open(): Promise<WebSocket> {
    const ws = new WebSocket(`ws://127.0.0.1:${p.port}/chat`, { headers: { host: 'ws.test' } });
    await once(ws, 'open');
    return ws;
  }
  async function roundTrip(ws: WebSocket, text: string): Promise<string> {
    const got = once(ws, 'message');
    ws.send(text);
    const [m] = (await got) as [Buffer];
    return m.toString();
  }

  test('echo, with forwarding headers, closed by the client', async () => {
    const ws = await open();
    assert.equal(await roundTrip(ws, 'hello'), 'echo:hello');
    const big = 'y'.repeat(1024 * 1024);
    assert.equal(await roundTrip(ws, big), `echo:${big}`);
    assert.equal(upgradeHeaders.at(-1)?.['x-forwarded-for'], '127.0.0.1');
    assert.equal(upgradeHeaders.at(-1)?.host, 'ws.test');
    const before = serverCloses.length;
    ws.close(1000, 'client done');
    const [code] = (await once(ws, 'close')) as [number];
    assert.equal(code, 1000);
    await waitFor('backend sees the close', () => serverCloses.length > before);
    assert.deepEqual(serverCloses.at(-1), { code: 1000, reason: 'client done' });
  });

  test('closed by the server', async () => {
    const ws = await open();
    ws.send('close-me');
    const [code, reason] = (await once(ws, 'close')) as [number, Buffer];
    assert.equal(code, 4001);
    assert.equal(reason.toString(), 'server says bye');
  });

  test('an idle upgraded connection outlives the HTTP keep-alive and request timeouts', async () => {
    const ws = await open();
    // The passing of time is what is under test here: idle well past every HTTP timeout (300 ms).
    await delay(1_200);
    assert.equal(ws.readyState, WebSocket.OPEN);
    assert.equal(await roundTrip(ws, 'still here'), 'echo:still here');
    ws.close();
    await once(ws, 'close');
  });

  test('an upgrade to an unknown host is refused with 404', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${p.port}/`, { headers: { host: 'nope.test' } });
    const [err] = (await once(ws, 'error')) as [Error];
    assert.match(err.message, /404/);
  });
});
