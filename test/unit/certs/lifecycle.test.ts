import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCertificate, type Certificate, type CertificateStatus } from '../../../src/api/certmanager.js';
import type { Secret } from '../../../src/api/types.js';
import { SelfSignedIssuer } from '../../../src/controllers/certs/issuers/selfsigned.js';
import { encodePrivateKey, generatePrivateKey } from '../../../src/controllers/certs/keys.js';
import { backoffDelay, decide, renewalTime, renewBeforeMs, specFingerprint, stableRng, JITTER_MAX_MS } from '../../../src/controllers/certs/lifecycle.js';
import { buildTlsSecret } from '../../../src/controllers/certs/secret.js';
import { buildCsr } from '../../../src/controllers/certs/x509.js';

const H = 3_600_000;
const D = 24 * H;
const T0 = new Date('2026-01-01T00:00:00Z');
const at = (ms: number) => new Date(T0.getTime() + ms);

describe('renewal time', () => {
  const nb = T0;
  const na = at(90 * D);
  const cases: [string, { renewBefore?: number; renewBeforePercentage?: number }, Date, Date, Date][] = [
    ['default: a third of the lifetime before expiry (2/3 through)', {}, nb, na, at(60 * D)],
    ['renewBefore 30 days', { renewBefore: 30 * D }, nb, na, at(60 * D)],
    ['renewBefore 10 days', { renewBefore: 10 * D }, nb, na, at(80 * D)],
    ['renewBeforePercentage 25', { renewBeforePercentage: 25 }, nb, na, at(67.5 * D)],
    ['renewBefore longer than a shortened lifetime falls back to a third', { renewBefore: 30 * D }, nb, at(7 * D), at((7 * D * 2) / 3)],
    ['truncated to the second', {}, nb, at(1000 * 3 + 1), at(2000)],
  ];
  for (const [what, spec, from, to, want] of cases) test(what, () => assert.equal(renewalTime(spec, from, to).toISOString(), want.toISOString()));

  test('renewBeforeMs table', () => {
    assert.equal(renewBeforeMs({}, 90 * D), 30 * D);
    assert.equal(renewBeforeMs({ renewBefore: H }, 90 * D), H);
    assert.equal(renewBeforeMs({ renewBeforePercentage: 50 }, 90 * D), 45 * D);
  });

  test('jitter moves renewal earlier, never later, by at most 2% of the window capped at 30 min', () => {
    const base = renewalTime({}, nb, na, () => 0).getTime();
    const max = renewalTime({}, nb, na, () => 0.999999).getTime();
    assert.ok(max <= base);
    assert.ok(base - max <= JITTER_MAX_MS);
    assert.ok(base - max > JITTER_MAX_MS - 2000);
    // A short certificate: 2% of a 1h window is 72 s.
    const short = renewalTime({ renewBefore: H }, nb, at(3 * H), () => 1).getTime();
    assert.equal(at(2 * H).getTime() - short, 72_000);
  });

  test('the default jitter is stable per certificate', () => {
    assert.equal(stableRng('a/b/01')(), stableRng('a/b/01')());
    assert.notEqual(stableRng('a/b/01')(), stableRng('a/b/02')());
  });
});

describe('backoff', () => {
  const cases: [number, number][] = [
    [0, 0],
    [1, H],
    [2, 2 * H],
    [3, 4 * H],
    [6, 32 * H],
    [7, 32 * H],
    [1000, 32 * H],
  ];
  for (const [n, want] of cases) test(`${n} failures -> ${want / H}h`, () => assert.equal(backoffDelay(n), want));
  test('base and cap are settable', () => {
    assert.equal(backoffDelay(3, 1000, 3000), 3000);
    assert.equal(backoffDelay(2, 1000, 3000), 2000);
  });
});

function cert(spec: Record<string, unknown> = {}, meta: Record<string, unknown> = {}, status?: CertificateStatus): Certificate {
  const r = parseCertificate({
    apiVersion: 'cert-manager.io/v1',
    kind: 'Certificate',
    metadata: { name: 'web', namespace: 'apps', generation: 1, ...meta },
    spec: { secretName: 'web-tls', issuerRef: { name: 'ca' }, dnsNames: ['web.example.com'], privateKey: { algorithm: 'ECDSA' }, ...spec },
    ...(status ? { status } : {}),
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.object;
}

async function secretFor(c: Certificate, notBefore = T0, encoding = c.spec.privateKey.encoding): Promise<Secret> {
  const key = await generatePrivateKey(c.spec.privateKey);
  const res = await new SelfSignedIssuer().issue({ certificate: c, privateKey: key, csrPem: await buildCsr(c.spec, key), now: notBefore });
  return buildTlsSecret({ certificate: c, certPem: res.certPem, keyPem: encodePrivateKey(key, encoding) });
}

describe('decide', () => {
  let base: Certificate;
  let good: Secret;
  before(async () => {
    base = cert();
    good = await secretFor(base);
  });
  const rng = () => 0;

  test('up to date: wait until the renewal time, with status times', () => {
    const d = decide({ certificate: base, secret: good, issuerReady: true, now: at(D), rng });
    assert.equal(d.action, 'wait');
    if (d.action !== 'wait') return;
    assert.equal(d.reason, 'Renewal');
    assert.equal(d.until.toISOString(), at(60 * D).toISOString());
    assert.equal(d.times!.notAfter.toISOString(), at(90 * D).toISOString());
  });

  const issueCases: [string, () => Promise<{ c: Certificate; s?: Secret; now?: Date; status?: CertificateStatus }>, string][] = [
    ['no Secret', async () => ({ c: base }), 'DoesNotExist'],
    ['Secret without tls.key', async () => ({ c: base, s: { ...good, data: { 'tls.crt': good.data!['tls.crt']! } } }), 'MissingData'],
    ['Secret with a foreign key', async () => ({ c: base, s: { ...good, data: { ...good.data!, 'tls.key': (await secretFor(base)).data!['tls.key']! } } }), 'InvalidKeyPair'],
    ['renewal time reached', async () => ({ c: base, s: good, now: at(60 * D) }), 'Renewing'],
    ['expired', async () => ({ c: base, s: good, now: at(91 * D) }), 'Expired'],
    ['dnsNames changed', async () => ({ c: cert({ dnsNames: ['web.example.com', 'www.example.com'] }), s: good }), 'RequestChanged'],
    ['commonName added', async () => ({ c: cert({ commonName: 'web.example.com' }), s: good }), 'RequestChanged'],
    ['ipAddresses changed', async () => ({ c: cert({ ipAddresses: ['10.0.0.1'] }), s: good }), 'RequestChanged'],
    ['key algorithm changed', async () => ({ c: cert({ privateKey: { algorithm: 'RSA' } }), s: good }), 'SecretMismatch'],
    ['key size changed', async () => ({ c: cert({ privateKey: { algorithm: 'ECDSA', size: 384 } }), s: good }), 'SecretMismatch'],
    ['key encoding changed', async () => ({ c: cert({ privateKey: { algorithm: 'ECDSA', encoding: 'PKCS8' } }), s: good }), 'SecretMismatch'],
    ['issuer changed', async () => ({ c: cert({ issuerRef: { name: 'other' } }), s: good }), 'IncorrectIssuer'],
    ['issuer kind changed', async () => ({ c: cert({ issuerRef: { name: 'ca', kind: 'ClusterIssuer' } }), s: good }), 'IncorrectIssuer'],
    ['Issuing set True by hand', async () => ({ c: base, s: good, status: { conditions: [{ type: 'Issuing', status: 'True', reason: 'ManuallyTriggered' }] } }), 'ManuallyTriggered'],
  ];
  for (const [what, setup, reason] of issueCases) {
    test(`issue: ${what} -> ${reason}`, async () => {
      const { c, s, now, status } = await setup();
      const d = decide({ certificate: c, ...(s ? { secret: s } : {}), issuerReady: true, now: now ?? at(D), rng, ...(status ? { status } : {}) });
      assert.equal(d.action, 'issue', JSON.stringify(d));
      assert.equal(d.reason, reason);
    });
  }

  test('Ed25519 keys are PKCS#8 whatever the spec says: no endless re-issue', async () => {
    const c = cert({ privateKey: { algorithm: 'Ed25519', encoding: 'PKCS1' } });
    const s = await secretFor(c);
    assert.equal(decide({ certificate: c, secret: s, issuerReady: true, now: at(D), rng }).action, 'wait');
  });

  test('Issuing True bypasses backoff, but waits for a ready issuer', () => {
    const status: CertificateStatus = { failedIssuanceAttempts: 5, lastFailureTime: at(D).toISOString(), conditions: [{ type: 'Issuing', status: 'True', reason: 'ManuallyTriggered' }] };
    assert.equal(decide({ certificate: base, secret: good, issuerReady: true, now: at(D + 1000), status }).action, 'issue');
    assert.equal(decide({ certificate: base, secret: good, issuerReady: false, now: at(D + 1000), status }).action, 'blocked');
  });

  test('issuer not ready: blocked, with the trigger in the message', () => {
    const d = decide({ certificate: base, issuerReady: false, now: at(D) });
    assert.equal(d.action, 'blocked');
    assert.match(d.message, /does not exist.*not ready/);
  });

  test('an up-to-date certificate is not blocked by an issuer that is not ready', () => {
    assert.equal(decide({ certificate: base, secret: good, issuerReady: false, now: at(D), rng }).action, 'wait');
  });

  const failed = (n: number, lastFailure: Date, observedGeneration = 1): CertificateStatus => ({
    failedIssuanceAttempts: n,
    lastFailureTime: lastFailure.toISOString(),
    conditions: [{ type: 'Issuing', status: 'False', reason: 'Failed', observedGeneration }],
  });
  const backoffCases: [string, number, number, string, number?][] = [
    // [what, failures, ms since failure, expected action, expected wait until (ms after failure)]
    ['1 failure, 30 min ago: wait for 1h', 1, 30 * 60_000, 'wait', H],
    ['1 failure, 1h ago: issue', 1, H, 'issue'],
    ['3 failures, 3h ago: wait until 4h', 3, 3 * H, 'wait', 4 * H],
    ['3 failures, 4h ago: issue', 3, 4 * H, 'issue'],
    ['10 failures, 31h ago: capped at 32h', 10, 31 * H, 'wait', 32 * H],
  ];
  for (const [what, n, since, action, until] of backoffCases) {
    test(`backoff: ${what}`, () => {
      const lastFailure = at(D);
      const d = decide({ certificate: base, issuerReady: true, now: new Date(lastFailure.getTime() + since), status: failed(n, lastFailure) });
      assert.equal(d.action, action);
      if (d.action === 'wait' && until !== undefined) {
        assert.equal(d.reason, 'Backoff');
        assert.equal(d.until.getTime(), lastFailure.getTime() + until);
      }
    });
  }

  // The CA's Retry-After (rate limits) against the backoff: whichever is later.
  const retryCases: [string, number, number, number, string, number?][] = [
    // [what, failures, Retry-After (ms after failure), ms since failure, expected action, expected wait until (ms after failure)]
    ['Retry-After 3h beats a 1h backoff', 1, 3 * H, 2 * H, 'wait', 3 * H],
    ['Retry-After 3h has passed: issue', 1, 3 * H, 3 * H, 'issue'],
    ['Retry-After 10 min under a 4h backoff: the backoff', 3, 10 * 60_000, H, 'wait', 4 * H],
  ];
  for (const [what, n, retryAfter, since, action, until] of retryCases) {
    test(`backoff: ${what}`, () => {
      const lastFailure = at(D);
      const d = decide({ certificate: base, issuerReady: true, now: at(D + since), status: failed(n, lastFailure), retryNotBefore: at(D + retryAfter) });
      assert.equal(d.action, action);
      if (d.action === 'wait') {
        assert.equal(d.reason, 'Backoff');
        assert.equal(d.until.getTime(), at(D + until!).getTime());
        assert.equal(/Retry-After/.test(d.message), retryAfter > backoffDelay(n), d.message);
      }
    });
  }

  test('backoff is reset by a spec change (generation moved on)', () => {
    const c = cert({ dnsNames: ['new.example.com'] }, { generation: 2 });
    const d = decide({ certificate: c, issuerReady: true, now: at(D + 60_000), status: failed(3, at(D), 1) });
    assert.equal(d.action, 'issue');
  });

  test('backoff is reset by a spec change (fingerprint, for sources without generations)', () => {
    const c = cert({ dnsNames: ['new.example.com'] }, { generation: undefined });
    const status = failed(3, at(D));
    const same = decide({ certificate: c, issuerReady: true, now: at(D + 60_000), status, failedSpecFingerprint: specFingerprint(c) });
    assert.equal(same.action, 'wait');
    const changed = decide({ certificate: c, issuerReady: true, now: at(D + 60_000), status, failedSpecFingerprint: specFingerprint(base) });
    assert.equal(changed.action, 'issue');
  });

  test('backoff settings are injectable', () => {
    const d = decide({ certificate: base, issuerReady: true, now: at(D + 5_000), status: failed(2, at(D)), backoffBaseMs: 1000, backoffMaxMs: 60_000 });
    assert.equal(d.action, 'issue');
  });
});

test('ARI: the CA\'s renewal window wins over the default two-thirds point, is stable, and an earlier renewBefore still wins', async () => {
  const c = cert();
  const secret = await secretFor(c);
  const notAfter = T0.getTime() + 90 * D;
  const window = { start: new Date(notAfter - 10 * D), end: new Date(notAfter - 9 * D) };
  const now = at(5 * D);
  const a = decide({ certificate: c, secret, issuerReady: true, now, ariWindow: window });
  const b = decide({ certificate: c, secret, issuerReady: true, now: at(6 * D), ariWindow: window });
  const rt = a.times!.renewalTime.getTime();
  assert.ok(rt >= window.start.getTime() && rt <= window.end.getTime(), 'inside the window');
  assert.equal(b.times!.renewalTime.getTime(), rt, 'the same point on every decision');
  assert.equal(a.action, 'wait');
  const early = decide({ certificate: cert({ renewBefore: '720h' }), secret, issuerReady: true, now, ariWindow: window });
  const e = early.times!.renewalTime.getTime();
  assert.ok(e <= notAfter - 30 * D && e >= notAfter - 30 * D - JITTER_MAX_MS, 'renewBefore 30 days (with its jitter) is earlier than the window: it wins');
  const due = decide({ certificate: c, secret, issuerReady: true, now: new Date(window.end.getTime() + 1000), ariWindow: window });
  assert.equal(due.action, 'issue');
});
