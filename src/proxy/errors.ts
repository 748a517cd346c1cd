/** How backend failures map to status codes and metric kinds. */

export type UpstreamErrorKind = 'connect' | 'timeout' | 'reset' | 'tls' | 'protocol' | 'other';

const KIND_BY_CODE: Record<string, UpstreamErrorKind | undefined> = {
  ECONNREFUSED: 'connect',
  EHOSTUNREACH: 'connect',
  ENETUNREACH: 'connect',
  EADDRNOTAVAIL: 'connect',
  ENOTFOUND: 'connect',
  EAI_AGAIN: 'connect',
  UND_ERR_CONNECT_TIMEOUT: 'timeout',
  UND_ERR_HEADERS_TIMEOUT: 'timeout',
  UND_ERR_BODY_TIMEOUT: 'timeout',
  ETIMEDOUT: 'timeout',
  ECONNRESET: 'reset',
  EPIPE: 'reset',
  UND_ERR_SOCKET: 'reset',
  UND_ERR_CLOSED: 'reset',
  UND_ERR_DESTROYED: 'reset',
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: 'protocol',
  UND_ERR_HEADERS_OVERFLOW: 'protocol',
  UND_ERR_INVALID_ARG: 'protocol',
  UND_ERR_NOT_SUPPORTED: 'protocol',
};

export function upstreamErrorKind(err: Error): UpstreamErrorKind {
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== undefined) {
    const k = KIND_BY_CODE[code];
    if (k !== undefined) return k;
    if (code.startsWith('HPE_')) return 'protocol';
    if (code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL') || code.includes('CERT') || code === 'DEPTH_ZERO_SELF_SIGNED_CERT') return 'tls';
  }
  return 'other';
}

/** True when the connection was never established: the endpoint is marked down and another one tried. */
export function isConnectFailure(err: Error): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'EADDRNOTAVAIL';
}

/** 504 for timeouts, 502 for everything else a backend can do wrong. */
export function statusForUpstreamError(kind: UpstreamErrorKind): number {
  return kind === 'timeout' ? 504 : 502;
}
