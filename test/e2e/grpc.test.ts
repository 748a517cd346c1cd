/**
 * Black-box: gRPC end to end — a @grpc/grpc-js client over TLS (HTTP/2) to gangplank's websecure
 * entrypoint, proxied over h2c to a grpc-js server (Service annotated serversscheme: h2c).
 * Unary and streaming calls; statuses travel in trailers.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { startGangplank, tempDir, type Gangplank } from '../harness/gangplank.js';
import { serviceWithEndpoints, writeManifest } from '../harness/manifests.js';
import { freePort } from '../harness/net.js';
import { makeCert, tlsIngress, tlsSecret, websecureArgs, type TestCert } from '../proxy/tls-helpers.js';

const PROTO = `
syntax = "proto3";
package gp;
service Echo {
  rpc Say (Msg) returns (Msg);
  rpc Count (Msg) returns (stream Msg);
  rpc Collect (stream Msg) returns (Msg);
  rpc Chat (stream Msg) returns (stream Msg);
}
message Msg { string text = 1; int32 n = 2; }
`;

interface Msg {
  text: string;
  n: number;
}
type Client = grpc.Client & {
  Say(m: Partial<Msg>, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, r?: Msg) => void): void;
  Count(m: Partial<Msg>): grpc.ClientReadableStream<Msg>;
  Collect(cb: (err: grpc.ServiceError | null, r?: Msg) => void): grpc.ClientWritableStream<Partial<Msg>>;
  Chat(): grpc.ClientDuplexStream<Partial<Msg>, Msg>;
};

describe('gRPC through websecure to an h2c backend', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let g: Gangplank;
  let server: grpc.Server;
  let client: Client;
  let cert: TestCert;

  before(async () => {
    dir = await tempDir();
    const protoFile = join(dir.path, '..', `gp-echo-${process.pid}.proto`);
    await writeFile(protoFile, PROTO);
    const def = grpc.loadPackageDefinition(protoLoader.loadSync(protoFile, { keepCase: true, defaults: true })) as unknown as { gp: { Echo: grpc.ServiceClientConstructor } };
    server = new grpc.Server();
    server.addService(def.gp.Echo.service, {
      Say: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
        if (call.request.text === 'fail') {
          cb({ code: grpc.status.FAILED_PRECONDITION, details: 'asked to fail' });
          return;
        }
        const via = String(call.metadata.get('x-forwarded-proto')[0] ?? '');
        cb(null, { text: `hello ${call.request.text} via ${via}`, n: call.request.n + 1 });
      },
      Count: (call: grpc.ServerWritableStream<Msg, Msg>) => {
        for (let i = 0; i < call.request.n; i++) call.write({ text: `item ${i}`, n: i });
        call.end();
      },
      Collect: (call: grpc.ServerReadableStream<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
        let sum = 0;
        call.on('data', (m: Msg) => (sum += m.n));
        call.on('end', () => cb(null, { text: 'sum', n: sum }));
      },
      Chat: (call: grpc.ServerDuplexStream<Msg, Msg>) => {
        call.on('data', (m: Msg) => call.write({ text: `re: ${m.text}`, n: m.n }));
        call.on('end', () => call.end());
      },
    });
    const backendPort = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))));
    cert = await makeCert(['grpc.example.com']);
    await writeManifest(dir.path, 'all.yaml', [
      ...serviceWithEndpoints('echo', [backendPort], { annotations: { 'traefik.ingress.kubernetes.io/service.serversscheme': 'h2c' } }),
      tlsSecret('grpc-cert', cert),
      tlsIngress('grpc', ['grpc.example.com'], 'echo', [{ hosts: ['grpc.example.com'], secretName: 'grpc-cert' }]),
    ]);
    const httpsPort = await freePort();
    g = await startGangplank(dir.path, websecureArgs(httpsPort));
    client = new def.gp.Echo(`127.0.0.1:${httpsPort}`, grpc.credentials.createSsl(Buffer.from(cert.cert)), {
      'grpc.ssl_target_name_override': 'grpc.example.com',
      'grpc.default_authority': 'grpc.example.com',
    }) as unknown as Client;
  });

  after(async () => {
    client?.close();
    await g?.stop();
    server?.forceShutdown();
    await dir?.remove();
  });

  test('unary call succeeds; the backend sees X-Forwarded-Proto https', async () => {
    const r = await new Promise<Msg>((resolve, reject) => client.Say({ text: 'world', n: 41 }, new grpc.Metadata(), (err, m) => (err ? reject(err) : resolve(m!))));
    assert.deepEqual(r, { text: 'hello world via https', n: 42 });
  });

  test('an error status reaches the client from the trailers', async () => {
    const err = await new Promise<grpc.ServiceError>((resolve) => client.Say({ text: 'fail' }, new grpc.Metadata(), (e) => resolve(e!)));
    assert.equal(err.code, grpc.status.FAILED_PRECONDITION);
    assert.equal(err.details, 'asked to fail');
  });

  test('server streaming, client streaming and bidirectional streaming', async () => {
    const items: Msg[] = [];
    await new Promise<void>((resolve, reject) => {
      const s = client.Count({ n: 50 });
      s.on('data', (m: Msg) => items.push(m));
      s.on('error', reject);
      s.on('end', () => resolve());
    });
    assert.equal(items.length, 50);
    assert.equal(items[49]!.text, 'item 49');

    const sum = await new Promise<Msg>((resolve, reject) => {
      const w = client.Collect((err, m) => (err ? reject(err) : resolve(m!)));
      for (let i = 1; i <= 10; i++) w.write({ n: i });
      w.end();
    });
    assert.equal(sum.n, 55);

    const replies = await new Promise<string[]>((resolve, reject) => {
      const out: string[] = [];
      const d = client.Chat();
      d.on('data', (m: Msg) => {
        out.push(m.text);
        if (out.length < 3) d.write({ text: `m${out.length}` });
        else d.end();
      });
      d.on('error', reject);
      d.on('end', () => resolve(out));
      d.write({ text: 'm0' });
    });
    assert.deepEqual(replies, ['re: m0', 're: m1', 're: m2']);
  });
});
