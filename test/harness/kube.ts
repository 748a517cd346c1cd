/**
 * A real Kubernetes control plane for tests, in the manner of controller-runtime's envtest:
 * etcd (Debian) + kube-apiserver + kube-controller-manager (built by scripts/build-kube.sh),
 * all on 127.0.0.1 with free ports, with a throw-away PKI and an admin kubeconfig.
 * No kubelet and no scheduler run: tests create Nodes and Pods and patch Pod status themselves
 * (see test/harness/kube/fixtures.ts); the controller manager turns them into EndpointSlices.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before } from 'node:test';
import { freePort } from './net.js';
import { startProc, type Proc } from './proc.js';
import { kubeBinaries, type KubeBinaries } from './kube/binaries.js';
import { makeKubePki, type KubePki } from './kube/pki.js';

export interface KubectlResult {
  stdout: string;
  stderr: string;
  code: number | null;
}

export interface KubeEnv {
  /** Path of an admin kubeconfig (client-certificate auth, user in group system:masters). */
  kubeconfig: string;
  /** https://127.0.0.1:PORT */
  server: string;
  /** Temp dir on /dev/shm holding etcd data, the PKI and the kubeconfig; removed by stop(). */
  dir: string;
  pki: KubePki;
  stop(): Promise<void>;
  /** Stops and starts kube-apiserver alone on the same port; etcd keeps the data. */
  restartApiServer(): Promise<void>;
  /** Runs /usr/bin/kubectl against this cluster; never throws on a non-zero exit. */
  kubectl(args: string[], input?: string): Promise<KubectlResult>;
  /** Like kubectl() but throws with the command and its stderr when it fails; returns stdout. */
  kubectlOk(args: string[], input?: string): Promise<string>;
  /** One HTTPS request as the admin user; the body is parsed as JSON when it is JSON. */
  request(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }>;
  /** PIDs of the running peers (etcd, kube-apiserver, kube-controller-manager). */
  pids(): number[];
}

export interface StartKubeOptions {
  /** kube-controller-manager controllers; default endpointslice,garbagecollector,namespace. */
  controllers?: string[];
  /** Set false to run without kube-controller-manager. */
  controllerManager?: boolean;
  /** Extra kube-apiserver flags. */
  apiserverArgs?: string[];
  /** How long each peer may take to become ready; default 120 s (2 cores shared by parallel test files). */
  readyTimeoutMs?: number;
}

const DEFAULT_CONTROLLERS = ['endpointslice', 'garbagecollector', 'namespace'];
/**
 * kube-apiserver stops listening at once on SIGTERM but, with clients still watching, lingers
 * for 10 s and more before it exits; nothing of value happens in that time, so cut it short.
 */
const APISERVER_GRACE_MS = 2_000;
const SHM_PREFIX = '/dev/shm/gangplank-kube-';

/**
 * A test process killed outright cannot run its after hooks: its peers die with it (parent-death
 * signal) but its data dir stays. Remove dirs whose owning process is gone.
 */
async function removeStaleDirs(): Promise<void> {
  const base = SHM_PREFIX.slice(0, SHM_PREFIX.lastIndexOf('/'));
  const prefix = SHM_PREFIX.slice(base.length + 1);
  for (const name of await readdir(base).catch(() => [] as string[])) {
    if (!name.startsWith(prefix)) continue;
    const dir = join(base, name);
    const owner = Number(await readFile(join(dir, 'owner.pid'), 'utf8').catch(() => ''));
    if (!owner || isAlive(owner)) continue;
    await rm(dir, { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Starts etcd, kube-apiserver and (by default) kube-controller-manager; see the file comment. */
export async function startKube(opts: StartKubeOptions = {}): Promise<KubeEnv> {
  const bins = kubeBinaries();
  const t0 = Date.now();
  const readyTimeoutMs = opts.readyTimeoutMs ?? 120_000;
  await removeStaleDirs();
  const dir = await mkdtemp(SHM_PREFIX);
  await writeFile(join(dir, 'owner.pid'), String(process.pid));
  const procs: { etcd?: Proc; apiserver?: Proc; kcm?: Proc } = {};
  let stopped = false;

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    // Reverse start order: controllers first, etcd last, so nobody logs errors about a gone peer.
    await stopGroup(procs.kcm);
    await stopGroup(procs.apiserver, APISERVER_GRACE_MS);
    await stopGroup(procs.etcd);
    await rm(dir, { recursive: true, force: true });
  };

  try {
    const pki = await makeKubePki(dir);
    const [etcdClient, etcdPeer, apiPort, kcmPort] = await distinctFreePorts(4);
    const server = `https://127.0.0.1:${apiPort}`;
    const tls = {
      ca: readFileSync(pki.caCert),
      cert: readFileSync(pki.adminCert),
      key: readFileSync(pki.adminKey),
    };
    const kubeconfig = join(dir, 'kubeconfig');
    await writeFile(kubeconfig, kubeconfigText(server, pki), { mode: 0o600 });

    procs.etcd = startPeer(bins, 'etcd', bins.etcd, [
      '--name=default',
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=default=http://127.0.0.1:${etcdPeer}`,
      '--initial-cluster-state=new',
      '--logger=zap',
      '--log-level=warn',
    ]);
    await pollReady('etcd /health', procs.etcd, readyTimeoutMs, async () => {
      const r = await plainGet(`http://127.0.0.1:${etcdClient}/health`);
      return r.status === 200 && r.body.includes('"health":"true"');
    });

    const apiArgs = [
      `--etcd-servers=http://127.0.0.1:${etcdClient}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--cert-dir=${join(dir, 'apiserver-certs')}`,
      `--tls-cert-file=${pki.servingCert}`,
      `--tls-private-key-file=${pki.servingKey}`,
      `--client-ca-file=${pki.caCert}`,
      '--authorization-mode=RBAC',
      '--service-account-issuer=https://kubernetes.default.svc',
      `--service-account-key-file=${pki.saPub}`,
      `--service-account-signing-key-file=${pki.saKey}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      // No controller creates the "default" ServiceAccount here, and no kubelet mounts tokens:
      // without this, Pods made right after their namespace are refused.
      '--disable-admission-plugins=ServiceAccount',
      '--allow-privileged=true',
      // The "kubernetes" Service would point at 127.0.0.1, which Endpoints validation refuses:
      // skip its reconciler instead of logging that error every few seconds.
      '--endpoint-reconciler-type=none',
      '--profiling=false',
      ...(opts.apiserverArgs ?? []),
    ];
    const startApiServer = async (): Promise<void> => {
      const t = Date.now();
      procs.apiserver = startPeer(bins, 'kube-apiserver', bins.apiserver, apiArgs);
      await pollReady('kube-apiserver /readyz', procs.apiserver, readyTimeoutMs, async () => {
        const r = await tlsRequest(server, tls, 'GET', '/readyz');
        return r.status === 200;
      });
      console.error(`kube: apiserver ready in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    };
    await startApiServer();

    if (opts.controllerManager !== false) {
      procs.kcm = startPeer(bins, 'kube-controller-manager', bins.controllerManager, [
        `--kubeconfig=${kubeconfig}`,
        `--controllers=${(opts.controllers ?? DEFAULT_CONTROLLERS).join(',')}`,
        '--leader-elect=false',
        '--bind-address=127.0.0.1',
        `--secure-port=${kcmPort}`,
        `--tls-cert-file=${pki.servingCert}`,
        `--tls-private-key-file=${pki.servingKey}`,
        `--cert-dir=${join(dir, 'kcm-certs')}`,
        // Fast reaction in tests; the defaults batch for a second.
        '--endpointslice-updates-batch-period=0s',
      ]);
      await pollReady('kube-controller-manager /healthz', procs.kcm, readyTimeoutMs, async () => {
        const r = await tlsRequest(`https://127.0.0.1:${kcmPort}`, { ca: tls.ca }, 'GET', '/healthz');
        return r.status === 200;
      });
    }
    console.error(`kube: control plane ready in ${((Date.now() - t0) / 1000).toFixed(1)} s (${dir})`);

    const kubectl = (args: string[], input?: string) => runKubectl(bins.kubectl, kubeconfig, args, input);
    return {
      kubeconfig,
      server,
      dir,
      pki,
      stop,
      async restartApiServer() {
        await stopGroup(procs.apiserver, APISERVER_GRACE_MS);
        await startApiServer();
      },
      kubectl,
      async kubectlOk(args, input) {
        const r = await kubectl(args, input);
        if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
        return r.stdout;
      },
      async request(method, path, body) {
        const r = await tlsRequest(server, tls, method, path, body);
        let parsed: unknown = r.body;
        try {
          parsed = JSON.parse(r.body);
        } catch {
          // not JSON (e.g. /healthz): keep the text
        }
        return { status: r.status, body: parsed };
      },
      pids() {
        return [procs.etcd, procs.apiserver, procs.kcm].flatMap((p) => (p && isRunning(p) && p.child.pid ? [p.child.pid] : []));
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The environment of a test file: call it inside a test; await `ready` inside another before hook. */
export interface KubeHandle {
  (): KubeEnv;
  /** Resolves when the control plane is up (root-level before hooks may run concurrently). */
  ready: Promise<KubeEnv>;
}

/**
 * Starts one control plane for the whole test file (before) and tears it down (after), also when
 * a test fails. Call at the top level of a test file; the returned getter gives the environment.
 */
export function useKube(opts: StartKubeOptions = {}): KubeHandle {
  let env: KubeEnv | undefined;
  let settle!: { resolve: (e: KubeEnv) => void; reject: (err: unknown) => void };
  const ready = new Promise<KubeEnv>((resolve, reject) => (settle = { resolve, reject }));
  ready.catch(() => undefined); // the before hook reports the failure; avoid a second, unhandled one
  before(async () => {
    try {
      env = await startKube(opts);
      settle.resolve(env);
    } catch (err) {
      settle.reject(err);
      throw err;
    }
  }, { timeout: 4 * (opts.readyTimeoutMs ?? 120_000) });
  after(async () => {
    await env?.stop();
  });
  const get = () => {
    if (!env) throw new Error('kube: control plane not started; call useKube() at the top level of the test file and await its ready promise in other before hooks');
    return env;
  };
  return Object.assign(get, { ready });
}

/**
 * A kubeconfig for a ServiceAccount (a token from the TokenRequest API, as a Pod would have), so
 * that a process runs with that account's RBAC instead of as admin. Written next to the admin one.
 */
export async function serviceAccountKubeconfig(env: KubeEnv, namespace: string, name: string): Promise<string> {
  const token = (await env.kubectlOk(['create', 'token', name, '-n', namespace, '--duration', '6h'])).trim();
  if (token === '') throw new Error(`kubectl create token ${name} -n ${namespace} printed no token`);
  const path = join(env.dir, `kubeconfig-${namespace}-${name}`);
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'gangplank-test', cluster: { server: env.server, 'certificate-authority': env.pki.caCert } }],
    users: [{ name: `${namespace}:${name}`, user: { token } }],
    contexts: [{ name: 'gangplank-test', context: { cluster: 'gangplank-test', user: `${namespace}:${name}`, namespace } }],
    'current-context': 'gangplank-test',
  };
  await writeFile(path, JSON.stringify(config, null, 2), { mode: 0o600 });
  return path;
}

function kubeconfigText(server: string, pki: KubePki): string {
  // JSON is YAML: kubectl and @kubernetes/client-node both read it, and paths need no quoting rules.
  return JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'gangplank-test', cluster: { server, 'certificate-authority': pki.caCert } }],
      users: [{ name: 'admin', user: { 'client-certificate': pki.adminCert, 'client-key': pki.adminKey } }],
      contexts: [{ name: 'gangplank-test', context: { cluster: 'gangplank-test', user: 'admin', namespace: 'default' } }],
      'current-context': 'gangplank-test',
    },
    null,
    2,
  );
}

/** Each peer runs in its own process group (so stop kills everything it forked) with a parent-death signal. */
function startPeer(bins: KubeBinaries, name: string, bin: string, args: string[]): Proc {
  return startProc(bins.setpriv, ['--pdeathsig', 'KILL', bin, ...args], { name, detached: true });
}

function isRunning(p: Proc): boolean {
  return p.child.exitCode === null && p.child.signalCode === null;
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // group already gone
  }
}

/** SIGTERM to the process group, SIGKILL after `graceMs`, and wait for the leader to exit. */
async function stopGroup(p: Proc | undefined, graceMs = 10_000): Promise<void> {
  const pid = p?.child.pid;
  if (!p || !pid) return;
  if (isRunning(p)) {
    killGroup(pid, 'SIGTERM');
    const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), graceMs);
    await p.exited;
    clearTimeout(timer);
  }
  killGroup(pid, 'SIGKILL'); // anything the leader left in its group
  await p.stop(0); // drops it from proc.ts's exit-time kill list
}

function tail(text: string, lines = 40): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/** Polls `check` until true; fails at once with the peer's output when the peer exits. */
async function pollReady(what: string, p: Proc, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = 'not ready';
  for (;;) {
    if (!isRunning(p)) {
      throw new Error(`kube: ${what}: process exited (${p.child.exitCode ?? p.child.signalCode}) before it was ready; last output:\n${tail(p.output())}`);
    }
    try {
      if (await check()) return;
    } catch (err) {
      last = err instanceof Error ? err.message : err;
    }
    if (Date.now() > deadline) {
      throw new Error(`kube: ${what} not ready after ${timeoutMs} ms (last: ${String(last)}); last output:\n${tail(p.output())}`);
    }
    await sleep(100);
  }
}

async function distinctFreePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

function plainGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

function tlsRequest(
  base: string,
  tls: { ca: Buffer; cert?: Buffer; key?: Buffer },
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const req = httpsRequest(
      new URL(path, base),
      {
        method,
        ...tls,
        timeout: 10_000,
        headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${base}${path} timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}

function runKubectl(bin: string, kubeconfig: string, args: string[], input?: string): Promise<KubectlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ['--kubeconfig', kubeconfig, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, KUBECONFIG: kubeconfig },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`kubectl ${args.join(' ')}: ${err.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code });
    });
    child.stdin.on('error', () => {
      // kubectl may exit before reading its input; the exit code tells what happened
    });
    child.stdin.end(input ?? '');
  });
}
