/**
 * Many ACME Issuers registering with one ACME server at the same moment (what a restart with
 * several Issuers does): every Issuer the CA refuses must report the CA's own reason, and every
 * Issuer it accepts must get its account. Real Pebble requiring external account binding.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AnyIssuer } from '../../src/api/certmanager.js';
import type { Secret } from '../../src/api/types.js';
import { FileAcmeStateStore } from '../../src/controllers/certs/acme/state.js';
import { AcmeIssuer } from '../../src/controllers/certs/issuers/acme.js';
import { IssuerError } from '../../src/controllers/certs/issuers/types.js';
import { startPebble, type Pebble } from '../harness/pebble.js';

const HMAC = randomBytes(32).toString('base64url');
let pebble: Pebble;
let dir: string;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gangplank-acme-race-'));
  // No validation happens here; the DNS server is never asked.
  pebble = await startPebble({ dnsServer: '127.0.0.1:1', eab: { 'kid-race': HMAC } });
});
after(async () => {
  await pebble?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const eabSecret: Secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'eab', namespace: 'apps' }, data: { secret: Buffer.from(HMAC).toString('base64') } };

function issuer(name: string, bound: boolean, server = pebble.directoryUrl): AcmeIssuer {
  const obj = {
    apiVersion: 'cert-manager.io/v1',
    kind: 'Issuer',
    metadata: { name, namespace: 'apps' },
    spec: {
      acme: {
        server,
        caBundle: Buffer.from(pebble.caBundlePem).toString('base64'),
        privateKeySecretRef: { name: `${name}-account` },
        ...(bound ? { externalAccountBinding: { keyID: 'kid-race', keySecretRef: { name: 'eab', key: 'secret' } } } : {}),
        solvers: [{ http01: { ingress: {} } }],
      },
    },
  } as unknown as AnyIssuer;
  return new AcmeIssuer({ issuer: obj, getSecret: (_ns, n) => (n === 'eab' ? eabSecret : undefined), state: new FileAcmeStateStore(join(dir, name)) });
}

test('concurrent registrations against one CA: each refusal carries the CA reason, each bound issuer registers', { timeout: 120_000 }, async () => {
  for (let round = 0; round < 5; round++) {
    const issuers = Array.from({ length: 8 }, (_, i) => ({ name: `r${round}-i${i}`, bound: i % 4 === 0 }));
    const results = await Promise.allSettled(issuers.map((i) => issuer(i.name, i.bound).setup()));
    results.forEach((r, i) => {
      const { name, bound } = issuers[i]!;
      if (bound) {
        assert.equal(r.status, 'fulfilled', `${name} (bound) registers: ${r.status === 'rejected' ? (r.reason as Error).message : ''}`);
        assert.match((r as PromiseFulfilledResult<{ accountUrl: string }>).value.accountUrl, /^https:\/\/127\.0\.0\.1:\d+\//);
      } else {
        assert.equal(r.status, 'rejected', `${name} (unbound) is refused`);
        const err = (r as PromiseRejectedResult).reason as Error;
        assert.ok(err instanceof IssuerError, `${name}: an IssuerError, got ${err}`);
        assert.equal(err.reason, 'ErrRegisterACMEAccount');
        // Pebble's own words: "External Account Binding is required ..." / "... 'externalAccountBinding' field".
        assert.match(err.message, /Issuer apps\/.* failed to register an ACME account with https:\/\/127\.0\.0\.1:\d+\/dir: .*[eE]xternal ?[aA]ccount ?[bB]inding/, `${name}: ${err.message}`);
      }
    });
  }
});

test('a CA that is not there: the error names the server and the connection failure, not an internal TypeError', { timeout: 30_000 }, async () => {
  // Port 1 on loopback: nothing listens, the connection is refused at once.
  const results = await Promise.allSettled([0, 1, 2].map((i) => issuer(`down-${i}`, false, 'https://127.0.0.1:1/dir').setup()));
  for (const r of results) {
    assert.equal(r.status, 'rejected');
    const err = (r as PromiseRejectedResult).reason as Error;
    assert.ok(err instanceof IssuerError, String(err));
    assert.doesNotMatch(err.message, /Cannot read properties/);
    assert.match(err.message, /https:\/\/127\.0\.0\.1:1\/dir.*ECONNREFUSED/, err.message);
  }
});
