import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Rfc2136Provider, loadRfc2136Secret } from '../../../src/controllers/dns/providers/rfc2136.js';
import { DnsProviderError, emptyChangeSet, type DnsRecord } from '../../../src/controllers/dns/types.js';
import { startBind, type Bind } from '../../harness/bind.js';
import { providerContract } from './contract.js';

const ZONE = 'gangplank.test';
const SUB = 'sub.gangplank.test';
const tsig = { name: 'gangplank-key', algorithm: 'hmac-sha256', secret: randomBytes(32) };

let bind: Bind;
before(async () => {
  bind = await startBind({ zones: [ZONE, SUB], tsig });
});
after(async () => {
  await bind?.stop();
});

function provider(over: Partial<ConstructorParameters<typeof Rfc2136Provider>[0]> = {}): Rfc2136Provider {
  return new Rfc2136Provider({ host: bind.host, port: bind.port, zones: [ZONE, SUB], tsig, tsigAxfr: true, batchChangeSize: 4, ...over });
}

/** nsupdate's presentation form for one value. */
function nsValue(type: string, v: string): string {
  if (type !== 'TXT') return v;
  const chunks = v.match(/[\s\S]{1,255}/g) ?? [''];
  return chunks.map((c) => `"${c.replace(/["\\]/g, (m) => '\\' + m)}"`).join(' ');
}

providerContract('rfc2136 (BIND 9)', async () => ({
  provider: provider(),
  zone: ZONE,
  batchChangeSize: 4,
  createExisting: 'rejects',
  deleteMissing: 'rejects',
  teardown: async () => {},
  addForeignRecord: async (r: DnsRecord) => bind.nsupdate(r.targets.map((t) => `update add ${r.name} ${r.ttl} ${r.type} ${nsValue(r.type, t)}`)),
}));

describe('rfc2136 provider against BIND 9', () => {
  it('puts a record into the longest matching zone', async () => {
    const p = provider();
    await p.applyChanges({ ...emptyChangeSet(), create: [{ name: `deep.${SUB}`, type: 'A', ttl: 300, targets: ['192.0.2.50'] }] });
    assert.deepEqual((await p.records(SUB)).find((r) => r.name === `deep.${SUB}`)?.targets, ['192.0.2.50']);
    assert.deepEqual(await bind.dig(`deep.${SUB}`, 'A'), ['192.0.2.50']);
  });

  it('lists a zone whose transfer spans many TSIG-signed messages', async () => {
    const p = provider({ batchChangeSize: 50 });
    const big: DnsRecord[] = [];
    for (let i = 0; i < 400; i++) big.push({ name: `big${i}.${SUB}`, type: 'TXT', ttl: 300, targets: [`${i}-`.padEnd(400, 'z')] });
    await p.applyChanges({ ...emptyChangeSet(), create: big });
    const got = new Map((await p.records(SUB)).map((r) => [r.name, r.targets]));
    for (const r of big) assert.deepEqual(got.get(r.name), r.targets, r.name);
  });

  it('raises TTLs to --rfc2136-min-ttl', async () => {
    const p = provider({ minTtl: 600 });
    await p.applyChanges({ ...emptyChangeSet(), create: [{ name: `minttl.${ZONE}`, type: 'A', ttl: 30, targets: ['192.0.2.51'] }] });
    assert.equal((await p.records(ZONE)).find((r) => r.name === `minttl.${ZONE}`)?.ttl, 600);
  });

  it('a wrong TSIG secret fails with a DnsProviderError naming BADSIG and the secret flag', async () => {
    const p = provider({ tsig: { ...tsig, secret: randomBytes(32) } });
    await assert.rejects(
      p.applyChanges({ ...emptyChangeSet(), create: [{ name: `badsig.${ZONE}`, type: 'A', ttl: 300, targets: ['192.0.2.52'] }] }),
      (err: unknown) => {
        assert.ok(err instanceof DnsProviderError);
        assert.match(err.message, /BADSIG/);
        assert.match(err.message, /rfc2136-tsig-secret-file/);
        return true;
      },
    );
    assert.deepEqual(await bind.dig(`badsig.${ZONE}`, 'A'), []);
  });

  it('an unknown key name fails with BADKEY', async () => {
    const p = provider({ tsig: { ...tsig, name: 'nobody' } });
    await assert.rejects(p.applyChanges({ ...emptyChangeSet(), create: [{ name: `badkey.${ZONE}`, type: 'A', ttl: 300, targets: ['192.0.2.53'] }] }), /BADKEY/);
  });

  it('an unsigned AXFR refused by allow-transfer says how to fix it', async () => {
    const p = provider({ tsigAxfr: false });
    await assert.rejects(p.records(ZONE), (err: unknown) => err instanceof DnsProviderError && err.code === 'refused' && /rfc2136-tsig-axfr/.test(err.message));
  });

  it('a server that does not answer gives a retryable timeout', async () => {
    const socks: Socket[] = [];
    const silent = createServer((s) => socks.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    try {
      const p = new Rfc2136Provider({ host: '127.0.0.1', port, zones: [ZONE], tsig, timeoutMs: 300 });
      await assert.rejects(
        p.applyChanges({ ...emptyChangeSet(), create: [{ name: `t.${ZONE}`, type: 'A', ttl: 1, targets: ['192.0.2.1'] }] }),
        (err: unknown) => err instanceof DnsProviderError && err.code === 'timeout' && err.retryable,
      );
    } finally {
      for (const s of socks) s.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });
});

describe('loadRfc2136Secret', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gangplank-secret-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const secret = Buffer.from('0123456789abcdef0123456789abcdef');
  const cases: { name: string; src: () => Parameters<typeof loadRfc2136Secret>[0]; want?: Buffer; error?: RegExp }[] = [
    { name: 'raw base64 file with newline', src: () => file('raw', secret.toString('base64') + '\n'), want: secret },
    { name: 'BIND key statement file', src: () => file('bind', `key "k" {\n algorithm hmac-sha256;\n secret "${secret.toString('base64')}";\n};\n`), want: secret },
    { name: 'environment variable', src: () => ({ env: { EXTERNAL_DNS_RFC2136_TSIG_SECRET: secret.toString('base64') } }), want: secret },
    { name: 'file wins over env', src: () => ({ ...file('wins', secret.toString('base64')), env: { EXTERNAL_DNS_RFC2136_TSIG_SECRET: 'AAAA' } }), want: secret },
    { name: 'nothing given', src: () => ({ env: {} }), error: /rfc2136-tsig-secret-file or EXTERNAL_DNS_RFC2136_TSIG_SECRET/ },
    { name: 'missing file', src: () => ({ file: join(dir, 'absent'), env: {} }), error: /cannot read the TSIG secret/ },
    { name: 'not base64', src: () => file('junk', 'not base64!'), error: /not base64/ },
  ];
  function file(name: string, text: string) {
    const p = join(dir, name);
    writeFileSync(p, text);
    return { file: p, env: {} };
  }
  for (const c of cases) {
    it(c.name, () => {
      if (c.error) assert.throws(() => loadRfc2136Secret(c.src()), c.error);
      else assert.deepEqual(loadRfc2136Secret(c.src()), c.want);
    });
  }
});
