/**
 * The TLS settings every websecure context shares: TLS 1.2 and 1.3 only, forward-secret AEAD
 * cipher suites, one session id context (so sessions resume across SNI contexts and workers).
 */
import { createSecureContext, type SecureContext } from 'node:tls';

export const MIN_VERSION = 'TLSv1.2' as const;

/** TLS 1.3 suites first, then ECDHE + AEAD suites for TLS 1.2 (Mozilla "intermediate"). */
export const CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/** OpenSSL refuses to resume a session made under another id context: the same everywhere. */
export const SESSION_ID_CONTEXT = 'gangplank-websecure';

/** Length node requires for session ticket keys (name, HMAC secret, AES key). */
export const TICKET_KEY_BYTES = 48;

export const SERVER_TLS_OPTIONS = {
  minVersion: MIN_VERSION,
  ciphers: CIPHERS,
  honorCipherOrder: true,
  sessionIdContext: SESSION_ID_CONTEXT,
} as const;

/** Internal handle of a SecureContext: setTicketKeys rotates keys on a context already in use. */
interface NativeContext {
  setTicketKeys(keys: Buffer): void;
}

/** Builds a server context for one certificate (~1.5 ms: call it per certificate revision, never per handshake). */
export function buildContext(certPem: string, keyPem: string, ticketKeys: Buffer): SecureContext {
  return createSecureContext({ ...SERVER_TLS_OPTIONS, cert: certPem, key: keyPem, ticketKeys });
}

/** Replaces the ticket keys of a context in place; connections using it are unaffected. */
export function setContextTicketKeys(ctx: SecureContext, keys: Buffer): void {
  (ctx.context as NativeContext).setTicketKeys(keys);
}
