/** The ingress-shim: which Certificates an Ingress asks for (table), the plan, and the controller. */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCertificate } from '../../../src/api/certmanager.js';
import type { TypedObject } from '../../../src/api/meta.js';
import type { Ingress } from '../../../src/api/types.js';
import { certificatesForIngress, SHIM_LABEL, shimPlan, type ShimDefaults } from '../../../src/controllers/certs/shim.js';
import { waitFor } from '../../harness/wait.js';
import { certificateDoc, cond, parseAll, startCertEnv, type CertEnv } from './controller-env.js';

const NO_DEFAULT: ShimDefaults = { issuerName: '', issuerKind: 'Issuer', issuerGroup: 'cert-manager.io' };

function ingressDoc(name: string, annotations: Record<string, string>, tls: unknown[] = [{ hosts: ['shop.example.com'], secretName: 'shop-tls' }], extra: Record<string, unknown> = {}) {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name, namespace: 'demo', uid: `uid-${name}`, annotations, ...extra },
    spec: { rules: [{ host: 'shop.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } }], tls },
  };
}
const ingress = (...a: Parameters<typeof ingressDoc>) => parseAll([ingressDoc(...a)])[0] as Ingress;

describe('certificatesForIngress (table)', () => {
  const cases: { name: string; annotations: Record<string, string>; tls?: unknown[]; defaults?: ShimDefaults; spec?: Record<string, unknown>; errors?: RegExp[]; count?: number }[] = [
    { name: 'no annotation: nothing', annotations: {}, count: 0 },
    { name: 'cluster-issuer', annotations: { 'cert-manager.io/cluster-issuer': 'le' }, spec: { issuerRef: { name: 'le', kind: 'ClusterIssuer', group: 'cert-manager.io' }, dnsNames: ['shop.example.com'], secretName: 'shop-tls' } },
    { name: 'issuer with kind and group', annotations: { 'cert-manager.io/issuer': 'x', 'cert-manager.io/issuer-kind': 'Issuer', 'cert-manager.io/issuer-group': 'cert-manager.io' }, spec: { issuerRef: { name: 'x', kind: 'Issuer', group: 'cert-manager.io' } } },
    { name: 'issuer defaults to kind Issuer', annotations: { 'cert-manager.io/issuer': 'x' }, spec: { issuerRef: { name: 'x', kind: 'Issuer', group: 'cert-manager.io' } } },
    { name: 'both issuer annotations: error', annotations: { 'cert-manager.io/issuer': 'x', 'cert-manager.io/cluster-issuer': 'y' }, errors: [/both set/], count: 0 },
    { name: 'tls-acme without a default issuer: error', annotations: { 'kubernetes.io/tls-acme': 'true' }, errors: [/--default-issuer-name/], count: 0 },
    { name: 'tls-acme "false": nothing', annotations: { 'kubernetes.io/tls-acme': 'false' }, count: 0 },
    { name: 'tls-acme with the default issuer', annotations: { 'kubernetes.io/tls-acme': 'true' }, defaults: { issuerName: 'le', issuerKind: 'ClusterIssuer', issuerGroup: 'cert-manager.io' }, spec: { issuerRef: { name: 'le', kind: 'ClusterIssuer', group: 'cert-manager.io' } } },
    {
      name: 'every field annotation',
      annotations: {
        'cert-manager.io/cluster-issuer': 'le', 'cert-manager.io/common-name': 'shop.example.com', 'cert-manager.io/duration': '720h', 'cert-manager.io/renew-before': '240h',
        'cert-manager.io/usages': 'digital signature, server auth', 'cert-manager.io/private-key-algorithm': 'ECDSA', 'cert-manager.io/private-key-size': '384',
        'cert-manager.io/private-key-encoding': 'PKCS8', 'cert-manager.io/private-key-rotation-policy': 'Never', 'cert-manager.io/email-sans': 'a@example.com,b@example.com',
        'cert-manager.io/subject-organizations': 'Acme, Inc', 'cert-manager.io/subject-countries': 'NL', 'cert-manager.io/subject-serialnumber': '42', 'cert-manager.io/revision-history-limit': '3',
      },
      spec: {
        commonName: 'shop.example.com', duration: 720 * 3_600_000, renewBefore: 240 * 3_600_000, usages: ['digital signature', 'server auth'],
        privateKey: { algorithm: 'ECDSA', size: 384, encoding: 'PKCS8', rotationPolicy: 'Never' }, emailAddresses: ['a@example.com', 'b@example.com'],
        subject: { organizations: ['Acme', 'Inc'], countries: ['NL'], serialNumber: '42' }, revisionHistoryLimit: 3,
      },
    },
    { name: 'renew-before-percentage', annotations: { 'cert-manager.io/cluster-issuer': 'le', 'cert-manager.io/renew-before-percentage': '25' }, spec: { renewBeforePercentage: 25 } },
    { name: 'bad duration names the annotation', annotations: { 'cert-manager.io/cluster-issuer': 'le', 'cert-manager.io/duration': '90d' }, errors: [/cert-manager\.io\/duration: spec\.duration: invalid duration "90d"/], count: 0 },
    { name: 'bad key algorithm names the annotation', annotations: { 'cert-manager.io/cluster-issuer': 'le', 'cert-manager.io/private-key-algorithm': 'DSA' }, errors: [/private-key-algorithm/], count: 0 },
    { name: 'non-integer key size', annotations: { 'cert-manager.io/cluster-issuer': 'le', 'cert-manager.io/private-key-size': 'big' }, errors: [/private-key-size must be an integer/], count: 0 },
    {
      name: 'one Certificate per tls entry; entries without secretName or hosts are reported',
      annotations: { 'cert-manager.io/cluster-issuer': 'le' },
      tls: [{ hosts: ['a.example.com', 'b.example.com'], secretName: 'ab' }, { hosts: ['c.example.com'] }, { secretName: 'nohosts' }, { hosts: ['*.d.example.com'], secretName: 'd' }],
      errors: [/tls\[1\] has no secretName/, /tls\[2\] \(secret nohosts\) has no hosts/],
      count: 2,
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const r = certificatesForIngress(ingress('web', c.annotations, c.tls), c.defaults ?? NO_DEFAULT);
      assert.equal(r.certificates.length, c.count ?? 1, JSON.stringify(r.errors));
      assert.equal(r.errors.length, c.errors?.length ?? 0, r.errors.join('\n'));
      c.errors?.forEach((re, i) => assert.match(r.errors[i]!, re));
      if (c.spec) {
        const parsed = parseCertificate(r.certificates[0]);
        assert.ok(parsed.ok);
        for (const [k, v] of Object.entries(c.spec)) assert.deepEqual((parsed.object.spec as unknown as Record<string, unknown>)[k], v, k);
      }
      for (const cert of r.certificates) {
        assert.equal(cert.metadata.labels[SHIM_LABEL], 'true');
        assert.deepEqual(cert.metadata.ownerReferences, [{ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', name: 'web', uid: 'uid-web', controller: true, blockOwnerDeletion: true }]);
      }
    });
  }
});

describe('shimPlan', () => {
  const le = { 'cert-manager.io/cluster-issuer': 'le' };
  const foreign = parseAll([{ ...certificateDoc('shop-tls', ['shop.example.com']), metadata: { name: 'shop-tls', namespace: 'demo' } }])[0]!;
  test('creates, leaves equal ones alone, deletes orphans, never touches foreign Certificates', () => {
    const ing = ingress('web', le);
    const first = shimPlan([ing], [], NO_DEFAULT);
    assert.deepEqual(first.apply.map((c) => c.metadata.name), ['shop-tls']);
    assert.deepEqual(first.delete, []);
    const made = first.apply[0] as unknown as TypedObject;
    assert.deepEqual(shimPlan([ing], [made], NO_DEFAULT), { apply: [], delete: [], errors: [] }, 'an equal Certificate is not rewritten');
    const changed = shimPlan([ingress('web', le, [{ hosts: ['shop.example.com', 'www.example.com'], secretName: 'shop-tls' }])], [made], NO_DEFAULT);
    assert.deepEqual(changed.apply.map((c) => c.spec.dnsNames), [['shop.example.com', 'www.example.com']]);
    assert.deepEqual(shimPlan([ingress('web', {})], [made], NO_DEFAULT).delete, [{ namespace: 'demo', name: 'shop-tls' }], 'annotation removed: deleted');
    assert.deepEqual(shimPlan([], [made], NO_DEFAULT).delete, [{ namespace: 'demo', name: 'shop-tls' }], 'Ingress deleted: deleted');

    const withForeign = shimPlan([ing], [foreign], NO_DEFAULT);
    assert.deepEqual(withForeign.apply, []);
    assert.deepEqual(withForeign.delete, []);
    assert.match(withForeign.errors[0]!.message, /not made by the ingress-shim; leaving it alone/);
    assert.deepEqual(shimPlan([], [foreign], NO_DEFAULT).delete, [], 'a foreign Certificate is never deleted');
  });
  test('two Ingresses asking for one secretName: the older wins', () => {
    const old = ingress('old', le, undefined, { creationTimestamp: '2020-01-01T00:00:00Z' });
    const young = ingress('young', le, undefined, { creationTimestamp: '2024-01-01T00:00:00Z' });
    const p = shimPlan([young, old], [], NO_DEFAULT);
    assert.deepEqual(p.apply.map((c) => c.metadata.ownerReferences[0]!.name), ['old']);
    assert.match(p.errors[0]!.message, /Ingress demo\/young: secretName shop-tls is already requested by Ingress demo\/old/);
  });
});

describe('ShimController with the certificates controller', { timeout: 60_000 }, () => {
  let env: CertEnv | undefined;
  after(async () => {
    await env?.destroy();
  });
  test('an annotated Ingress gets an issued Certificate; updated with the Ingress; deleted with the tls entry; foreign ones untouched', async () => {
    const issuer = { apiVersion: 'cert-manager.io/v1', kind: 'ClusterIssuer', metadata: { name: 'self' }, spec: { selfSigned: {} } };
    const mine = { 'cert-manager.io/cluster-issuer': 'self', 'cert-manager.io/private-key-algorithm': 'ECDSA' };
    const own = certificateDoc('own', ['own.example.com'], { issuer: { name: 'self', kind: 'ClusterIssuer' } });
    env = await startCertEnv({ manifests: [issuer, own, ingressDoc('web', mine)] });
    const e = env;
    const st = () => e.status('Certificate', 'demo', 'shop-tls');
    await waitFor('the shim Certificate to be issued', () => cond(st(), 'Ready')?.status === 'True', { timeoutMs: 20_000 });
    assert.ok(e.secret('demo', 'shop-tls'));
    const made = e.store.getObject<TypedObject>('Certificate', 'demo', 'shop-tls')!;
    assert.equal(made.metadata.labels?.[SHIM_LABEL], 'true');
    assert.ok(e.writer.recentEvents().some((ev) => ev.involved.kind === 'Ingress' && ev.reason === 'CreateCertificate'));

    e.setManifests([issuer, own, ingressDoc('web', mine, [{ hosts: ['shop.example.com', 'www.example.com'], secretName: 'shop-tls' }])]);
    await waitFor('re-issued with the new host', () => st()?.revision === 2, { timeoutMs: 20_000 });
    const row = e.certs.view().find((r) => r.name === 'shop-tls')!;
    assert.deepEqual(row.names, ['shop.example.com', 'www.example.com']);

    e.setManifests([issuer, own, ingressDoc('web', mine, [])]);
    await waitFor('the shim Certificate to be deleted', () => !e.store.getObject('Certificate', 'demo', 'shop-tls'));
    assert.ok(e.store.getObject('Certificate', 'demo', 'own'), 'the user\'s own Certificate stays');
    assert.ok(e.secret('demo', 'shop-tls'), 'the Secret stays (as with cert-manager)');
  });
});
