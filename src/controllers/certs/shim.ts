/**
 * The ingress-shim, as cert-manager's: an Ingress (any class, as cert-manager's shim does)
 * annotated with an issuer, or with `kubernetes.io/tls-acme: "true"` and a default issuer
 * configured, gets one Certificate per `spec.tls` entry, named after the entry's secretName, with
 * the entry's hosts as dnsNames and the cert-manager.io/* annotations as fields. The Certificate
 * is owned by the Ingress (ownerReference) and labelled as the shim's; it follows the Ingress and
 * goes when the entry goes. Certificates made any other way are never touched.
 *
 * `certificatesForIngress` and `shimPlan` are pure; ShimController applies the plan through the Writer.
 */
import { parseCertificate, type Certificate } from '../../api/certmanager.js';
import { nsName, sortOlderFirst, type TypedObject } from '../../api/meta.js';
import type { Ingress } from '../../api/types.js';
import type { Component } from '../../runtime/lifecycle.js';
import type { Logger } from '../../runtime/logger.js';
import { deepEqual, type Change, type Store } from '../../store/store.js';
import { refOf, type Writer } from '../../writers/types.js';
import { asCertificate } from './objects.js';
import { SUBJECT_ANN } from './secret.js';

/** Label on every Certificate the shim made; only those are ever updated or deleted. */
export const SHIM_LABEL = 'gangplank.dev/ingress-shim';

export const SHIM_ANN = {
  issuer: 'cert-manager.io/issuer',
  clusterIssuer: 'cert-manager.io/cluster-issuer',
  issuerKind: 'cert-manager.io/issuer-kind',
  issuerGroup: 'cert-manager.io/issuer-group',
  tlsAcme: 'kubernetes.io/tls-acme',
  commonName: 'cert-manager.io/common-name',
  emailSans: 'cert-manager.io/email-sans',
  duration: 'cert-manager.io/duration',
  renewBefore: 'cert-manager.io/renew-before',
  renewBeforePercentage: 'cert-manager.io/renew-before-percentage',
  usages: 'cert-manager.io/usages',
  revisionHistoryLimit: 'cert-manager.io/revision-history-limit',
  privateKeyAlgorithm: 'cert-manager.io/private-key-algorithm',
  privateKeyEncoding: 'cert-manager.io/private-key-encoding',
  privateKeySize: 'cert-manager.io/private-key-size',
  privateKeyRotationPolicy: 'cert-manager.io/private-key-rotation-policy',
  ...SUBJECT_ANN,
} as const;

/** Which spec field each annotation fills, to name the annotation in errors. */
const FIELD_ANNOTATION: Record<string, string> = {
  'spec.issuerRef.name': SHIM_ANN.issuer,
  'spec.issuerRef.kind': SHIM_ANN.issuerKind,
  'spec.issuerRef.group': SHIM_ANN.issuerGroup,
  'spec.commonName': SHIM_ANN.commonName,
  'spec.emailAddresses': SHIM_ANN.emailSans,
  'spec.duration': SHIM_ANN.duration,
  'spec.renewBefore': SHIM_ANN.renewBefore,
  'spec.renewBeforePercentage': SHIM_ANN.renewBeforePercentage,
  'spec.usages': SHIM_ANN.usages,
  'spec.revisionHistoryLimit': SHIM_ANN.revisionHistoryLimit,
  'spec.privateKey.algorithm': SHIM_ANN.privateKeyAlgorithm,
  'spec.privateKey.encoding': SHIM_ANN.privateKeyEncoding,
  'spec.privateKey.size': SHIM_ANN.privateKeySize,
  'spec.privateKey.rotationPolicy': SHIM_ANN.privateKeyRotationPolicy,
  'spec.dnsNames': 'spec.tls[].hosts',
};

export interface ShimDefaults {
  /** --default-issuer-name/kind/group: used for `kubernetes.io/tls-acme: "true"`. */
  issuerName: string;
  issuerKind: 'Issuer' | 'ClusterIssuer';
  issuerGroup: string;
}

/** A Certificate as the shim writes it: the manifest form (Go duration strings). */
export interface ShimCertificate extends TypedObject {
  apiVersion: 'cert-manager.io/v1';
  kind: 'Certificate';
  metadata: { name: string; namespace: string; labels: Record<string, string>; ownerReferences: { apiVersion: string; kind: string; name: string; uid: string; controller: boolean; blockOwnerDeletion: boolean }[] };
  spec: Record<string, unknown>;
}

export interface ShimResult {
  certificates: ShimCertificate[];
  /** What is wrong with the Ingress's annotations or tls entries (one message each). */
  errors: string[];
}

const csv = (v: string) => v.split(',').map((x) => x.trim()).filter(Boolean);

/** Whether the shim acts on this Ingress at all. */
export function wantsCertificates(ing: Ingress): boolean {
  const a = ing.metadata.annotations ?? {};
  return a[SHIM_ANN.issuer] !== undefined || a[SHIM_ANN.clusterIssuer] !== undefined || a[SHIM_ANN.tlsAcme] === 'true';
}

/** The Certificates one Ingress asks for. Pure. */
export function certificatesForIngress(ing: Ingress, defaults: ShimDefaults): ShimResult {
  const errors: string[] = [];
  if (!wantsCertificates(ing)) return { certificates: [], errors };
  const a = ing.metadata.annotations ?? {};
  const where = `Ingress ${nsName(ing)}`;
  let issuerRef: { name: string; kind: string; group: string };
  if (a[SHIM_ANN.issuer] !== undefined && a[SHIM_ANN.clusterIssuer] !== undefined) {
    return { certificates: [], errors: [`${where}: annotations ${SHIM_ANN.issuer} and ${SHIM_ANN.clusterIssuer} are both set; keep one`] };
  } else if (a[SHIM_ANN.clusterIssuer] !== undefined) {
    if (a[SHIM_ANN.issuerKind] !== undefined || a[SHIM_ANN.issuerGroup] !== undefined)
      return { certificates: [], errors: [`${where}: ${SHIM_ANN.issuerKind} and ${SHIM_ANN.issuerGroup} go with ${SHIM_ANN.issuer}, not with ${SHIM_ANN.clusterIssuer}`] };
    issuerRef = { name: a[SHIM_ANN.clusterIssuer]!, kind: 'ClusterIssuer', group: 'cert-manager.io' };
  } else if (a[SHIM_ANN.issuer] !== undefined) {
    issuerRef = { name: a[SHIM_ANN.issuer]!, kind: a[SHIM_ANN.issuerKind] || 'Issuer', group: a[SHIM_ANN.issuerGroup] || 'cert-manager.io' };
  } else {
    if (!defaults.issuerName)
      return { certificates: [], errors: [`${where}: ${SHIM_ANN.tlsAcme} is "true" but no default issuer is configured; set --default-issuer-name or annotate the Ingress with ${SHIM_ANN.clusterIssuer}`] };
    issuerRef = { name: defaults.issuerName, kind: defaults.issuerKind, group: defaults.issuerGroup || 'cert-manager.io' };
  }

  const spec: Record<string, unknown> = { issuerRef };
  if (a[SHIM_ANN.commonName]) spec.commonName = a[SHIM_ANN.commonName];
  if (a[SHIM_ANN.emailSans]) spec.emailAddresses = csv(a[SHIM_ANN.emailSans]!);
  if (a[SHIM_ANN.duration]) spec.duration = a[SHIM_ANN.duration];
  if (a[SHIM_ANN.renewBefore]) spec.renewBefore = a[SHIM_ANN.renewBefore];
  const int = (ann: string, field: string, set: (n: number) => void) => {
    const v = a[ann];
    if (v === undefined || v === '') return true;
    if (!/^-?\d+$/.test(v.trim())) {
      errors.push(`${where}: annotation ${ann} must be an integer, got ${JSON.stringify(v)} (${field})`);
      return false;
    }
    set(Number(v));
    return true;
  };
  let ok = int(SHIM_ANN.renewBeforePercentage, 'spec.renewBeforePercentage', (n) => (spec.renewBeforePercentage = n));
  ok = int(SHIM_ANN.revisionHistoryLimit, 'spec.revisionHistoryLimit', (n) => (spec.revisionHistoryLimit = n)) && ok;
  if (a[SHIM_ANN.usages]) spec.usages = csv(a[SHIM_ANN.usages]!);
  const pk: Record<string, unknown> = {};
  if (a[SHIM_ANN.privateKeyAlgorithm]) pk.algorithm = a[SHIM_ANN.privateKeyAlgorithm];
  if (a[SHIM_ANN.privateKeyEncoding]) pk.encoding = a[SHIM_ANN.privateKeyEncoding];
  if (a[SHIM_ANN.privateKeyRotationPolicy]) pk.rotationPolicy = a[SHIM_ANN.privateKeyRotationPolicy];
  ok = int(SHIM_ANN.privateKeySize, 'spec.privateKey.size', (n) => (pk.size = n)) && ok;
  if (Object.keys(pk).length) spec.privateKey = pk;
  const subject: Record<string, unknown> = {};
  const subj: [string, string][] = [
    [SHIM_ANN.subjectOrganizations, 'organizations'],
    [SHIM_ANN.subjectOrganizationalUnits, 'organizationalUnits'],
    [SHIM_ANN.subjectCountries, 'countries'],
    [SHIM_ANN.subjectProvinces, 'provinces'],
    [SHIM_ANN.subjectLocalities, 'localities'],
    [SHIM_ANN.subjectPostalCodes, 'postalCodes'],
    [SHIM_ANN.subjectStreetAddresses, 'streetAddresses'],
  ];
  for (const [ann, field] of subj) if (a[ann]) subject[field] = csv(a[ann]!);
  if (a[SHIM_ANN.subjectSerialNumber]) subject.serialNumber = a[SHIM_ANN.subjectSerialNumber];
  if (Object.keys(subject).length) spec.subject = subject;
  if (!ok) return { certificates: [], errors };

  const certificates: ShimCertificate[] = [];
  const seen = new Set<string>();
  (ing.spec.tls ?? []).forEach((tls, i) => {
    const at = `${where}: spec.tls[${i}]`;
    if (!tls.secretName) return void errors.push(`${at} has no secretName; the shim names the Certificate after it`);
    if (!tls.hosts?.length) return void errors.push(`${at} (secret ${tls.secretName}) has no hosts; list the names to certify`);
    if (seen.has(tls.secretName)) return void errors.push(`${at}: secretName ${tls.secretName} is used by an earlier tls entry; merge their hosts`);
    seen.add(tls.secretName);
    const c: ShimCertificate = {
      apiVersion: 'cert-manager.io/v1',
      kind: 'Certificate',
      metadata: {
        name: tls.secretName,
        namespace: ing.metadata.namespace,
        labels: { [SHIM_LABEL]: 'true' },
        ownerReferences: [{ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', name: ing.metadata.name, uid: ing.metadata.uid ?? '', controller: true, blockOwnerDeletion: true }],
      },
      spec: { ...spec, secretName: tls.secretName, dnsNames: [...new Set(tls.hosts.map((h) => h.toLowerCase()))] },
    };
    const r = parseCertificate(c);
    if (!r.ok) {
      for (const e of r.errors) {
        const ann = Object.entries(FIELD_ANNOTATION).find(([f]) => e.path === f || e.path.startsWith(f + '.') || e.path.startsWith(f + '['))?.[1];
        errors.push(`${at} (secret ${tls.secretName}): ${ann ? `${ann}: ` : ''}${e.path}: ${e.message}`);
      }
      return;
    }
    certificates.push(c);
  });
  return { certificates, errors };
}

/** Whether a Certificate was made by the shim (and so may be updated or deleted by it). */
export function isShimCertificate(o: TypedObject): boolean {
  return o.metadata.labels?.[SHIM_LABEL] === 'true' && !!o.metadata.ownerReferences?.some((r) => r.kind === 'Ingress' && r.controller === true);
}

export interface ShimPlan {
  apply: ShimCertificate[];
  delete: { namespace: string; name: string }[];
  /** Errors per Ingress (`namespace/name`). */
  errors: { ingress: Ingress; message: string }[];
}

function sameCertificate(desired: ShimCertificate, existing: TypedObject): boolean {
  const d = parseCertificate(desired);
  const e = asCertificate(existing);
  if (!d.ok || !e.ok) return false;
  const owner = (o: TypedObject) => (o.metadata.ownerReferences ?? []).map((r) => ({ kind: r.kind, name: r.name, uid: r.uid }));
  return deepEqual(d.object.spec, e.object.spec) && deepEqual(owner(desired), owner(existing)) && existing.metadata.labels?.[SHIM_LABEL] === 'true';
}

/**
 * What the shim must write: Certificates to create or update, shim Certificates nobody asks for
 * any more (to delete). Two Ingresses asking for one secretName: the older Ingress wins. A
 * Certificate of that name made another way is left alone and reported. Pure.
 */
export function shimPlan(ingresses: readonly Ingress[], certificates: readonly TypedObject[], defaults: ShimDefaults): ShimPlan {
  const existing = new Map(certificates.map((c) => [`${c.metadata.namespace}/${c.metadata.name}`, c]));
  const wanted = new Map<string, { cert: ShimCertificate; ingress: Ingress }>();
  const plan: ShimPlan = { apply: [], delete: [], errors: [] };
  // Only Ingresses that ask for certificates, oldest first (the rest ask for nothing).
  for (const ing of sortOlderFirst(ingresses.filter(wantsCertificates), (i) => i)) {
    const r = certificatesForIngress(ing, defaults);
    for (const message of r.errors) plan.errors.push({ ingress: ing, message });
    for (const c of r.certificates) {
      const k = `${c.metadata.namespace}/${c.metadata.name}`;
      const other = wanted.get(k);
      if (other) {
        plan.errors.push({ ingress: ing, message: `Ingress ${nsName(ing)}: secretName ${c.metadata.name} is already requested by Ingress ${nsName(other.ingress)}; its Certificate follows that Ingress` });
        continue;
      }
      const cur = existing.get(k);
      if (cur && !isShimCertificate(cur)) {
        plan.errors.push({ ingress: ing, message: `Ingress ${nsName(ing)}: Certificate ${k} exists and was not made by the ingress-shim; leaving it alone (remove the issuer annotation or rename the secret)` });
        continue;
      }
      wanted.set(k, { cert: c, ingress: ing });
      if (!cur || !sameCertificate(c, cur)) plan.apply.push(c);
    }
  }
  for (const [k, c] of existing) if (isShimCertificate(c) && !wanted.has(k)) plan.delete.push({ namespace: c.metadata.namespace!, name: c.metadata.name });
  return plan;
}

export interface ShimControllerOptions {
  store: Store;
  writer: Writer;
  logger: Logger;
  defaults: ShimDefaults;
  /** How long a burst of changes is coalesced. */
  debounceMs?: number;
}

/** Applies shimPlan whenever Ingresses or Certificates change. */
export class ShimController implements Component {
  private unsubscribe?: () => void;
  private timer?: NodeJS.Timeout;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly reported = new Set<string>();

  constructor(private readonly o: ShimControllerOptions) {}

  async start(): Promise<void> {
    this.stopped = false;
    this.unsubscribe = this.o.store.subscribe((changes) => this.onChanges(changes));
    await this.sync();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    clearTimeout(this.timer);
    await this.running;
  }

  /** Resolves when the queued sync has run. */
  idle(): Promise<void> {
    return this.running;
  }

  private onChanges(changes: readonly Change[]): void {
    if (!changes.some((c) => c.kind === 'Ingress' || c.kind === 'Certificate')) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.sync(), this.o.debounceMs ?? 20);
  }

  sync(): Promise<void> {
    this.running = this.running.then(() => this.syncOnce()).catch((err: Error) => this.o.logger.error({ err: err.message }, 'ingress-shim sync failed'));
    return this.running;
  }

  private async syncOnce(): Promise<void> {
    if (this.stopped) return;
    const plan = shimPlan(this.o.store.objects<Ingress>('Ingress'), this.o.store.objects('Certificate'), this.o.defaults);
    const now = new Set<string>();
    for (const e of plan.errors) {
      const id = `${nsName(e.ingress)}|${e.message}`;
      now.add(id);
      if (this.reported.has(id)) continue;
      await this.o.writer.event(refOf(e.ingress), 'Warning', 'BadConfig', e.message);
    }
    this.reported.clear();
    for (const id of now) this.reported.add(id);
    for (const c of plan.apply) {
      const isNew = !this.o.store.getObject<Certificate>('Certificate', c.metadata.namespace, c.metadata.name);
      try {
        await this.o.writer.applyObject(c);
        const owner = c.metadata.ownerReferences[0]!;
        await this.o.writer.event({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', namespace: c.metadata.namespace, name: owner.name, uid: owner.uid }, 'Normal', isNew ? 'CreateCertificate' : 'UpdateCertificate', `${isNew ? 'Successfully created' : 'Successfully updated'} Certificate "${c.metadata.name}"`);
      } catch (err) {
        this.o.logger.warn({ certificate: `${c.metadata.namespace}/${c.metadata.name}`, err: (err as Error).message }, 'ingress-shim could not write a Certificate');
      }
    }
    for (const d of plan.delete) {
      try {
        await this.o.writer.deleteObject({ apiVersion: 'cert-manager.io/v1', kind: 'Certificate', namespace: d.namespace, name: d.name });
        this.o.logger.info({ certificate: `${d.namespace}/${d.name}` }, 'ingress-shim deleted a Certificate no Ingress asks for');
      } catch (err) {
        this.o.logger.warn({ certificate: `${d.namespace}/${d.name}`, err: (err as Error).message }, 'ingress-shim could not delete a Certificate');
      }
    }
  }
}
