/**
 * Black-box: Ingresses in a manifests directory are published in DNS — by the embedded
 * authoritative server and through RFC 2136 to BIND 9 — checked with dig and nsupdate.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startBind, type Bind } from '../harness/bind.js';
import { startGangplank, tempDir, type Gangplank } from '../harness/gangplank.js';
import { ingress, writeManifest } from '../harness/manifests.js';
import { freePort } from '../harness/net.js';
import { requireBinary } from '../harness/proc.js';
import { waitFor } from '../harness/wait.js';

const run = promisify(execFile);
const DIG = requireBinary('/usr/bin/dig', 'apt-get install -y bind9-dnsutils');
const NSUPDATE = requireBinary('/usr/bin/nsupdate', 'apt-get install -y bind9-dnsutils');

async function dig(port: number, name: string, type: string): Promise<string[]> {
  const { stdout } = await run(DIG, ['@127.0.0.1', '-p', String(port), '+short', '+tries=1', '+time=2', name, type]);
  return stdout.split('\n').map((l) => l.trim()).filter(Boolean).sort();
}

async function nsupdate(port: number, keyArg: string, lines: string[]): Promise<void> {
  const script = [`server 127.0.0.1 ${port}`, ...lines, 'send', ''].join('\n');
  await new Promise<void>((resolve, reject) => {
    const p = execFile(NSUPDATE, ['-y', keyArg], (err, _o, stderr) => (err ? reject(new Error(`nsupdate: ${stderr || err.message}`)) : resolve()));
    p.stdin!.end(script);
  });
}

const ZONE = 'example.test';
const ADDR = '192.0.2.10';

describe('embedded DNS server publishes Ingress hosts', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let g: Gangplank;
  let dnsPort = 0;
  const secret = randomBytes(32).toString('base64');
  const keyArg = `hmac-sha256:gp-key:${secret}`;

  before(async () => {
    dir = await tempDir();
    dnsPort = await freePort({ udp: true });
    const keyFile = join(dir.path, 'tsig.secret');
    await writeFile(keyFile, secret + '\n', { mode: 0o600 });
    const manifests = join(dir.path, 'manifests');
    await writeManifest(manifests, 'base.yaml', [ingress('base', [{ host: `base.${ZONE}`, paths: [['/', 'Prefix', 'web']] }])]);
    g = await startGangplank(manifests, ['--dns-port', String(dnsPort), '--dns-zone', ZONE, '--dns-tsig-key', `gp-key:hmac-sha256:${keyFile}`, '--publish-address', ADDR, '--interval', '1h']);
  });
  after(async () => {
    await g?.stop();
    await dir?.remove();
  });

  test('an Ingress host answers with the published address, with its ownership TXT beside it', async () => {
    await waitFor('base A record', async () => (await dig(dnsPort, `base.${ZONE}`, 'A')).join() === ADDR);
    const txt = await dig(dnsPort, `a-base.${ZONE}`, 'TXT');
    assert.deepEqual(txt, ['"heritage=external-dns,external-dns/owner=default,external-dns/resource=ingress/default/base"']);
  });

  test('a new Ingress is published within one second; deleting it removes the record and its TXT', async () => {
    const manifests = join(dir.path, 'manifests');
    const t0 = Date.now();
    await writeManifest(manifests, 'new.yaml', [ingress('fresh', [{ host: `fresh.${ZONE}`, paths: [['/', 'Prefix', 'web']] }])]);
    await waitFor('fresh A record', async () => (await dig(dnsPort, `fresh.${ZONE}`, 'A')).join() === ADDR, { timeoutMs: 1000, intervalMs: 25 });
    assert.ok(Date.now() - t0 <= 1000, `took ${Date.now() - t0} ms`);
    await rm(join(manifests, 'new.yaml'));
    await waitFor('fresh removed', async () => (await dig(dnsPort, `fresh.${ZONE}`, 'A')).length === 0 && (await dig(dnsPort, `a-fresh.${ZONE}`, 'TXT')).length === 0, { timeoutMs: 2000 });
  });

  test('a record made by hand is never touched; ExternalDNS records are adopted with our owner id and left alone with another', async () => {
    await nsupdate(dnsPort, keyArg, [
      `update add manual.${ZONE} 300 A 198.51.100.1`,
      `update add adopt.${ZONE} 300 A 198.51.100.2`,
      `update add a-adopt.${ZONE} 300 TXT "heritage=external-dns,external-dns/owner=default,external-dns/resource=ingress/default/adopt"`,
      `update add foreign.${ZONE} 300 A 198.51.100.3`,
      `update add a-foreign.${ZONE} 300 TXT "heritage=external-dns,external-dns/owner=someone-else,external-dns/resource=ingress/default/foreign"`,
    ]);
    const manifests = join(dir.path, 'manifests');
    await writeManifest(manifests, 'claims.yaml', [
      ingress('manual', [{ host: `manual.${ZONE}`, paths: [['/', 'Prefix', 'web']] }]),
      ingress('adopt', [{ host: `adopt.${ZONE}`, paths: [['/', 'Prefix', 'web']] }]),
      ingress('foreign', [{ host: `foreign.${ZONE}`, paths: [['/', 'Prefix', 'web']] }]),
    ]);
    await waitFor('adopted record updated', async () => (await dig(dnsPort, `adopt.${ZONE}`, 'A')).join() === ADDR);
    const view = await g.admin<{ skipped: { name: string; reason: string }[] }>('/api/dns');
    assert.ok(view.skipped.some((s) => s.name === `manual.${ZONE}` && /not owned/.test(s.reason)), JSON.stringify(view.skipped));
    assert.ok(view.skipped.some((s) => s.name === `foreign.${ZONE}` && /owned by someone-else/.test(s.reason)), JSON.stringify(view.skipped));
    assert.deepEqual(await dig(dnsPort, `manual.${ZONE}`, 'A'), ['198.51.100.1']);
    assert.deepEqual(await dig(dnsPort, `foreign.${ZONE}`, 'A'), ['198.51.100.3']);
    // Removing the claims deletes only what we own.
    await rm(join(manifests, 'claims.yaml'));
    await waitFor('adopted record deleted', async () => (await dig(dnsPort, `adopt.${ZONE}`, 'A')).length === 0);
    assert.deepEqual(await dig(dnsPort, `manual.${ZONE}`, 'A'), ['198.51.100.1']);
    assert.deepEqual(await dig(dnsPort, `foreign.${ZONE}`, 'A'), ['198.51.100.3']);
  });

  test('unsigned and badly signed updates are refused', async () => {
    await assert.rejects(nsupdate(dnsPort, `hmac-sha256:gp-key:${randomBytes(32).toString('base64')}`, [`update add evil.${ZONE} 60 A 203.0.113.1`]), /BADSIG|NOTAUTH|failed/i);
    assert.deepEqual(await dig(dnsPort, `evil.${ZONE}`, 'A'), []);
  });
});

describe('RFC 2136 provider publishes to BIND 9', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let g: Gangplank;
  let bind: Bind;

  before(async () => {
    dir = await tempDir();
    const secret = randomBytes(32);
    bind = await startBind({ zones: [ZONE], tsig: { name: 'gp-key', algorithm: 'hmac-sha256', secret } });
    const secretFile = join(dir.path, 'tsig.secret');
    await writeFile(secretFile, secret.toString('base64'), { mode: 0o600 });
    const manifests = join(dir.path, 'manifests');
    await writeManifest(manifests, 'ing.yaml', [ingress('web', [{ host: `www.${ZONE}`, paths: [['/', 'Prefix', 'web']] }])]);
    g = await startGangplank(manifests, [
      '--provider', 'rfc2136',
      '--rfc2136-host', '127.0.0.1',
      '--rfc2136-port', String(bind.port),
      '--rfc2136-zone', ZONE,
      '--rfc2136-tsig-keyname', 'gp-key',
      '--rfc2136-tsig-secret-file', secretFile,
      '--rfc2136-tsig-axfr', 'true',
      '--publish-address', ADDR,
      '--interval', '1h',
    ]);
  });
  after(async () => {
    await g?.stop();
    await bind?.stop();
    await dir?.remove();
  });

  test('the Ingress host is in BIND within one second of start, and leaves with the Ingress', async () => {
    await waitFor('www in BIND', async () => (await bind.dig(`www.${ZONE}`, 'A')).join() === ADDR, { timeoutMs: 3000 });
    assert.equal((await bind.dig(`a-www.${ZONE}`, 'TXT')).length, 1);
    await bind.nsupdate([`update add handmade.${ZONE} 300 A 198.51.100.9`]);
    const manifests = join(dir.path, 'manifests');
    await writeManifest(manifests, 'ing.yaml', [ingress('web', [{ host: `api.${ZONE}`, paths: [['/', 'Prefix', 'web']] }])]);
    await waitFor('www replaced by api', async () => (await bind.dig(`api.${ZONE}`, 'A')).join() === ADDR && (await bind.dig(`www.${ZONE}`, 'A')).length === 0, { timeoutMs: 2000 });
    assert.deepEqual(await bind.dig(`handmade.${ZONE}`, 'A'), ['198.51.100.9']);
  });
});
