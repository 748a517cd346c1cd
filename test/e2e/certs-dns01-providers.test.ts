/**
 * DNS-01 solver config -> provider (dns01-providers.ts) against real servers: an rfc2136 solver
 * against BIND 9 (zone found from the server's SOA answer, TSIG secret read from a Secret), and
 * a route53 solver against moto's Route 53 (credentials from Secrets, hosted zone by id).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { CreateHostedZoneCommand, Route53Client } from '@aws-sdk/client-route-53';
import { parseIssuer, type AnyIssuer } from '../../src/api/certmanager.js';
import type { Secret } from '../../src/api/types.js';
import { dnsProviderFor, propagationNameservers } from '../../src/controllers/certs/dns01-providers.js';
import { IssuerError } from '../../src/controllers/certs/issuers/types.js';
import { cleanupTxt, presentTxt } from '../../src/controllers/certs/solvers/dns01.js';
import { startBind, type Bind } from '../harness/bind.js';
import { startMoto, type Moto } from '../harness/moto.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

function issuer(kind: 'Issuer' | 'ClusterIssuer', dns01: Record<string, unknown>): AnyIssuer {
  const r = parseIssuer({
    apiVersion: 'cert-manager.io/v1',
    kind,
    metadata: { name: 'le', ...(kind === 'Issuer' ? { namespace: 'apps' } : {}) },
    spec: { acme: { server: 'https://127.0.0.1:1/dir', privateKeySecretRef: { name: 'acct' }, solvers: [{ dns01 }] } },
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.object;
}

function secrets(list: [string, string, Record<string, string>][]) {
  const m = new Map(list.map(([ns, name, data]) => [`${ns}/${name}`, { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: ns }, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])) } as Secret]));
  return (ns: string, name: string) => m.get(`${ns}/${name}`);
}

describe('rfc2136 solver against BIND 9', { timeout: 60_000 }, () => {
  let bind: Bind;
  before(async () => {
    bind = await startBind({ zones: ['example.test'], tsig: { name: 'acme-key', algorithm: 'hmac-sha256', secret: randomBytes(32) } });
  });
  after(async () => {
    await bind?.stop();
  });
  const rfc = (extra: Record<string, unknown> = {}) => ({ rfc2136: { nameserver: `127.0.0.1:${bind.port}`, tsigKeyName: 'acme-key', tsigAlgorithm: 'HMACSHA256', tsigSecretSecretRef: { name: 'tsig', key: 'secret' }, ...extra } });

  test('finds the zone from the server, writes and removes the TXT (Issuer: Secret from its namespace)', async () => {
    const iss = issuer('Issuer', rfc());
    const p = dnsProviderFor(iss.spec.acme!.solvers[0]!, iss, secrets([['apps', 'tsig', { secret: bind.tsig.secret.toString('base64') }]]));
    await presentTxt(p, '_acme-challenge.deep.sub.example.test', 'value-1');
    await presentTxt(p, '_acme-challenge.deep.sub.example.test', 'value-2');
    assert.deepEqual((await bind.dig('_acme-challenge.deep.sub.example.test', 'TXT')).sort(), ['"value-1"', '"value-2"']);
    await cleanupTxt(p, '_acme-challenge.deep.sub.example.test', 'value-1');
    assert.deepEqual(await bind.dig('_acme-challenge.deep.sub.example.test', 'TXT'), ['"value-2"']);
    await cleanupTxt(p, '_acme-challenge.deep.sub.example.test', 'value-2');
    assert.deepEqual(await bind.dig('_acme-challenge.deep.sub.example.test', 'TXT'), []);
    assert.deepEqual(propagationNameservers(iss, []), [`127.0.0.1:${bind.port}`], 'the self-check asks the server the solver updates');
    assert.deepEqual(propagationNameservers(iss, ['127.0.0.1:5300']), ['127.0.0.1:5300'], '--dns01-recursive-nameservers wins');
  });

  test('ClusterIssuer reads the TSIG Secret from the cluster-resource namespace; a wrong secret fails with the server\'s answer', async () => {
    const iss = issuer('ClusterIssuer', rfc());
    const wrong = dnsProviderFor(iss.spec.acme!.solvers[0]!, iss, secrets([['ops', 'tsig', { secret: randomBytes(32).toString('base64') }]]), 'ops');
    await assert.rejects(presentTxt(wrong, '_acme-challenge.x.example.test', 'v'), /BADSIG|NOTAUTH|REFUSED/);
    assert.throws(() => dnsProviderFor(iss.spec.acme!.solvers[0]!, iss, secrets([]), 'ops'), (err: unknown) => err instanceof IssuerError && /Secret ops\/tsig, which does not exist/.test(err.message));
  });

  test('configuration errors say what to change', () => {
    const md5 = issuer('Issuer', rfc({ tsigAlgorithm: undefined }));
    assert.throws(() => dnsProviderFor(md5.spec.acme!.solvers[0]!, md5, secrets([['apps', 'tsig', { secret: 'c2VjcmV0' }]])), /HMACMD5 \(the default when unset\) is not supported; set tsigAlgorithm to HMACSHA256/);
    const nokey = issuer('Issuer', rfc({ tsigSecretSecretRef: { name: 'tsig' } }));
    assert.throws(() => dnsProviderFor(nokey.spec.acme!.solvers[0]!, nokey, secrets([['apps', 'tsig', { a: 'x', b: 'y' }]])), /must set key \(Secret apps\/tsig holds a, b\)/);
  });
});

describe('route53 solver against moto', { timeout: 60_000 }, () => {
  let moto: Moto;
  let zoneId: string;
  before(async () => {
    moto = await startMoto();
    process.env.AWS_ENDPOINT_URL = moto.endpoint;
    const client = new Route53Client(moto.clientConfig);
    const z = await client.send(new CreateHostedZoneCommand({ Name: 'r53.example.test', CallerReference: `ref-${Date.now()}` }));
    await client.send(new CreateHostedZoneCommand({ Name: 'other.example.test', CallerReference: `ref2-${Date.now()}` }));
    zoneId = z.HostedZone!.Id!.replace('/hostedzone/', '');
  });
  after(async () => {
    delete process.env.AWS_ENDPOINT_URL;
    await moto?.stop();
  });

  test('credentials from Secrets, hosted zone by id: TXT written and removed', async () => {
    const iss = issuer('Issuer', { route53: { region: 'us-east-1', hostedZoneID: zoneId, accessKeyIDSecretRef: { name: 'aws', key: 'id' }, secretAccessKeySecretRef: { name: 'aws', key: 'secret' } } });
    const p = dnsProviderFor(iss.spec.acme!.solvers[0]!, iss, secrets([['apps', 'aws', { id: 'testing', secret: 'testing' }]]));
    assert.deepEqual(await p.zones(), ['r53.example.test'], 'only the named hosted zone');
    await presentTxt(p, '_acme-challenge.www.r53.example.test', 'token-value');
    const txt = (await p.records('r53.example.test')).filter((r) => r.type === 'TXT');
    assert.deepEqual(txt.map((r) => [r.name, r.targets]), [['_acme-challenge.www.r53.example.test', ['token-value']]]);
    await cleanupTxt(p, '_acme-challenge.www.r53.example.test', 'token-value');
    assert.deepEqual((await p.records('r53.example.test')).filter((r) => r.type === 'TXT'), []);
  });

  test('half a credential pair, or role, is refused with a clear message', () => {
    const half = issuer('Issuer', { route53: { accessKeyID: 'AKIA' } });
    assert.throws(() => dnsProviderFor(half.spec.acme!.solvers[0]!, half, secrets([])), /needs both an access key id .* and secretAccessKeySecretRef, or neither/);
    const role = issuer('Issuer', { route53: { role: 'arn:aws:iam::1:role/x' } });
    assert.throws(() => dnsProviderFor(role.spec.acme!.solvers[0]!, role, secrets([])), /role \(assume role\) is not supported/);
  });
});
