/**
 * gangplank with cert-manager's own CRDs installed instead of ours (deploy/crds/): a real API
 * server, cert-manager's six CRDs (fetched by scripts/fetch-cert-manager-crds.sh) applied over
 * ours as a user switching would, and `gangplank run --kubeconfig` against it.
 *
 * Their schemas, unlike ours, spell out every status field and prune what they do not know, and
 * the API server validates status writes against them. So each field gangplank writes is checked
 * in what the API server stored, as well as the behaviour certs.test.ts checks with our CRDs.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KEY_USAGES, registerCertManagerKinds, type CertificateStatus } from '../../src/api/certmanager.js';
import { formatErrors, parseObject } from '../../src/api/validate.js';
import { KubeSource } from '../../src/sources/kube.js';
import { Store } from '../../src/store/store.js';
import { KubeWriter } from '../../src/writers/kube.js';
import { silentLogger } from '../../src/runtime/logger.js';
import { useKube, type KubeEnv } from '../harness/kube.js';
import { startKubeGangplank, type KubeGangplank } from '../harness/kube-gangplank.js';
import { startPebble } from '../harness/pebble.js';
import { CERT_MANAGER_CRDS, certManagerCrdsDir, certManagerVersion, installCertManagerCrds, readCrd, type CrdDocument, type JsonSchema } from '../harness/kube/cert-manager-crds.js';
import { applyIngressClassAndWebService, applyObjects } from '../harness/kube/fixtures.js';
import { waitFor } from '../harness/wait.js';

const OURS = fileURLToPath(new URL('../../deploy/crds/', import.meta.url));
/** Our CRD file and cert-manager's, per kind gangplank reads. */
const PAIRS = [
  { kind: 'Certificate', ours: 'certificates.cert-manager.io.yaml', crd: 'certificates.cert-manager.io' },
  { kind: 'Issuer', ours: 'issuers.cert-manager.io.yaml', crd: 'issuers.cert-manager.io' },
  { kind: 'ClusterIssuer', ours: 'clusterissuers.cert-manager.io.yaml', crd: 'clusterissuers.cert-manager.io' },
];
const MANAGER = 'crd-installer';
const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

const kube = useKube({ controllerManager: false });
let g: KubeGangplank | undefined;
/** kubectl's verdict on each manifest of sampleManifests() while our CRDs were installed. */
const underOurs = new Map<string, { code: number | null; stderr: string }>();

/**
 * Manifests using every field gangplank reads from Certificates, Issuers and ClusterIssuers (see
 * src/api/certmanager.ts). Valid for gangplank and under our CRDs; the test checks theirs.
 */
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec: Record<string, unknown>;
}

function sampleManifests(): Manifest[] {
  const ref = (name: string, key?: string) => ({ name, ...(key ? { key } : {}) });
  return [
    {
      apiVersion: 'cert-manager.io/v1',
      kind: 'Certificate',
      metadata: { name: 'sample-all-fields', namespace: 'default' },
      spec: {
        secretName: 'sample-tls',
        issuerRef: { name: 'sample-acme', kind: 'Issuer', group: 'cert-manager.io' },
        commonName: 'sample.example.test',
        dnsNames: ['sample.example.test', '*.sample.example.test'],
        ipAddresses: ['192.0.2.1', '2001:db8::1'],
        uris: ['spiffe://example.test/sample'],
        emailAddresses: ['ops@example.test'],
        duration: '2160h',
        renewBefore: '360h0m0s',
        privateKey: { algorithm: 'ECDSA', size: 384, encoding: 'PKCS8', rotationPolicy: 'Never' },
        usages: [...KEY_USAGES],
        isCA: false,
        subject: {
          organizations: ['Example'],
          countries: ['NL'],
          organizationalUnits: ['Ops'],
          localities: ['Amsterdam'],
          provinces: ['Noord-Holland'],
          streetAddresses: ['Dam 1'],
          postalCodes: ['1012 JS'],
          serialNumber: '42',
        },
        secretTemplate: { labels: { team: 'ops' }, annotations: { 'example.test/owner': 'ops' } },
        revisionHistoryLimit: 3,
        encodeUsagesInRequest: true,
      },
    },
    {
      apiVersion: 'cert-manager.io/v1',
      kind: 'Certificate',
      metadata: { name: 'sample-percentage', namespace: 'default' },
      spec: { secretName: 'sample-percentage-tls', issuerRef: { name: 'sample-ca', kind: 'ClusterIssuer' }, dnsNames: ['p.example.test'], renewBeforePercentage: 25, privateKey: { algorithm: 'RSA', size: 3072, encoding: 'PKCS1', rotationPolicy: 'Always' } },
    },
    {
      apiVersion: 'cert-manager.io/v1',
      kind: 'Issuer',
      metadata: { name: 'sample-acme', namespace: 'default' },
      spec: {
        acme: {
          server: 'https://127.0.0.1:14000/dir',
          email: 'ops@example.test',
          privateKeySecretRef: ref('sample-acme-account', 'tls.key'),
          caBundle: Buffer.from('-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n').toString('base64'),
          externalAccountBinding: { keyID: 'kid-1', keySecretRef: ref('sample-eab', 'secret'), keyAlgorithm: 'HS256' },
          preferredChain: 'Example Root',
          disableAccountKeyGeneration: false,
          enableDurationFeature: true,
          solvers: [
            { selector: { dnsNames: ['a.example.test'], dnsZones: ['example.test'], matchLabels: { tier: 'web' } }, http01: { ingress: { ingressClassName: 'gangplank', serviceType: 'ClusterIP' } } },
            { http01: { ingress: { class: 'gangplank' } } },
            { http01: { ingress: { name: 'shop' } } },
            { dns01: { cnameStrategy: 'Follow', rfc2136: { nameserver: '127.0.0.1:5353', tsigKeyName: 'gangplank', tsigAlgorithm: 'HMACSHA256', tsigSecretSecretRef: ref('sample-tsig', 'secret') } } },
            {
              dns01: {
                cnameStrategy: 'None',
                route53: { region: 'eu-west-1', hostedZoneID: 'Z123', accessKeyID: 'AKIDEXAMPLE', accessKeyIDSecretRef: ref('sample-aws', 'id'), secretAccessKeySecretRef: ref('sample-aws', 'secret'), role: 'arn:aws:iam::123456789012:role/dns' },
              },
            },
          ],
        },
      },
    },
    {
      apiVersion: 'cert-manager.io/v1',
      kind: 'ClusterIssuer',
      metadata: { name: 'sample-acme-insecure' },
      spec: { acme: { server: 'https://127.0.0.1:14000/dir', skipTLSVerify: true, privateKeySecretRef: ref('sample-acme-account'), solvers: [{ http01: { ingress: {} } }] } },
    },
    {
      apiVersion: 'cert-manager.io/v1',
      kind: 'ClusterIssuer',
      metadata: { name: 'sample-ca' },
      spec: { ca: { secretName: 'sample-ca', crlDistributionPoints: ['http://crl.example.test/ca.crl'], ocspServers: ['http://ocsp.example.test'] } },
    },
    { apiVersion: 'cert-manager.io/v1', kind: 'Issuer', metadata: { name: 'sample-selfsigned', namespace: 'default' }, spec: { selfSigned: { crlDistributionPoints: ['http://crl.example.test/self.crl'] } } },
  ];
}

/** Server-side dry run with strict field validation: an unknown field is an error, not a silent prune. */
async function dryRun(env: KubeEnv, manifest: object) {
  return env.kubectl(['apply', '--server-side', '--dry-run=server', '--validate=strict', '--field-manager=gangplank-test', '-o', 'json', '-f', '-'], JSON.stringify(manifest));
}

before(async () => {
  registerCertManagerKinds();
  const theirsDir = certManagerCrdsDir(); // throws early, with the fetch command, when they are missing
  const env = await kube.ready;
  await env.kubectlOk(['create', 'namespace', 'gangplank']);
  await applyIngressClassAndWebService(env);
  // Ours first, as a cluster that ran gangplank's CRDs has them; then cert-manager's over them.
  await env.kubectlOk(['apply', '--server-side', `--field-manager=${MANAGER}`, '-f', OURS]);
  await env.kubectlOk(['wait', '--for=condition=Established', '--timeout=60s', ...PAIRS.map((p) => `crd/${p.crd}`)]);
  for (const m of sampleManifests()) underOurs.set(m.metadata.name, await dryRun(env, m));
  await installCertManagerCrds(env, MANAGER);
  console.error(`cert-manager-crds: installed cert-manager ${certManagerVersion} CRDs from ${theirsDir}`);
  g = await startKubeGangplank(env.kubeconfig, ['--issuance-backoff-base', '1s', '--issuance-backoff-max', '5s']);
}, { timeout: 5 * 60_000 });

after(async () => {
  await g?.stop();
});

// ---------------------------------------------------------------------------------------------
// The CRDs themselves

test('the API server serves cert-manager\'s CRDs exactly, none of ours left over', async () => {
  const dir = certManagerCrdsDir();
  for (const [name, file] of Object.entries(CERT_MANAGER_CRDS)) {
    const stored = JSON.parse(await kube().kubectlOk(['get', 'crd', name, '-o', 'json'])) as CrdDocument;
    const theirs = readCrd(join(dir, file));
    assert.ok(stored.metadata.annotations?.['controller-gen.kubebuilder.io/version'], `${name}: carries cert-manager's controller-gen annotation`);
    assert.deepEqual(stored.spec.names, theirs.spec.names, `${name}: names`);
    assert.equal(stored.spec.versions.length, theirs.spec.versions.length, `${name}: versions`);
    for (const [i, v] of theirs.spec.versions.entries()) {
      assert.deepEqual(stored.spec.versions[i]!.schema, v.schema, `${name} ${v.name}: the stored schema is cert-manager's, field for field`);
      assert.deepEqual(stored.spec.versions[i]!.subresources, v.subresources, `${name} ${v.name}: subresources`);
    }
  }
});

/** Every property path of a schema, with its type, format and enum. */
function schemaPaths(s: JsonSchema, path = '', out = new Map<string, JsonSchema>()): Map<string, JsonSchema> {
  out.set(path || '(root)', s);
  for (const [k, v] of Object.entries(s.properties ?? {})) schemaPaths(v, `${path}.${k}`, out);
  if (s.items) schemaPaths(s.items, `${path}[]`, out);
  if (s.additionalProperties && typeof s.additionalProperties === 'object') schemaPaths(s.additionalProperties, `${path}{}`, out);
  return out;
}

/** The printer columns as kubectl shows them; cert-manager writes `@.type == "Ready"` where we write `@.type=="Ready"`. */
/**
 * Fields where our CRD allows any value and theirs an enum, each with why gangplank still never
 * sends or accepts a value theirs refuses (checked in the test too).
 */
const NARROWER_IN_THEIRS: Record<string, Record<string, string>> = {
  Certificate: { '.spec.usages[]': 'gangplank\'s parser accepts only KEY_USAGES, all of which their enum lists' },
};

const columns = (c: CrdDocument) => (c.spec.versions.find((v) => v.name === 'v1')?.additionalPrinterColumns ?? []).map((x) => `${x.name} ${x.jsonPath.replace(/\s+/g, '')} ${x.priority ?? 0}`);

for (const pair of PAIRS) {
  test(`${pair.kind}: every field of our CRD is in cert-manager's, with the same type and no value ours allows that theirs refuses`, () => {
    const ours = readCrd(join(OURS, pair.ours));
    const theirs = readCrd(join(certManagerCrdsDir(), CERT_MANAGER_CRDS[pair.crd]!));
    assert.equal(ours.metadata.name, theirs.metadata.name);
    assert.equal(ours.spec.group, theirs.spec.group);
    assert.equal(ours.spec.scope, theirs.spec.scope);
    assert.equal(ours.spec.names.kind, theirs.spec.names.kind);
    assert.equal(ours.spec.names.plural, theirs.spec.names.plural);
    assert.deepEqual(columns(ours), columns(theirs), 'the same printer columns');
    const ov = ours.spec.versions.find((v) => v.name === 'v1')!;
    const tv = theirs.spec.versions.find((v) => v.name === 'v1')!;
    assert.ok(tv.served && tv.storage, 'v1 is their served storage version');
    assert.deepEqual(Object.keys(ov.subresources ?? {}), Object.keys(tv.subresources ?? {}), 'the same subresources (status)');
    const op = schemaPaths(ov.schema.openAPIV3Schema);
    const tp = schemaPaths(tv.schema.openAPIV3Schema);
    const problems: string[] = [];
    for (const [path, o] of op) {
      const t = tp.get(path);
      if (!t) problems.push(`${path}: not in theirs`);
      else {
        if (o.type !== t.type) problems.push(`${path}: type ${o.type} in ours, ${t.type} in theirs`);
        if (o.format && o.format !== t.format) problems.push(`${path}: format ${o.format} in ours, ${t.format} in theirs`);
        const refused = t.enum && !NARROWER_IN_THEIRS[pair.kind]?.[path] ? (o.enum ?? ['(any value)']).filter((x) => !t.enum!.includes(x)) : [];
        if (refused.length) problems.push(`${path}: ours allows ${JSON.stringify(refused)}, theirs allows only ${JSON.stringify(t.enum)}`);
      }
    }
    if (pair.kind === 'Certificate') {
      const usages = tp.get('.spec.usages[]')?.enum ?? [];
      const notTheirs = KEY_USAGES.filter((u) => !usages.includes(u));
      if (notTheirs.length) problems.push(`.spec.usages[]: gangplank accepts ${JSON.stringify(notTheirs)}, theirs refuses them`);
    }
    assert.deepEqual(problems, []);
  });
}

test('manifests using every field gangplank reads are valid for gangplank and under our CRDs, and cert-manager\'s accept them unchanged', async () => {
  for (const m of sampleManifests()) {
    const name = m.metadata.name;
    const parsed = parseObject(m);
    assert.ok(parsed.ok, `${name}: gangplank parses it: ${parsed.ok ? '' : formatErrors(parsed.errors)}`);
    const ours = underOurs.get(name)!;
    assert.equal(ours.code, 0, `${name}: accepted under our CRDs: ${ours.stderr}`);
    const r = await dryRun(kube(), m);
    assert.equal(r.code, 0, `${name}: accepted under cert-manager's CRDs with strict field validation: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /unknown field|Warning/i, `${name}: no field dropped`);
    const stored = JSON.parse(r.stdout) as { spec: unknown };
    assert.deepEqual(stored.spec, m.spec, `${name}: the spec comes back as written (nothing pruned or defaulted)`);
  }
});

// ---------------------------------------------------------------------------------------------
// gangplank run against them

interface CertificateJson {
  metadata: { generation: number; managedFields?: { manager: string; operation: string; subresource?: string; fieldsV1?: Record<string, unknown> }[] };
  status?: CertificateStatus;
}

interface SecretJson {
  type: string;
  metadata: { annotations?: Record<string, string> };
  data: Record<string, string>;
}

async function getJson<T>(args: string[]): Promise<T | undefined> {
  const r = await kube().kubectl(['get', ...args, '-o', 'json', '--show-managed-fields']);
  return r.code === 0 ? (JSON.parse(r.stdout) as T) : undefined;
}

const condition = (o: CertificateJson | undefined, type: string) => o?.status?.conditions?.find((c) => c.type === type);

async function readyCertificate(name: string, namespace = 'default'): Promise<CertificateJson> {
  return waitFor(`Certificate ${namespace}/${name} Ready=True`, async () => {
    const c = await getJson<CertificateJson>(['certificate', name, '-n', namespace]);
    return condition(c, 'Ready')?.status === 'True' ? c : undefined;
  }, { timeoutMs: 30_000, intervalMs: 200 });
}

/** The fields of status the API server recorded as written by gangplank through the status subresource. */
function statusFieldsByGangplank(c: CertificateJson): string[] {
  const entry = c.metadata.managedFields?.find((f) => f.manager === 'gangplank' && f.subresource === 'status');
  assert.ok(entry, `a managedFields entry of manager gangplank on the status subresource: ${JSON.stringify(c.metadata.managedFields?.map((f) => [f.manager, f.operation, f.subresource]))}`);
  assert.equal(entry.operation, 'Apply');
  return Object.keys((entry.fieldsV1?.['f:status'] ?? {}) as Record<string, unknown>).sort();
}

/** Asserts what onIssued writes is stored, in the formats their schema declares. */
function assertIssuedStatus(c: CertificateJson, what: string, leaf: X509Certificate): void {
  const st = c.status!;
  const ready = condition(c, 'Ready')!;
  assert.deepEqual(Object.keys(ready).sort(), ['lastTransitionTime', 'message', 'observedGeneration', 'reason', 'status', 'type'], `${what}: every field of the Ready condition is kept`);
  assert.equal(ready.reason, 'Ready');
  assert.equal(ready.observedGeneration, c.metadata.generation, `${what}: observedGeneration names the generation it is about`);
  assert.match(ready.lastTransitionTime!, TIMESTAMP);
  assert.equal(condition(c, 'Issuing'), undefined, `${what}: Issuing is removed once issued`);
  for (const f of ['notBefore', 'notAfter', 'renewalTime'] as const) assert.match(st[f] ?? '(missing)', TIMESTAMP, `${what}: status.${f}`);
  assert.equal(Date.parse(st.notAfter!), Date.parse(leaf.validTo), `${what}: status.notAfter is the certificate's`);
  assert.equal(Date.parse(st.notBefore!), Date.parse(leaf.validFrom), `${what}: status.notBefore is the certificate's`);
  assert.ok(Date.parse(st.renewalTime!) > Date.parse(st.notBefore!) && Date.parse(st.renewalTime!) < Date.parse(st.notAfter!), `${what}: renewalTime lies within the validity`);
  assert.equal(st.revision, 1, `${what}: status.revision`);
  assert.deepEqual(statusFieldsByGangplank(c), ['f:conditions', 'f:notAfter', 'f:notBefore', 'f:renewalTime', 'f:revision'], `${what}: the status fields gangplank owns`);
}

async function secretOf(name: string, namespace = 'default'): Promise<SecretJson> {
  const s = await getJson<SecretJson>(['secret', name, '-n', namespace]);
  assert.ok(s, `Secret ${namespace}/${name} exists`);
  return s;
}

const leafOf = (s: SecretJson) => new X509Certificate(Buffer.from(s.data['tls.crt']!, 'base64'));

test('selfSigned ClusterIssuer -> CA Certificate -> CA Issuer -> leaf Certificate: Ready, with every status field stored', async () => {
  const env = kube();
  await applyObjects(env, [
    { apiVersion: 'cert-manager.io/v1', kind: 'ClusterIssuer', metadata: { name: 'selfsigned' }, spec: { selfSigned: {} } },
    {
      apiVersion: 'cert-manager.io/v1',
      kind: 'Certificate',
      metadata: { name: 'root', namespace: 'default' },
      spec: { isCA: true, commonName: 'gangplank test root', secretName: 'root-ca', privateKey: { algorithm: 'ECDSA', size: 256 }, issuerRef: { name: 'selfsigned', kind: 'ClusterIssuer' } },
    },
    { apiVersion: 'cert-manager.io/v1', kind: 'Issuer', metadata: { name: 'ca', namespace: 'default' }, spec: { ca: { secretName: 'root-ca' } } },
    {
      apiVersion: 'cert-manager.io/v1',
      kind: 'Certificate',
      metadata: { name: 'web', namespace: 'default' },
      spec: { secretName: 'web-tls', commonName: 'web.example.test', dnsNames: ['web.example.test'], privateKey: { algorithm: 'ECDSA', size: 256 }, issuerRef: { name: 'ca', kind: 'Issuer' } },
    },
  ]);
  const web = await readyCertificate('web');
  const root = await readyCertificate('root');

  const rootSecret = await secretOf('root-ca');
  const webSecret = await secretOf('web-tls');
  const ca = leafOf(rootSecret);
  const leaf = leafOf(webSecret);
  assertIssuedStatus(root, 'Certificate root', ca);
  assertIssuedStatus(web, 'Certificate web', leaf);

  assert.equal(webSecret.type, 'kubernetes.io/tls');
  assert.deepEqual(Object.keys(webSecret.data).sort(), ['ca.crt', 'tls.crt', 'tls.key']);
  const a = webSecret.metadata.annotations ?? {};
  assert.equal(a['cert-manager.io/certificate-name'], 'web');
  assert.equal(a['cert-manager.io/issuer-name'], 'ca');
  assert.equal(a['cert-manager.io/issuer-kind'], 'Issuer');
  assert.equal(a['cert-manager.io/issuer-group'], 'cert-manager.io');
  assert.equal(a['cert-manager.io/common-name'], 'web.example.test');
  assert.equal(a['cert-manager.io/alt-names'], 'web.example.test');
  assert.equal(rootSecret.metadata.annotations?.['cert-manager.io/issuer-kind'], 'ClusterIssuer');
  assert.ok(ca.ca, 'root-ca holds a CA certificate');
  assert.ok(leaf.verify(ca.publicKey), 'web-tls is signed by the root the CA Issuer holds');
  assert.match(leaf.subjectAltName ?? '', /DNS:web\.example\.test/);

  // Issuer statuses: Ready, with the generation, and nothing but the fields their schema has.
  for (const [kind, name] of [['clusterissuer', 'selfsigned'], ['issuer', 'ca']] as const) {
    const iss = await waitFor(`${kind} ${name} Ready=True`, async () => {
      const o = await getJson<CertificateJson>([kind, name, ...(kind === 'issuer' ? ['-n', 'default'] : [])]);
      return condition(o, 'Ready')?.status === 'True' ? o : undefined;
    }, { timeoutMs: 10_000, intervalMs: 200 });
    const ready = condition(iss, 'Ready')!;
    assert.equal(ready.observedGeneration, iss.metadata.generation, `${kind} ${name}: observedGeneration`);
    assert.match(ready.lastTransitionTime!, TIMESTAMP);
    assert.ok(ready.reason, `${kind} ${name}: a reason`);
    assert.deepEqual(statusFieldsByGangplank(iss), ['f:conditions'], `${kind} ${name}: status written through the status subresource`);
  }
});

test('kubectl shows cert-manager\'s printer columns for what gangplank wrote', async () => {
  const env = kube();
  assert.match(await env.kubectlOk(['get', 'certificate', 'web']), /^NAME\s+READY\s+SECRET\s+AGE\nweb\s+True\s+web-tls\s+\S+\n$/);
  assert.match(await env.kubectlOk(['get', 'certificate', 'web', '-o', 'wide']), /^NAME\s+READY\s+SECRET\s+ISSUER\s+STATUS\s+AGE\nweb\s+True\s+web-tls\s+ca\s+Certificate is up to date and has not expired\s+\S+\n$/);
  assert.match(await env.kubectlOk(['get', 'issuer', 'ca', '-o', 'wide']), /^NAME\s+READY\s+STATUS\s+AGE\nca\s+True\s+\S.*\s+\S+\n$/);
  assert.match(await env.kubectlOk(['get', 'clusterissuer', 'selfsigned']), /^NAME\s+READY\s+AGE\nselfsigned\s+True\s+\S+\n$/);
});

test('the ingress-shim makes a Certificate for an annotated Ingress, accepted by their schema and issued', async () => {
  const env = kube();
  await applyObjects(env, [
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'shop', namespace: 'default', annotations: { 'cert-manager.io/issuer': 'ca' } },
      spec: {
        ingressClassName: 'gangplank',
        tls: [{ hosts: ['shop.example.test'], secretName: 'shop-tls' }],
        rules: [{ host: 'shop.example.test', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } }],
      },
    },
  ]);
  const c = await readyCertificate('shop-tls');
  const owner = await env.kubectlOk(['get', 'certificate', 'shop-tls', '-o', 'jsonpath={.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name} {.spec.issuerRef.kind}/{.spec.issuerRef.name} {.spec.dnsNames}']);
  assert.equal(owner, 'Ingress/shop Issuer/ca ["shop.example.test"]');
  const s = await secretOf('shop-tls');
  assertIssuedStatus(c, 'Certificate shop-tls', leafOf(s));
  assert.equal(s.metadata.annotations?.['cert-manager.io/certificate-name'], 'shop-tls');
  assert.match(leafOf(s).subjectAltName ?? '', /DNS:shop\.example\.test/);
});

test('a Certificate whose issuer does not exist: Ready=False with gangplank\'s reason and message stored', async () => {
  await applyObjects(kube(), [
    {
      apiVersion: 'cert-manager.io/v1',
      kind: 'Certificate',
      metadata: { name: 'orphan', namespace: 'default' },
      spec: { secretName: 'orphan-tls', dnsNames: ['orphan.example.test'], issuerRef: { name: 'no-such-issuer', kind: 'ClusterIssuer' } },
    },
  ]);
  const c = await waitFor('Certificate orphan Ready=False', async () => {
    const o = await getJson<CertificateJson>(['certificate', 'orphan']);
    return condition(o, 'Ready')?.status === 'False' ? o : undefined;
  }, { timeoutMs: 30_000, intervalMs: 200 });
  const ready = condition(c, 'Ready')!;
  assert.equal(ready.reason, 'IssuerNotReady');
  assert.match(ready.message!, /ClusterIssuer no-such-issuer does not exist/);
  assert.equal(ready.observedGeneration, c.metadata.generation);
  assert.deepEqual(statusFieldsByGangplank(c), ['f:conditions']);
  assert.equal((await kube().kubectl(['get', 'secret', 'orphan-tls'])).code, 1, 'no Secret without a certificate');
});

test('an ACME ClusterIssuer registers with Pebble: Ready, with status.acme stored', async (t) => {
  // Registration only (no order), so Pebble's validation resolver is never asked; it must be set all the same.
  const pebble = await startPebble({ dnsServer: `127.0.0.1:${g!.dnsPort}` });
  t.after(() => pebble.stop());
  await applyObjects(kube(), [
    {
      apiVersion: 'cert-manager.io/v1',
      kind: 'ClusterIssuer',
      metadata: { name: 'pebble' },
      spec: {
        acme: {
          server: pebble.directoryUrl,
          email: 'ops@example.test',
          caBundle: Buffer.from(pebble.caBundlePem).toString('base64'),
          privateKeySecretRef: { name: 'pebble-account' },
          solvers: [{ http01: { ingress: { ingressClassName: 'gangplank' } } }],
        },
      },
    },
  ]);
  type IssuerJson = CertificateJson & { status?: { acme?: { uri?: string; lastRegisteredEmail?: string } } };
  const iss = await waitFor('ClusterIssuer pebble Ready=True', async () => {
    const o = await getJson<IssuerJson>(['clusterissuer', 'pebble']);
    return condition(o, 'Ready')?.status === 'True' ? o : undefined;
  }, { timeoutMs: 30_000, intervalMs: 200 });
  assert.match(iss.status?.acme?.uri ?? '(missing)', /^https:\/\/127\.0\.0\.1:\d+\/\S+/, 'status.acme.uri: the account URL');
  assert.equal(iss.status?.acme?.lastRegisteredEmail, 'ops@example.test');
  assert.equal(condition(iss, 'Ready')!.observedGeneration, iss.metadata.generation);
  assert.deepEqual(statusFieldsByGangplank(iss), ['f:acme', 'f:conditions']);
});

test('a failed issuance: failedIssuanceAttempts, lastFailureTime and the Issuing condition are stored', async () => {
  const env = kube();
  // An immutable Secret of the wrong type where the certificate must go: the API server refuses
  // gangplank's write of the issued certificate, so the issuance fails (for real, after signing).
  await applyObjects(env, [
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'frozen-tls', namespace: 'default' }, type: 'Opaque', immutable: true, data: { note: Buffer.from('not yours').toString('base64') } },
    {
      apiVersion: 'cert-manager.io/v1',
      kind: 'Certificate',
      metadata: { name: 'frozen', namespace: 'default' },
      spec: { secretName: 'frozen-tls', dnsNames: ['frozen.example.test'], privateKey: { algorithm: 'ECDSA', size: 256 }, issuerRef: { name: 'ca', kind: 'Issuer' } },
    },
  ]);
  const c = await waitFor('Certificate frozen with a failed issuance', async () => {
    const o = await getJson<CertificateJson>(['certificate', 'frozen']);
    return (o?.status?.failedIssuanceAttempts ?? 0) >= 1 && condition(o, 'Issuing')?.status === 'False' ? o : undefined;
  }, { timeoutMs: 30_000, intervalMs: 200 });
  const st = c.status!;
  assert.match(st.lastFailureTime ?? '(missing)', TIMESTAMP);
  const issuing = condition(c, 'Issuing')!;
  assert.equal(issuing.reason, 'Failed');
  assert.equal(issuing.observedGeneration, c.metadata.generation);
  assert.match(issuing.message!, /frozen-tls/);
  const ready = condition(c, 'Ready')!;
  assert.equal(ready.status, 'False');
  assert.equal(ready.reason, 'Failed');
  const owned = statusFieldsByGangplank(c);
  for (const f of ['f:conditions', 'f:failedIssuanceAttempts', 'f:lastFailureTime']) assert.ok(owned.includes(f), `${f} written by gangplank and kept: ${owned.join(', ')}`);
});

test('their schema validates status writes, and gangplank had none refused', async () => {
  const env = kube();
  // A value of the wrong type in a field gangplank writes is refused: had one of gangplank's
  // writes not fit, the API server would have said so and the tests above would not see the field.
  const bad = await env.kubectl(['patch', 'certificate', 'web', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { revision: 'one', notAfter: 'tomorrow' } })]);
  assert.notEqual(bad.code, 0, 'a status that does not fit their schema is refused');
  assert.match(bad.stderr, /status\.revision|status\.notAfter/);
  // Every failed write is logged with what it was for ("status of Certificate default/web: HTTP 500:
  // ... field not declared in schema" is how server-side apply refuses a field their schema lacks).
  const refused = g!.proc.output().match(/status of (?:Certificate|Issuer|ClusterIssuer) [^:"]+: HTTP \d{3}[^"]*/g) ?? [];
  assert.deepEqual([...new Set(refused)], [], 'no status write of gangplank was refused');
});

test('a status field their schema does not declare is refused at once, with a message saying so (no retries)', async () => {
  const env = kube();
  const store = new Store();
  const logger = silentLogger();
  const source = new KubeSource({ store, logger, kubeconfig: env.kubeconfig, watchTimeoutSeconds: 30, maxBackoffMs: 1000, clusterResourceNamespace: 'gangplank' });
  await source.start();
  try {
    // Backoff of 2 s between attempts: five attempts would take over 30 s.
    const writer = new KubeWriter({ http: source.kubeHttp, store, logger, minBackoffMs: 2000 });
    const t0 = Date.now();
    await assert.rejects(
      writer.writeStatus({ apiVersion: 'cert-manager.io/v1', kind: 'Certificate', namespace: 'default', name: 'web' }, { revision: 1, notDeclaredByTheirSchema: true }),
      (err: Error) => /does not fit the schema/.test(err.message) && /notDeclaredByTheirSchema/.test(err.message),
    );
    assert.ok(Date.now() - t0 < 1900, `refused without retries (took ${Date.now() - t0} ms)`);
  } finally {
    await source.stop();
  }
});
