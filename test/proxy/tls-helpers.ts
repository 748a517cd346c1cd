/** TLS test support: self-signed certificates, Secret/Ingress manifests with spec.tls, openssl s_client runs. */
import { execFile } from 'node:child_process';
import { generateKeyPairSync, webcrypto, randomBytes } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { requireBinary } from '../harness/proc.js';

type Params = Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>;
x509.cryptoProvider.set(webcrypto as unknown as NonNullable<Params[1]>);

export interface TestCert {
  cert: string;
  key: string;
}

/** A P-256 self-signed certificate for `names` (CN = first name), valid from `notBefore` to `notAfter`. */
export async function makeCert(names: string[], opts: { notBefore?: Date; notAfter?: Date; cn?: string; rsa?: boolean } = {}): Promise<TestCert> {
  const { privateKey, publicKey } = opts.rsa ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const alg = opts.rsa ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } : { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = {
    privateKey: await webcrypto.subtle.importKey('pkcs8', privateKey.export({ type: 'pkcs8', format: 'der' }), alg, true, ['sign']),
    publicKey: await webcrypto.subtle.importKey('spki', publicKey.export({ type: 'spki', format: 'der' }), alg, true, ['verify']),
  };
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(8).toString('hex').replace(/^[89a-f]/, '1'),
    name: `CN=${opts.cn ?? names[0]}`,
    notBefore: opts.notBefore ?? new Date(now - 3600_000),
    notAfter: opts.notAfter ?? new Date(now + 30 * 86400_000),
    signingAlgorithm: alg,
    keys: keys as unknown as Params[0]['keys'],
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.SubjectAlternativeNameExtension(names.map((value) => ({ type: 'dns' as const, value }))),
    ],
  });
  return { cert: cert.toString('pem'), key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
}

export function tlsSecret(name: string, c: TestCert | { cert: string; key: string }, ns = 'default'): object {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: { name, namespace: ns },
    data: { 'tls.crt': Buffer.from(c.cert).toString('base64'), 'tls.key': Buffer.from(c.key).toString('base64') },
  };
}

/** An Ingress whose rules all go to `svc` port 80, with spec.tls entries. */
export function tlsIngress(name: string, hosts: string[], svc: string, tls: { hosts: string[]; secretName?: string }[], annotations?: Record<string, string>): object {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name, namespace: 'default', annotations },
    spec: {
      ingressClassName: 'gangplank',
      tls,
      rules: hosts.map((host) => ({ host, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: svc, port: { number: 80 } } } }] } })),
    },
  };
}

export interface Handshake {
  ok: boolean;
  /** CN of the served certificate. */
  subject: string;
  protocol: string;
  reused: boolean;
  output: string;
}

/** One `openssl s_client` handshake (SNI = servername unless null), with extra flags (-tls1_2, -sess_in f, ...). */
export async function handshake(port: number, servername: string | null, extra: string[] = []): Promise<Handshake> {
  const openssl = requireBinary('/usr/bin/openssl', 'apt-get install openssl');
  const args = ['s_client', '-connect', `127.0.0.1:${port}`, ...(servername === null ? ['-noservername'] : ['-servername', servername]), ...extra];
  // With -sess_out, stay connected until the session ticket has arrived (TLS 1.3 sends it after
  // the handshake); otherwise close at once.
  const waitTicket = extra.includes('-sess_out');
  const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve) => {
    let seen = '';
    const child = execFile(openssl, args, { timeout: 10_000 }, (_err, stdout, stderr) => {
      clearTimeout(fallback);
      resolve({ stdout, stderr });
    });
    const fallback = setTimeout(() => child.stdin?.end(), waitTicket ? 3_000 : 0);
    if (waitTicket) {
      child.stdout?.on('data', (c: Buffer) => {
        seen += c.toString();
        if (/TLS session ticket:|Post-Handshake New Session Ticket/.test(seen) && /^(New|Reused), /m.test(seen)) child.stdin?.end();
      });
    } else child.stdin?.end();
  });
  const output = `${stdout}\n${stderr}`;
  const subject = /subject=.*?CN\s*=\s*([^,\n/]+)/.exec(output)?.[1]?.trim() ?? '';
  const protocol = /Protocol\s*:\s*(\S+)/.exec(output)?.[1] ?? /(New|Reused), (TLSv[\d.]+)/.exec(output)?.[2] ?? '';
  return { ok: /^(New|Reused), TLS/m.test(output) && !/Cipher is \(NONE\)/.test(output), subject, protocol, reused: /^Reused,/m.test(output), output };
}

/** Flags for black-box runs: websecure on a free port, the embedded DNS server off (its fixed default port would collide between parallel tests). */
export function websecureArgs(httpsPort: number, extra: string[] = []): string[] {
  return ['--https-port', String(httpsPort), '--dns-port', '0', ...extra];
}
