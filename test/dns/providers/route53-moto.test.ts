import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  ChangeResourceRecordSetsCommand,
  CreateHostedZoneCommand,
  ListResourceRecordSetsCommand,
  Route53Client,
  type RRType,
} from '@aws-sdk/client-route-53';
import { Route53Provider } from '../../../src/controllers/dns/providers/route53.js';
import { txtQuote } from '../../../src/controllers/dns/providers/route53-records.js';
import { emptyChangeSet, type DnsRecord } from '../../../src/controllers/dns/types.js';
import { startMoto, type Moto } from '../../harness/moto.js';
import { providerContract } from './contract.js';

let zoneSeq = 0;

async function backend(moto: Moto, opts: { batchChangeSize?: number } = {}) {
  const client = new Route53Client(moto.clientConfig);
  const zone = `contract${++zoneSeq}-${process.pid}.example.com`;
  const hz = await client.send(new CreateHostedZoneCommand({ Name: zone, CallerReference: `${zone}-${Date.now()}` }));
  const zoneId = hz.HostedZone!.Id!;
  const provider = new Route53Provider({ client, batchChangeSize: opts.batchChangeSize ?? 4 });
  return { client, zone, zoneId, provider };
}

let moto: Moto;
before(async () => {
  moto = await startMoto();
});
after(async () => {
  await moto?.stop();
});

providerContract('aws (Route 53 on moto)', async () => {
  const { client, zone, zoneId, provider } = await backend(moto);
  return {
    provider,
    zone,
    batchChangeSize: 4,
    // moto accepts a CREATE of an existing record set (real Route 53 answers InvalidChangeBatch,
    // which the provider maps to a non-retryable 'conflict'); moto refuses a DELETE of a missing one.
    createExisting: 'accepted',
    deleteMissing: 'rejects',
    teardown: async () => client.destroy(),
    addForeignRecord: async (r: DnsRecord) => {
      await client.send(
        new ChangeResourceRecordSetsCommand({
          HostedZoneId: zoneId,
          ChangeBatch: {
            Changes: [
              {
                Action: 'CREATE',
                ResourceRecordSet: {
                  Name: r.name,
                  Type: r.type as RRType,
                  TTL: r.ttl,
                  ResourceRecords: r.targets.map((v) => ({ Value: r.type === 'TXT' ? txtQuote(v) : v })),
                },
              },
            ],
          },
        }),
      );
    },
  };
});

describe('aws provider, Route 53 specifics (moto)', () => {
  it('writes an ELB target as an A alias with the region\'s canonical zone and lists it back as an alias CNAME', async () => {
    const { client, zone, zoneId, provider } = await backend(moto);
    const nlb = 'k8s-web-abc123.elb.us-east-1.amazonaws.com';
    const www: DnsRecord = { name: `www.${zone}`, type: 'CNAME', ttl: 300, targets: [nlb] };
    const dual: DnsRecord = { name: `dual.${zone}`, type: 'CNAME', ttl: 0, targets: [`dualstack.web-1.eu-west-1.elb.amazonaws.com`], providerSpecific: { alias: 'true', 'aws/dualstack': 'true', 'aws/evaluate-target-health': 'false' } };
    await provider.applyChanges({ ...emptyChangeSet(), create: [www, dual] });
    const raw = await client.send(new ListResourceRecordSetsCommand({ HostedZoneId: zoneId }));
    const rs = raw.ResourceRecordSets!.filter((s) => s.AliasTarget).map((s) => [s.Name, s.Type, s.AliasTarget!.HostedZoneId, s.AliasTarget!.EvaluateTargetHealth]);
    assert.deepEqual(rs.sort(), [
      [`dual.${zone}.`, 'A', 'Z32O12XQLNTSW2', false],
      [`dual.${zone}.`, 'AAAA', 'Z32O12XQLNTSW2', false],
      [`www.${zone}.`, 'A', 'Z26RNL4JYFTOTI', true],
    ]);
    const listed = (await provider.records(zone)).filter((r) => r.providerSpecific?.alias === 'true');
    assert.deepEqual(
      listed.map((r) => [r.name, r.type, r.targets, r.providerSpecific?.['aws/dualstack'] ?? 'false']).sort(),
      [
        [`dual.${zone}`, 'CNAME', ['dualstack.web-1.eu-west-1.elb.amazonaws.com'], 'true'],
        [`www.${zone}`, 'CNAME', [nlb], 'false'],
      ],
    );
  });

  it('writes weighted records with their set identifiers and lists them back', async () => {
    const { zone, provider } = await backend(moto);
    const mk = (id: string, ip: string, weight: string): DnsRecord => ({ name: `api.${zone}`, type: 'A', ttl: 60, targets: [ip], setIdentifier: id, providerSpecific: { 'aws/weight': weight } });
    await provider.applyChanges({ ...emptyChangeSet(), create: [mk('blue', '192.0.2.1', '90'), mk('green', '192.0.2.2', '10')] });
    const got = (await provider.records(zone)).filter((r) => r.name === `api.${zone}`);
    assert.deepEqual(
      got.map((r) => [r.setIdentifier, r.targets[0], r.providerSpecific?.['aws/weight']]).sort(),
      [['blue', '192.0.2.1', '90'], ['green', '192.0.2.2', '10']],
    );
  });

  it('lists zones with many record sets across pages, wildcards unescaped', async () => {
    const { zone, provider } = await backend(moto, { batchChangeSize: 1000 });
    const records: DnsRecord[] = [];
    for (let i = 0; i < 320; i++) records.push({ name: `h${i}.${zone}`, type: 'A', ttl: 300, targets: ['192.0.2.1'] });
    records.push({ name: `*.${zone}`, type: 'A', ttl: 300, targets: ['192.0.2.2'] });
    await provider.applyChanges({ ...emptyChangeSet(), create: records });
    const names = new Set((await provider.records(zone)).map((r) => r.name));
    for (const r of records) assert.ok(names.has(r.name), `${r.name} listed`);
  });

  it('builds its client from the standard AWS environment (AWS_ENDPOINT_URL, AWS_REGION, credentials)', async () => {
    const { zone } = await backend(moto);
    const keys = ['AWS_ENDPOINT_URL', 'AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'] as const;
    const saved = keys.map((k) => process.env[k]);
    Object.assign(process.env, { AWS_ENDPOINT_URL: moto.endpoint, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' });
    try {
      const fromEnv = new Route53Provider({ zoneType: 'public' });
      assert.ok((await fromEnv.zones()).includes(zone));
      assert.deepEqual(await new Route53Provider({ zoneType: 'private' }).zones(), []);
    } finally {
      keys.forEach((k, i) => (saved[i] === undefined ? delete process.env[k] : (process.env[k] = saved[i])));
    }
  });

  it('reuses the hosted-zone list for zonesCacheDurationMs', async () => {
    const { client } = await backend(moto);
    const cached = new Route53Provider({ client, zonesCacheDurationMs: 60_000 });
    const fresh = new Route53Provider({ client });
    await cached.zones();
    const late = `late-${process.pid}.example.org`;
    await client.send(new CreateHostedZoneCommand({ Name: late, CallerReference: `${late}-${Date.now()}` }));
    assert.equal((await cached.zones()).includes(late), false, 'cached list is reused');
    assert.equal((await fresh.zones()).includes(late), true, 'uncached provider sees the new zone');
  });

  it('refuses a record outside every hosted zone with a clear, non-retryable error', async () => {
    const { provider } = await backend(moto);
    await assert.rejects(
      provider.applyChanges({ ...emptyChangeSet(), create: [{ name: 'www.not-hosted.test', type: 'A', ttl: 60, targets: ['192.0.2.1'] }] }),
      (err: Error & { code?: string; retryable?: boolean }) => err.code === 'no-zone' && err.retryable === false && /www\.not-hosted\.test/.test(err.message),
    );
  });
});
