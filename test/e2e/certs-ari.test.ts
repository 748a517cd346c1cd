/**
 * ACME Renewal Information (RFC 9773) against a real CA: Pebble 2.10 (scripts/build-pebble.sh),
 * the certificates controller in-process, DNS-01 through gangplank's embedded DNS server.
 * Certificates last 10 days, so Pebble's window (two days around the 2/3 point) is narrower
 * than the lifetime and an explicit renewBefore can fall before or after it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as x509 from '@peculiar/x509';
import * as acme from 'acme-client';
import { RENEW_ANNOTATION } from '../../src/controllers/certs/controller.js';
import { renewalTime as defaultRenewalTime, stableRng } from '../../src/controllers/certs/lifecycle.js';
import { AcmeTransport } from '../../src/controllers/certs/acme/transport.js';
import { pebbleGet } from '../harness/pebble.js';
import { waitFor } from '../harness/wait.js';
import { b64d, cond, type CertEnv } from '../unit/certs/controller-env.js';
import { acmeCertificateDoc, startAcmeCertEnv, type AcmePeers } from './certs-acme-env.js';

const VALIDITY_SEC = 10 * 86400;
const HOUR = 3600_000;

/** The ARI CertID, computed here from the DER fields (not with gangplank's helper). */
function certIdOf(pem: string): string {
  const cert = new x509.X509Certificate(pem);
  const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension);
  assert.ok(aki?.keyId, 'Pebble certificates carry an Authority Key Identifier');
  // The serial as its DER INTEGER content octets: a leading 0x00 when the high bit is set.
  let serial = Buffer.from(cert.serialNumber.length % 2 ? `0${cert.serialNumber}` : cert.serialNumber, 'hex');
  if (serial[0]! >= 0x80) serial = Buffer.concat([Buffer.from([0]), serial]);
  return `${Buffer.from(aki.keyId, 'hex').toString('base64url')}.${serial.toString('base64url')}`;
}

async function getJson(url: string, ca: string): Promise<{ status: number; body: unknown }> {
  const r = await pebbleGet(url, ca);
  return { status: r.status, body: r.body ? JSON.parse(r.body) : undefined };
}

describe('ACME Renewal Information with Pebble 2.10', { timeout: 120_000 }, () => {
  let peers: AcmePeers;
  let env: CertEnv;
  const docs = (annotations: Record<string, string> = {}) => [
    ...peers.issuerDocs(),
    { ...acmeCertificateDoc('ari', ['ari.example.test']), metadata: { name: 'ari', namespace: 'apps', annotations } },
    // renewBefore later than the CA's window (1 h before expiry): the window wins.
    acmeCertificateDoc('late', ['late.example.test'], { renewBefore: '1h' }),
    // renewBefore earlier than the window (9 days before expiry): the user asked for early renewal.
    acmeCertificateDoc('early', ['early.example.test'], { renewBefore: '216h' }),
  ];
  let stop: (() => Promise<void>) | undefined;
  before(async () => {
    ({ peers, env, stop } = await startAcmeCertEnv({ binary: 'ari', validityPeriodSec: VALIDITY_SEC }, (p) => {
      peers = p;
      return docs();
    }));
  });
  after(async () => {
    await stop?.();
  });

  const status = (name: string) => env.status('Certificate', 'apps', name);
  const certPem = (name: string) => b64d(env.secret('apps', `${name}-tls`)!.data!['tls.crt']);
  const leafPem = (name: string) => certPem(name).match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/)![0];
  const ready = (name: string, revision: number) =>
    waitFor(`Certificate ${name} Ready at revision ${revision}`, () => {
      const s = status(name);
      return cond(s, 'Ready')?.status === 'True' && s?.revision === revision && s.renewalTime ? s : undefined;
    }, { timeoutMs: 45_000, intervalMs: 100 });
  /** The CA's window for a certificate, asked of Pebble's renewalInfo resource directly. */
  const caWindow = async (pem: string) => {
    const dir = (await getJson(peers.pebble.directoryUrl, peers.pebble.caBundlePem)).body as { renewalInfo?: string };
    assert.ok(dir.renewalInfo, 'Pebble 2.10 advertises renewalInfo in its directory');
    const r = await getJson(`${dir.renewalInfo}/${certIdOf(pem)}`, peers.pebble.caBundlePem);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const w = (r.body as { suggestedWindow: { start: string; end: string } }).suggestedWindow;
    return { start: Date.parse(w.start), end: Date.parse(w.end) };
  };

  test("the status' renewal time lies in the CA's window; an earlier explicit renewBefore still wins", async (t) => {
    const [ari, late, early] = await Promise.all([ready('ari', 1), ready('late', 1), ready('early', 1)]);
    const lifetime = Date.parse(ari.notAfter!) - Date.parse(ari.notBefore!);
    assert.ok(Math.abs(lifetime - VALIDITY_SEC * 1000) <= 1000, `certificates last the configured 10 days (${lifetime} ms)`);

    // Status times are whole seconds (truncated); the window has milliseconds.
    const inWindow = (t: string, w: { start: number; end: number }) => Date.parse(t) >= Math.floor(w.start / 1000) * 1000 && Date.parse(t) <= w.end;
    for (const [name, st] of [['ari', ari], ['late', late]] as const) {
      const w = await caWindow(leafPem(name));
      assert.ok(w.end - w.start >= 47 * HOUR && w.end - w.start <= 49 * HOUR, `Pebble's window is two days wide: ${JSON.stringify(w)}`);
      assert.ok(inWindow(st.renewalTime!, w), `${name}: renewalTime ${st.renewalTime} lies in the CA's window ${new Date(w.start).toISOString()} .. ${new Date(w.end).toISOString()}`);
    }
    // Without ARI 'late' would renew 1 h before expiry: far outside the window.
    assert.ok(Date.parse(late.notAfter!) - Date.parse(late.renewalTime!) > 2 * 86400_000, `late: the CA's window beats renewBefore 1h (${late.renewalTime})`);
    // And 'ari' is not simply the 2/3-lifetime default, unless the random point in the window happens to fall on it.
    const leaf = new x509.X509Certificate(leafPem('ari'));
    const fallback = defaultRenewalTime({}, new Date(ari.notBefore!), new Date(ari.notAfter!), stableRng(`apps/ari/${leaf.serialNumber}`));
    if (Math.abs(fallback.getTime() - Date.parse(ari.renewalTime!)) > 60_000) assert.notEqual(ari.renewalTime, fallback.toISOString().replace('.000Z', 'Z'));
    else t.diagnostic(`renewal time ${ari.renewalTime} coincides with the 2/3 default this run`);

    const wEarly = await caWindow(leafPem('early'));
    assert.ok(Date.parse(early.renewalTime!) < wEarly.start, `early: renewBefore 216h (${early.renewalTime}) is earlier than the CA's window and wins`);
    const renewIn = Date.parse(early.notAfter!) - Date.parse(early.renewalTime!);
    assert.ok(renewIn >= 216 * HOUR && renewIn <= 216 * HOUR * 1.03, `early renews 216 h (+ jitter) before expiry, not ${renewIn} ms`);
  });

  test('a renewal names the certificate it replaces; the CA accepts it, records it and refuses a second replacement', async () => {
    const oldPem = leafPem('ari');
    const oldId = certIdOf(oldPem);
    const logBefore = peers.pebble.proc.output().length;
    env.setManifests(docs({ [RENEW_ANNOTATION]: 'ari-1' }));
    const st = await ready('ari', 2);
    const newPem = leafPem('ari');
    assert.notEqual(certIdOf(newPem), oldId, 'a new certificate was issued');

    // Pebble's log: it took the new order as a replacement and marked the old certificate replaced at finalize.
    const log = peers.pebble.proc.output().slice(logBefore);
    assert.match(log, /ARI: order "[^"]+" is a replacement of "[^"]+"/, log);
    assert.match(log, /Order \S+ has been marked as replaced in the DB/, log);

    // From the same account, a second order replacing the old certificate is refused (alreadyReplaced).
    const accountKey = b64d(env.secret('apps', 'pebble-account')!.data!['tls.key']);
    const client = new AcmeTransport(peers.pebble.directoryUrl, { caPem: peers.pebble.caBundlePem }).attach(new acme.Client({ directoryUrl: peers.pebble.directoryUrl, accountKey }));
    await client.createAccount({ onlyReturnExisting: true });
    await assert.rejects(
      client.createOrder({ identifiers: [{ type: 'dns', value: 'ari.example.test' }], replaces: oldId } as Parameters<typeof client.createOrder>[0]),
      /already has a replacement order/,
    );
    // The new certificate has its own window, and the status follows it.
    const w = await caWindow(newPem);
    assert.ok(Date.parse(st.renewalTime!) >= Math.floor(w.start / 1000) * 1000 && Date.parse(st.renewalTime!) <= w.end, `renewalTime ${st.renewalTime} in the new certificate's window`);
  });

  test('a CA that refuses the replacement (already replaced elsewhere) does not block the renewal', async () => {
    // Put back a certificate the CA already saw replaced: as if a renewal's result had been lost.
    const current = env.secret('apps', 'ari-tls')!;
    const oldSecret = structuredClone(current);
    env.setManifests(docs({ [RENEW_ANNOTATION]: 'ari-2' }));
    const st3 = await ready('ari', 3);
    await env.writer.applyObject(oldSecret);
    await waitFor('the restored certificate is in use', () => env.secret('apps', 'ari-tls')?.data?.['tls.crt'] === oldSecret.data!['tls.crt'], { timeoutMs: 10_000 });
    await env.certs.controller.idle();
    const logBefore = peers.pebble.proc.output().length;
    env.setManifests(docs({ [RENEW_ANNOTATION]: 'ari-3' }));
    const st = await waitFor('renewed despite alreadyReplaced', () => {
      const s = status('ari');
      return cond(s, 'Ready')?.status === 'True' && (s?.revision ?? 0) > st3.revision! && env.secret('apps', 'ari-tls')?.data?.['tls.crt'] !== oldSecret.data!['tls.crt'] ? s : undefined;
    }, { timeoutMs: 45_000, intervalMs: 100 });
    assert.equal(cond(st, 'Issuing')?.status ?? 'False', 'False');
    // The order that went through did not claim to replace anything (Pebble logs every replacement it accepts).
    assert.doesNotMatch(peers.pebble.proc.output().slice(logBefore), /is a replacement of/);
  });
});
