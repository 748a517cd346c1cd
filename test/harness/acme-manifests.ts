/** Manifests for ACME DNS-01 tests: an Issuer whose rfc2136 solver writes into gangplank's embedded DNS server. */
import type { Pebble } from './pebble.js';

export const TSIG_KEY_NAME = 'acme-key';

/** The Secret holding the TSIG secret the solver signs its updates with (same value as --dns-tsig-key's file). */
export function tsigSecret(namespace: string, tsig: string): object {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'tsig', namespace }, data: { secret: Buffer.from(tsig).toString('base64') } };
}

/** An ACME Issuer on Pebble, solving DNS-01 through the embedded DNS server on 127.0.0.1:dnsPort. */
export function acmeIssuer(o: { name: string; namespace: string; pebble: Pebble; dnsPort: number; eab?: { keyID: string; secretName: string } }): object {
  return {
    apiVersion: 'cert-manager.io/v1',
    kind: 'Issuer',
    metadata: { name: o.name, namespace: o.namespace },
    spec: {
      acme: {
        server: o.pebble.directoryUrl,
        caBundle: Buffer.from(o.pebble.caBundlePem).toString('base64'),
        privateKeySecretRef: { name: `${o.name}-account` },
        ...(o.eab ? { externalAccountBinding: { keyID: o.eab.keyID, keySecretRef: { name: o.eab.secretName, key: 'secret' } } } : {}),
        solvers: [{ dns01: { rfc2136: { nameserver: `127.0.0.1:${o.dnsPort}`, tsigKeyName: TSIG_KEY_NAME, tsigAlgorithm: 'HMACSHA256', tsigSecretSecretRef: { name: 'tsig', key: 'secret' } } } }],
      },
    },
  };
}

/** gangplank flags for the embedded DNS server the solver writes to. */
export function embeddedDnsArgs(dnsPort: number, zone: string, secretFile: string): string[] {
  return ['--dns-port', String(dnsPort), '--dns-zone', zone, '--dns-tsig-key', `${TSIG_KEY_NAME}:hmac-sha256:${secretFile}`];
}
