/**
 * Validation of raw documents into typed objects (parse, don't validate twice). Every error names
 * the field path, e.g. `spec.rules[0].http.paths[1].pathType: must be one of Exact, Prefix, ImplementationSpecific`.
 */
import { z, type ZodIssue, type ZodTypeAny } from 'zod';
import { compact } from './compact.js';
import type { KubeObject } from './types.js';

export interface FieldError {
  path: string;
  message: string;
}

export type ParseResult<T> = { ok: true; object: T } | { ok: false; errors: FieldError[] };

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

const name = z
  .string({ required_error: 'is required' })
  .min(1, 'must not be empty')
  .max(253, 'must be at most 253 characters')
  .regex(DNS1123_SUBDOMAIN, 'must be a lowercase RFC 1123 subdomain (a-z, 0-9, "-", ".")');
const labelName = z
  .string()
  .max(63, 'must be at most 63 characters')
  .regex(DNS1123_LABEL, 'must be a lowercase RFC 1123 label (a-z, 0-9, "-")');
const stringMap = z.record(z.string({ invalid_type_error: 'values must be strings' }));

const metadata = (namespaced: boolean) =>
  z
    .object({
      name,
      namespace: namespaced ? labelName.optional() : z.string().optional(),
      uid: z.string().optional(),
      resourceVersion: z.string().optional(),
      generation: z.number().int().optional(),
      creationTimestamp: z
        .union([z.string(), z.date()])
        .transform((v) => (v instanceof Date ? v.toISOString() : v))
        .refine((v) => !Number.isNaN(Date.parse(v)), 'must be an RFC 3339 timestamp')
        .optional(),
      labels: stringMap.optional(),
      annotations: stringMap.optional(),
      ownerReferences: z.array(z.object({ apiVersion: z.string(), kind: z.string(), name: z.string(), uid: z.string(), controller: z.boolean().optional() }).passthrough()).optional(),
    })
    .passthrough()
    // Namespaced objects from manifests default to "default", as kubectl does.
    .transform((m) => (namespaced && !m.namespace ? { ...m, namespace: 'default' } : m));

const port = z.number().int().min(1, 'must be between 1 and 65535').max(65535, 'must be between 1 and 65535');

const backendPort = z
  .object({ number: port.optional(), name: labelName.optional() })
  .strict()
  .refine((p) => (p.number === undefined) !== (p.name === undefined), 'exactly one of number or name must be set');

const ingressBackend = z
  .object({
    service: z.object({ name, port: backendPort }, { required_error: 'is required (gangplank supports service backends only)' }).passthrough(),
    resource: z.unknown().optional(),
  })
  .passthrough()
  .superRefine((b, ctx) => {
    if (b.resource !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['resource'], message: 'resource backends are not supported; use a service backend' });
  })
  .transform((b) => ({ service: b.service }));

const hostField = z
  .string()
  .transform((h) => h.toLowerCase())
  .refine((h) => /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(h), 'must be a DNS name, optionally with a leading "*." wildcard label (no port, no IP address)')
  .refine((h) => !/^\d+(\.\d+){3}$/.test(h), 'must be a DNS name, not an IP address');

const ingressPath = z
  .object({
    path: z.string().startsWith('/', 'must start with "/"').optional(),
    pathType: z.enum(['Exact', 'Prefix', 'ImplementationSpecific'], {
      errorMap: () => ({ message: 'must be one of Exact, Prefix, ImplementationSpecific' }),
    }),
    backend: ingressBackend,
  })
  .passthrough()
  .superRefine((p, ctx) => {
    if (p.pathType !== 'ImplementationSpecific' && p.path === undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['path'], message: `is required for pathType ${p.pathType}` });
  })
  .transform((p) => ({ path: p.path ?? '/', pathType: p.pathType, backend: p.backend }));

const lbIngress = z.array(z.object({ ip: z.string().optional(), hostname: z.string().optional() }).passthrough()).optional();

const ingress = z
  .object({
    apiVersion: z.literal('networking.k8s.io/v1'),
    kind: z.literal('Ingress'),
    metadata: metadata(true),
    spec: z
      .object({
        ingressClassName: z.string().optional(),
        defaultBackend: ingressBackend.optional(),
        rules: z
          .array(
            z
              .object({
                host: hostField.optional(),
                http: z.object({ paths: z.array(ingressPath).min(1, 'must list at least one path') }).optional(),
              })
              .passthrough(),
          )
          .optional(),
        tls: z.array(z.object({ hosts: z.array(hostField).optional(), secretName: z.string().optional() }).passthrough()).optional(),
      })
      .passthrough()
      .superRefine((s, ctx) => {
        if (!s.defaultBackend && !(s.rules?.length)) ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'needs spec.defaultBackend or at least one rule' });
      }),
    status: z.object({ loadBalancer: z.object({ ingress: lbIngress }).passthrough().optional() }).passthrough().optional(),
  })
  .passthrough();

const ingressClass = z
  .object({
    apiVersion: z.literal('networking.k8s.io/v1'),
    kind: z.literal('IngressClass'),
    metadata: metadata(false),
    spec: z.object({ controller: z.string().optional(), parameters: z.unknown().optional() }).passthrough().default({}),
  })
  .passthrough();

const service = z
  .object({
    apiVersion: z.literal('v1'),
    kind: z.literal('Service'),
    metadata: metadata(true),
    spec: z
      .object({
        type: z.enum(['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName']).optional(),
        ports: z
          .array(
            z
              .object({
                name: labelName.optional(),
                port,
                targetPort: z.union([port, z.string().min(1)]).optional(),
                protocol: z.enum(['TCP', 'UDP', 'SCTP']).optional(),
                nodePort: z.number().int().optional(),
                appProtocol: z.string().optional(),
              })
              .passthrough(),
          )
          .optional(),
        selector: stringMap.optional(),
        clusterIP: z.string().optional(),
        externalName: z.string().optional(),
        loadBalancerClass: z.string().optional(),
      })
      .passthrough()
      .default({}),
    status: z.object({ loadBalancer: z.object({ ingress: lbIngress }).passthrough().optional() }).passthrough().optional(),
  })
  .passthrough();

const endpointSlice = z
  .object({
    apiVersion: z.literal('discovery.k8s.io/v1'),
    kind: z.literal('EndpointSlice'),
    metadata: metadata(true),
    addressType: z.enum(['IPv4', 'IPv6', 'FQDN']),
    endpoints: z
      .array(
        z
          .object({
            addresses: z.array(z.string()).min(1, 'must list at least one address'),
            conditions: z.object({ ready: z.boolean().nullish(), serving: z.boolean().nullish(), terminating: z.boolean().nullish() }).passthrough().optional(),
            hostname: z.string().optional(),
            nodeName: z.string().optional(),
            zone: z.string().optional(),
            targetRef: z.object({}).passthrough().optional(),
          })
          .passthrough(),
      )
      .nullish()
      .transform((e) => e ?? []),
    ports: z.array(z.object({ name: z.string().nullish(), port: port.nullish(), protocol: z.string().nullish(), appProtocol: z.string().nullish() }).passthrough()).nullish(),
  })
  .passthrough();

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64');
const secret = z
  .object({
    apiVersion: z.literal('v1'),
    kind: z.literal('Secret'),
    metadata: metadata(true),
    type: z.string().optional(),
    data: z.record(base64).nullish(),
    stringData: stringMap.nullish(),
  })
  .passthrough()
  // stringData is write-only in the API: fold it into data as the API server does.
  .transform(({ stringData, ...s }) => {
    if (!stringData) return s;
    const data = { ...(s.data ?? {}) };
    for (const [k, v] of Object.entries(stringData)) data[k] = Buffer.from(v).toString('base64');
    return { ...s, data };
  });

const schemas: Record<string, { apiVersion: string; schema: ZodTypeAny }> = {
  Ingress: { apiVersion: 'networking.k8s.io/v1', schema: ingress },
  IngressClass: { apiVersion: 'networking.k8s.io/v1', schema: ingressClass },
  Service: { apiVersion: 'v1', schema: service },
  EndpointSlice: { apiVersion: 'discovery.k8s.io/v1', schema: endpointSlice },
  Secret: { apiVersion: 'v1', schema: secret },
};

/** Extra kinds registered by other families (cert-manager.io Certificates, Issuers, ...). */
export function registerKind(kind: string, apiVersion: string, schema: ZodTypeAny): void {
  schemas[kind] = { apiVersion, schema };
}

export function isKnownKind(kind: string, apiVersion?: string): boolean {
  const s = schemas[kind];
  return !!s && (apiVersion === undefined || s.apiVersion === apiVersion);
}

export function formatPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${p}` : p;
  return out;
}

function issueMessage(i: ZodIssue): string {
  if (i.code === 'invalid_type' && i.received === 'undefined') return 'is required';
  if (i.code === 'invalid_type') return `must be ${i.expected}, not ${i.received}`;
  if (i.code === 'invalid_literal') return `must be ${JSON.stringify(i.expected)}`;
  if (i.code === 'unrecognized_keys') return `unknown fields ${i.keys.join(', ')}`;
  return i.message;
}

export function toFieldErrors(issues: readonly ZodIssue[]): FieldError[] {
  return issues.map((i) => ({ path: formatPath(i.path) || '(document)', message: issueMessage(i) }));
}

/** Parses one document of a known kind into its typed object. */
export function parseObject(raw: unknown): ParseResult<KubeObject> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, errors: [{ path: '(document)', message: 'must be a mapping (an object)' }] };
  const doc = raw as { kind?: unknown; apiVersion?: unknown };
  if (typeof doc.kind !== 'string') return { ok: false, errors: [{ path: 'kind', message: 'is required' }] };
  const s = schemas[doc.kind];
  if (!s) return { ok: false, errors: [{ path: 'kind', message: `unknown kind ${doc.kind}` }] };
  const r = s.schema.safeParse(raw);
  if (!r.success) return { ok: false, errors: toFieldErrors(r.error.issues) };
  return { ok: true, object: compact(r.data as KubeObject) };
}

export function formatErrors(errors: readonly FieldError[]): string {
  return errors.map((e) => `${e.path}: ${e.message}`).join('; ');
}
