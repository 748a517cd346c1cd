import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCertificate } from '../../../src/api/certmanager.js';
import type { Secret } from '../../../src/api/types.js';
import { onFailed, onIssued, onIssuing, setCondition } from '../../../src/controllers/certs/status.js';
import { prepareRequest } from '../../../src/controllers/certs/request.js';
import { keyMatchesCertificate } from '../../../src/controllers/certs/keys.js';
import { SelfSignedIssuer } from '../../../src/controllers/certs/issuers/selfsigned.js';
import { buildTlsSecret } from '../../../src/controllers/certs/secret.js';
import { readCsr } from '../../../src/controllers/certs/x509.js';

const t = (s: string) => new Date(`2026-01-01T${s}Z`);

describe('Certificate status transitions', () => {
  test('issuing -> failed -> failed -> issued', () => {
    let s = onIssuing(undefined, 'DoesNotExist', 'Issuing certificate as Secret does not exist', t('00:00:00'), 1);
    assert.deepEqual(s.conditions, [{ type: 'Issuing', status: 'True', reason: 'DoesNotExist', message: 'Issuing certificate as Secret does not exist', lastTransitionTime: '2026-01-01T00:00:00Z', observedGeneration: 1 }]);
    s = onFailed(s, 'boom', t('00:01:00'), 1);
    assert.equal(s.failedIssuanceAttempts, 1);
    assert.equal(s.lastFailureTime, '2026-01-01T00:01:00Z');
    assert.equal(s.conditions!.find((c) => c.type === 'Issuing')!.status, 'False');
    assert.equal(s.conditions!.find((c) => c.type === 'Ready')!.status, 'False');
    s = onFailed(s, 'boom again', t('01:01:00'), 1);
    assert.equal(s.failedIssuanceAttempts, 2);
    assert.equal(s.conditions!.find((c) => c.type === 'Ready')!.lastTransitionTime, '2026-01-01T00:01:00Z', 'unchanged status keeps its transition time');
    s = onIssued(s, { notBefore: t('02:00:00'), notAfter: t('05:00:00'), renewalTime: t('04:00:00') }, t('02:00:05'), 1);
    assert.equal(s.failedIssuanceAttempts, undefined);
    assert.equal(s.lastFailureTime, undefined);
    assert.equal(s.revision, 1);
    assert.equal(s.notAfter, '2026-01-01T05:00:00Z');
    assert.equal(s.renewalTime, '2026-01-01T04:00:00Z');
    assert.deepEqual(s.conditions!.map((c) => [c.type, c.status, c.reason]), [['Ready', 'True', 'Ready']]);
    s = onIssued(s, { notBefore: t('04:00:00'), notAfter: t('07:00:00'), renewalTime: t('06:00:00') }, t('04:00:00'), 1);
    assert.equal(s.revision, 2);
  });
  test('a failed renewal leaves a valid certificate Ready', () => {
    const ready = setCondition(undefined, { type: 'Ready', status: 'True', reason: 'Ready', message: 'ok' }, t('00:00:00'));
    const s = onFailed({ conditions: ready }, 'CA down', t('01:00:00'), 1, true);
    assert.equal(s.conditions!.find((c) => c.type === 'Ready')!.status, 'True');
  });
});

describe('issuance request', () => {
  const cert = (rotationPolicy: 'Always' | 'Never', algorithm = 'ECDSA') => {
    const r = parseCertificate({ apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: { name: 'a', namespace: 'n' }, spec: { secretName: 'a-tls', issuerRef: { name: 's' }, dnsNames: ['a.test'], privateKey: { algorithm, rotationPolicy } } });
    assert.ok(r.ok);
    return r.object;
  };
  const existing = async (): Promise<Secret> => {
    const c = cert('Always');
    const req = await prepareRequest(c, undefined);
    const res = await new SelfSignedIssuer().issue(req);
    return buildTlsSecret({ certificate: c, certPem: res.certPem, keyPem: req.keyPem });
  };
  test('the CSR is signed by the key and names the DNS names', async () => {
    const req = await prepareRequest(cert('Always'), undefined);
    const csr = await readCsr(req.csrPem);
    assert.match(csr.toString('text'), /a\.test/);
    assert.equal(req.reusedKey, false);
  });
  test('rotationPolicy Never keeps a fitting key; Always and a changed algorithm do not', async () => {
    const s = await existing();
    const crt = Buffer.from(s.data!['tls.crt']!, 'base64').toString();
    const never = await prepareRequest(cert('Never'), s);
    assert.equal(never.reusedKey, true);
    assert.ok(keyMatchesCertificate(never.privateKey, crt));
    const always = await prepareRequest(cert('Always'), s);
    assert.equal(always.reusedKey, false);
    assert.ok(!keyMatchesCertificate(always.privateKey, crt));
    const changed = await prepareRequest(cert('Never', 'Ed25519'), s);
    assert.equal(changed.reusedKey, false);
  });
});
