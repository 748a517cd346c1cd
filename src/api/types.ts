/**
 * The Kubernetes objects gangplank reads, as validated by src/api/validate.ts.
 * Only the fields gangplank uses are typed; unknown fields are kept on the raw object.
 */
import type { ObjectMeta, TypedObject } from './meta.js';

export interface ServiceBackendPort {
  number?: number;
  name?: string;
}

export interface IngressBackend {
  service: { name: string; port: ServiceBackendPort };
}

export type PathType = 'Exact' | 'Prefix' | 'ImplementationSpecific';

export interface HTTPIngressPath {
  path: string;
  pathType: PathType;
  backend: IngressBackend;
}

export interface IngressRule {
  host?: string;
  http?: { paths: HTTPIngressPath[] };
}

export interface IngressTLS {
  hosts?: string[];
  secretName?: string;
}

export interface LoadBalancerIngress {
  ip?: string;
  hostname?: string;
}

export interface Ingress extends TypedObject {
  apiVersion: 'networking.k8s.io/v1';
  kind: 'Ingress';
  metadata: ObjectMeta & { namespace: string };
  spec: {
    ingressClassName?: string;
    defaultBackend?: IngressBackend;
    rules?: IngressRule[];
    tls?: IngressTLS[];
  };
  status?: { loadBalancer?: { ingress?: LoadBalancerIngress[] } };
}

export interface IngressClass extends TypedObject {
  apiVersion: 'networking.k8s.io/v1';
  kind: 'IngressClass';
  spec: { controller?: string; parameters?: unknown };
}

export interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  nodePort?: number;
  appProtocol?: string;
}

export interface Service extends TypedObject {
  apiVersion: 'v1';
  kind: 'Service';
  metadata: ObjectMeta & { namespace: string };
  spec: {
    type?: 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName';
    ports?: ServicePort[];
    selector?: Record<string, string>;
    clusterIP?: string;
    externalName?: string;
    loadBalancerClass?: string;
  };
  status?: { loadBalancer?: { ingress?: LoadBalancerIngress[] } };
}

export interface EndpointConditions {
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
}

export interface Endpoint {
  addresses: string[];
  conditions?: EndpointConditions;
  hostname?: string;
  nodeName?: string;
  zone?: string;
  targetRef?: { kind?: string; namespace?: string; name?: string; uid?: string };
}

export interface EndpointPort {
  name?: string;
  port?: number;
  protocol?: string;
  appProtocol?: string;
}

export interface EndpointSlice extends TypedObject {
  apiVersion: 'discovery.k8s.io/v1';
  kind: 'EndpointSlice';
  metadata: ObjectMeta & { namespace: string };
  addressType: 'IPv4' | 'IPv6' | 'FQDN';
  endpoints: Endpoint[];
  ports?: EndpointPort[];
}

export interface Secret extends TypedObject {
  apiVersion: 'v1';
  kind: 'Secret';
  metadata: ObjectMeta & { namespace: string };
  type?: string;
  /** base64-encoded values, as in the API. */
  data?: Record<string, string>;
}

export type KubeObject = Ingress | IngressClass | Service | EndpointSlice | Secret;

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const INGRESS_CONTROLLER = 'gangplank.dev/ingress-controller';
export const DEFAULT_CLASS_ANNOTATION = 'ingressclass.kubernetes.io/is-default-class';
export const LEGACY_CLASS_ANNOTATION = 'kubernetes.io/ingress.class';
