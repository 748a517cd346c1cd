import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Paths of the PEM files a test API server needs. All keys are ECDSA P-256 (fast to make). */
export interface KubePki {
  caCert: string;
  caKey: string;
  servingCert: string;
  servingKey: string;
  /** Signs and verifies ServiceAccount tokens. */
  saKey: string;
  saPub: string;
  /** Client certificate with O=system:masters: full access through RBAC's bootstrap binding. */
  adminCert: string;
  adminKey: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await run('openssl', args, { cwd });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`kube pki: openssl ${args[0]} failed in ${cwd}: ${e.stderr || e.message}`);
  }
}

async function ecKey(dir: string, name: string): Promise<string> {
  await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', name], dir);
  return join(dir, name);
}

/** Issues a leaf certificate signed by the CA in `dir`, with the given subject and extensions. */
async function leaf(
  dir: string,
  name: string,
  subject: string,
  ext: string[],
): Promise<{ cert: string; key: string }> {
  const key = await ecKey(dir, `${name}.key`);
  await openssl(['req', '-new', '-key', key, '-subj', subject, '-out', `${name}.csr`], dir);
  const extFile = join(dir, `${name}.ext`);
  await writeFile(extFile, ext.join('\n') + '\n');
  await openssl(
    ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key',
      // A random serial per cert: -CAcreateserial would race on ca.srl when leaves are made concurrently.
      '-set_serial', `0x${randomBytes(16).toString('hex')}`,
      '-days', '2', '-sha256', '-extfile', extFile, '-out', `${name}.crt`],
    dir,
  );
  return { cert: join(dir, `${name}.crt`), key };
}

/** Makes a throw-away CA, API server serving cert, ServiceAccount key pair and admin client cert in `dir`. */
export async function makeKubePki(dir: string): Promise<KubePki> {
  const caKey = await ecKey(dir, 'ca.key');
  await openssl(
    ['req', '-x509', '-new', '-key', caKey, '-subj', '/CN=gangplank-test-ca', '-days', '2', '-sha256',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      '-out', 'ca.crt'],
    dir,
  );
  // Serving and client certs are independent of each other: make them concurrently.
  const [serving, admin, saKey] = await Promise.all([
    leaf(dir, 'apiserver', '/CN=kube-apiserver', [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      // 10.0.0.1 is the in-cluster "kubernetes" Service IP of --service-cluster-ip-range=10.0.0.0/24.
      'subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc',
    ]),
    leaf(dir, 'admin', '/O=system:masters/CN=gangplank-test-admin', [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=clientAuth',
    ]),
    ecKey(dir, 'sa.key'),
  ]);
  await openssl(['pkey', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
  return {
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    servingCert: serving.cert,
    servingKey: serving.key,
    saKey,
    saPub: join(dir, 'sa.pub'),
    adminCert: admin.cert,
    adminKey: admin.key,
  };
}
