/**
 * Stand-ins for what a kubelet and scheduler would do, so that the controller manager makes
 * EndpointSlices: a Node to run on, Pods bound to it, and Pod status patched to Running/Ready.
 *
 * Pod IPs cannot be loopback addresses: the API server refuses EndpointSlices (and Endpoints)
 * with addresses in 127.0.0.0/8 or ::1. Use RFC 5737 documentation addresses (192.0.2.0/24)
 * as data; nothing may send traffic to them.
 */
import type { KubeEnv } from '../kube.js';

/** Applies objects (server-side apply, field manager gangplank-test); they may be in several namespaces. */
export async function applyObjects(env: KubeEnv, objects: object[]): Promise<void> {
  const list = { apiVersion: 'v1', kind: 'List', items: objects };
  await env.kubectlOk(['apply', '--server-side', '--field-manager=gangplank-test', '-f', '-'], JSON.stringify(list));
}

/** Creates a Node (the EndpointSlice controller skips Pods whose Node does not exist). */
export async function createNode(env: KubeEnv, name = 'node-1'): Promise<void> {
  await applyObjects(env, [{ apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'kubernetes.io/hostname': name } } }]);
}

export interface PodSpecLite {
  namespace?: string;
  name: string;
  labels: Record<string, string>;
  nodeName?: string;
  /** Named container ports, for Services whose targetPort is a name. */
  ports?: { name?: string; containerPort: number }[];
}

/**
 * Creates Pods bound to a Node. terminationGracePeriodSeconds is 0 so that deleting them (or
 * their namespace) takes effect at once: no kubelet runs here to finish a graceful deletion.
 */
export async function createPods(env: KubeEnv, pods: PodSpecLite[]): Promise<void> {
  await applyObjects(
    env,
    pods.map((p) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: p.name, namespace: p.namespace ?? 'default', labels: p.labels },
      spec: {
        nodeName: p.nodeName ?? 'node-1',
        terminationGracePeriodSeconds: 0,
        containers: [{ name: 'app', image: 'gangplank.invalid/app:test', ports: p.ports ?? [] }],
      },
    })),
  );
}

/** Patches a Pod's status as a kubelet would: phase Running, the given IP, Ready=True (or False). */
export async function setPodStatus(
  env: KubeEnv,
  pod: { namespace?: string; name: string },
  status: { ip: string; ready?: boolean },
): Promise<void> {
  if (/^127\./.test(status.ip) || status.ip === '::1')
    throw new Error(`setPodStatus ${pod.name}: ip ${status.ip} is a loopback address, which the API server refuses in EndpointSlices; use a 192.0.2.x documentation address`);
  const ready = status.ready ?? true;
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const patch = {
    status: {
      phase: 'Running',
      hostIP: '127.0.0.1',
      hostIPs: [{ ip: '127.0.0.1' }],
      podIP: status.ip,
      podIPs: [{ ip: status.ip }],
      startTime: now,
      conditions: [
        { type: 'PodScheduled', status: 'True', lastTransitionTime: now },
        { type: 'Initialized', status: 'True', lastTransitionTime: now },
        { type: 'ContainersReady', status: ready ? 'True' : 'False', lastTransitionTime: now },
        { type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: now },
      ],
    },
  };
  await env.kubectlOk([
    'patch', 'pod', pod.name, '-n', pod.namespace ?? 'default',
    '--subresource=status', '--type=merge', '-p', JSON.stringify(patch),
  ]);
}

/** Creates Pods and marks each Running and Ready with its IP: the usual "backends are up" fixture. */
export async function createReadyPods(env: KubeEnv, pods: (PodSpecLite & { ip: string })[]): Promise<void> {
  await createPods(env, pods);
  await Promise.all(pods.map((p) => setPodStatus(env, p, { ip: p.ip })));
}

/** gangplank's IngressClass and a Service `web` (port 80 -> 8080) selecting Pods labelled app=web, as kubectl applies them. */
export async function applyIngressClassAndWebService(env: KubeEnv): Promise<void> {
  await env.kubectlOk(['apply', '-f', '-'], `apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: gangplank
spec:
  controller: gangplank.dev/ingress-controller
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: default
spec:
  selector:
    app: web
  ports:
    - name: http
      port: 80
      targetPort: 8080
`);
}

/** What ingressYaml writes: `/` of `host` to port 80 of `service` (default `web`), optionally with TLS from cert-manager. */
export interface IngressSpecLite {
  name: string;
  host: string;
  service?: string;
  /** A `tls` section for `host` with this Secret, and the cert-manager annotation naming this ClusterIssuer. */
  tls?: { secretName: string; clusterIssuer: string };
}

/** An Ingress of class gangplank in namespace default, as YAML for `kubectl apply -f -`. */
export function ingressYaml(o: IngressSpecLite): string {
  const annotations = o.tls ? `\n  annotations:\n    cert-manager.io/cluster-issuer: ${o.tls.clusterIssuer}` : '';
  const tls = o.tls ? `\n  tls:\n    - hosts: [${o.host}]\n      secretName: ${o.tls.secretName}` : '';
  return `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: ${o.name}
  namespace: default${annotations}
spec:
  ingressClassName: gangplank${tls}
  rules:
    - host: ${o.host}
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: ${o.service ?? 'web'}
                port:
                  number: 80
`;
}
