/**
 * A CA that leaves the subject common name out (Pebble 2.10, like Let's Encrypt's newer profiles)
 * must not make gangplank re-issue forever: the Certificate asks for a commonName, the issued
 * certificate has none, and that is accepted because the name is among the SANs. Likewise the
 * subject organization, which ACME CAs never certify. Pebble 2.10 from scripts/build-pebble.sh,
 * the certificates controller in-process, DNS-01 through gangplank's embedded DNS server.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { certNames } from '../../src/controllers/certs/secret.js';
import { waitFor } from '../harness/wait.js';
import { b64d, cond, type CertEnv } from '../unit/certs/controller-env.js';
import { acmeCertificateDoc, startAcmeCertEnv, type AcmePeers } from './certs-acme-env.js';

describe('an ACME CA that omits the common name (Pebble 2.10)', { timeout: 120_000 }, () => {
  let peers: AcmePeers;
  let env: CertEnv;
  let stop: (() => Promise<void>) | undefined;
  before(async () => {
    ({ peers, env, stop } = await startAcmeCertEnv({ binary: 'ari' }, (p) => [
      ...p.issuerDocs(),
      acmeCertificateDoc('cn', ['cn.example.test', 'www.cn.example.test'], { commonName: 'cn.example.test' }),
      acmeCertificateDoc('org', ['org.example.test'], { commonName: 'org.example.test', subject: { organizations: ['Example Org'] } }),
    ]));
  });
  after(async () => {
    await stop?.();
  });

  const status = (name: string) => env.status('Certificate', 'apps', name);
  const leafPem = (name: string) => b64d(env.secret('apps', `${name}-tls`)!.data!['tls.crt']).match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/)![0];
  /** Issued events for a Certificate (the writer folds repeats into a count). */
  const issued = (name: string) =>
    env.writer.recentEvents().filter((e) => e.involved.kind === 'Certificate' && e.involved.name === name && e.reason === 'Issued').reduce((n, e) => n + e.count, 0);

  /**
   * Runs one more controller pass over the Certificate and waits until the controller is idle.
   * A re-issue loop never lets it go idle, so a second issuance ends the wait at once.
   */
  async function pass(name: string): Promise<void> {
    let idle = false;
    env.certs.controller.enqueue(`Certificate/apps/${name}`);
    void env.certs.controller.idle().then(() => (idle = true));
    const outcome = await waitFor(`a controller pass over ${name} to finish`, () => ((status(name)?.revision ?? 0) > 1 || issued(name) > 1 ? 'reissued' : idle ? 'idle' : undefined), {
      timeoutMs: 20_000,
      intervalMs: 50,
    });
    assert.equal(outcome, 'idle', `Certificate ${name} was issued again: revision ${status(name)?.revision}, ${issued(name)} Issued events, Issuing: ${JSON.stringify(cond(status(name), 'Issuing'))}`);
  }

  for (const name of ['cn', 'org']) {
    test(`${name}: Ready once, and further passes do not issue again`, async () => {
      const st = await waitFor(`Certificate ${name} Ready`, () => {
        const s = status(name);
        return cond(s, 'Ready')?.status === 'True' && s?.revision ? s : undefined;
      }, { timeoutMs: 45_000, intervalMs: 100 });
      await waitFor(`the Issued event of ${name}`, () => issued(name) > 0);

      // The premise: the CA dropped what the spec asked for in the subject, and kept the names as SANs.
      const n = certNames(leafPem(name));
      assert.equal(n.commonName, '', `Pebble 2.10 issues without a subject CN (got ${JSON.stringify(n.commonName)})`);
      assert.ok(n.dnsNames.includes(`${name}.example.test`), `the spec's commonName is a SAN: ${n.dnsNames.join(', ')}`);
      if (name === 'org') assert.deepEqual(n.organizations, [], 'Pebble does not certify the subject organization');

      for (let i = 0; i < 3; i++) await pass(name);
      const after = status(name)!;
      assert.equal(after.revision, 1, 'issued exactly once');
      assert.equal(issued(name), 1, 'one Issued event');
      assert.equal(cond(after, 'Ready')?.status, 'True');
      assert.equal(cond(after, 'Issuing')?.status ?? 'False', 'False');
      assert.equal(after.notAfter, st.notAfter, 'the same certificate is still in use');
    });
  }
});
