/**
 * The default certificate: served to clients whose SNI names no TLS host, and to hosts whose
 * Secret is missing or unusable. It is --default-cert/--default-key, or else a self-signed
 * certificate generated once and kept in the state dir (so every worker and every restart serves
 * the same one).
 */
import { generateKeyPairSync, webcrypto, X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { randomSerial, toCryptoKeyPair } from '../controllers/certs/x509.js';

export interface DefaultCertificate {
  certPem: string;
  keyPem: string;
  /** Where it came from, for the log: the files given, or the state-dir copy. */
  source: string;
  /**
   * The pair the TLS server starts each handshake with, when it must differ from the default:
   * OpenSSL keeps the starting context's certificate for its key type after SNI switches context,
   * so an ECDSA starting certificate would shadow every RSA certificate chosen by SNI. The server
   * therefore always starts with an RSA certificate (the default when it is RSA, else a generated
   * one) and SNI hands out the configured default for names no Ingress covers.
   */
  base?: { certPem: string; keyPem: string };
}

type Params = Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>;
type Keys = Params[0]['keys'];
type WebCrypto = NonNullable<Params[1]>;

const DIR = 'default-tls-rsa';
const CERT_FILE = 'tls.crt';
const KEY_FILE = 'tls.key';
const VALIDITY_DAYS = 3650;

/** Loads the configured pair, or the state dir's self-signed one (generated on first use). */
export async function loadDefaultCertificate(opts: { certFile: string; keyFile: string; stateDir: string }): Promise<DefaultCertificate> {
  if (opts.certFile || opts.keyFile) {
    const [certPem, keyPem] = await Promise.all([
      readFile(opts.certFile, 'utf8').catch((err: Error) => {
        throw new Error(`--default-cert ${opts.certFile}: cannot read it: ${err.message}`);
      }),
      readFile(opts.keyFile, 'utf8').catch((err: Error) => {
        throw new Error(`--default-key ${opts.keyFile}: cannot read it: ${err.message}`);
      }),
    ]);
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(certPem);
    } catch (err) {
      throw new Error(`--default-cert ${opts.certFile} is not a PEM certificate: ${(err as Error).message}`);
    }
    if (cert.publicKey.asymmetricKeyType === 'rsa') return { certPem, keyPem, source: opts.certFile };
    const base = await selfSignedInStateDir(opts.stateDir);
    return { certPem, keyPem, source: opts.certFile, base: { certPem: base.certPem, keyPem: base.keyPem } };
  }
  return selfSignedInStateDir(opts.stateDir);
}

async function selfSignedInStateDir(stateDir: string): Promise<DefaultCertificate> {
  const opts = { stateDir };
  const dir = join(opts.stateDir, DIR);
  const existing = await readPair(dir);
  if (existing) return existing;
  // Several workers may get here at once: each builds a candidate directory, the first rename
  // wins, the others read the winner's.
  await mkdir(opts.stateDir, { recursive: true, mode: 0o700 });
  const tmp = await mkdtemp(join(opts.stateDir, `.${DIR}-`));
  try {
    const { certPem, keyPem } = await generateSelfSigned();
    await writeFile(join(tmp, KEY_FILE), keyPem, { mode: 0o600 });
    await writeFile(join(tmp, CERT_FILE), certPem, { mode: 0o644 });
    await rename(tmp, dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST' && err.code !== 'ENOTEMPTY') throw err;
    });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  const pair = await readPair(dir);
  if (!pair) throw new Error(`default certificate: ${dir} was written but cannot be read back`);
  return pair;
}

async function readPair(dir: string): Promise<DefaultCertificate | undefined> {
  try {
    const [certPem, keyPem] = await Promise.all([readFile(join(dir, CERT_FILE), 'utf8'), readFile(join(dir, KEY_FILE), 'utf8')]);
    return { certPem, keyPem, source: dir };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`default certificate in ${dir}: ${(err as Error).message}`);
  }
}

/** An RSA-2048 self-signed certificate for "gangplank default certificate" (RSA: see DefaultCertificate.base). */
export async function generateSelfSigned(): Promise<{ certPem: string; keyPem: string }> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keys = await toCryptoKeyPair(privateKey);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: randomSerial(),
      name: 'CN=gangplank default certificate',
      notBefore: new Date(now - 3600_000),
      notAfter: new Date(now + VALIDITY_DAYS * 86400_000),
      signingAlgorithm: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
      keys: keys as unknown as Keys,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'gangplank.invalid' }]),
      ],
    },
    webcrypto as unknown as WebCrypto,
  );
  return { certPem: cert.toString('pem'), keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
}
