/**
 * HTTP/2 cleartext (h2c) connections to backends, for Services annotated
 * `traefik.ingress.kubernetes.io/service.serversscheme: h2c` (gRPC). undici speaks no h2c, so
 * this keeps one node:http2 session per origin, multiplexing every request to it, and opens a
 * new one when the old one closes or is told to go away.
 */
import { connect, type ClientHttp2Session } from 'node:http2';
import type { UpstreamEndpoint } from '../controllers/routes/types.js';

export interface H2SessionOptions {
  connectMs: number;
  /** A session with no stream for this long is closed. Default 60 s. */
  idleMs?: number;
}

export class H2Sessions {
  private readonly sessions = new Map<string, ClientHttp2Session>();

  constructor(private readonly o: H2SessionOptions) {}

  /** The live session to an endpoint, connecting when there is none. */
  get(ep: UpstreamEndpoint): ClientHttp2Session {
    const have = this.sessions.get(ep.origin);
    if (have !== undefined && !have.closed && !have.destroyed) return have;
    const host = ep.address.includes(':') ? `[${ep.address}]` : ep.address;
    const s = connect(`http://${host}:${ep.port}`, { peerMaxConcurrentStreams: 1000, settings: { enablePush: false } });
    const origin = ep.origin;
    this.sessions.set(origin, s);
    const timer = setTimeout(() => {
      s.destroy(Object.assign(new Error(`h2c connect to ${origin} timed out after ${this.o.connectMs} ms`), { code: 'UND_ERR_CONNECT_TIMEOUT' }));
    }, this.o.connectMs);
    s.once('connect', () => clearTimeout(timer));
    // Streams report failures to their requests; the session's own error needs a listener only.
    s.on('error', () => undefined);
    const forget = () => {
      clearTimeout(timer);
      if (this.sessions.get(origin) === s) this.sessions.delete(origin);
    };
    s.once('close', forget);
    s.once('goaway', forget);
    s.setTimeout(this.o.idleMs ?? 60_000, () => s.close());
    return s;
  }

  /** Closes sessions to origins no table mentions any more (their streams finish first). */
  retain(live: ReadonlySet<string>): void {
    for (const [origin, s] of this.sessions) {
      if (!live.has(origin)) {
        this.sessions.delete(origin);
        s.close();
      }
    }
  }

  size(): number {
    return this.sessions.size;
  }

  close(): void {
    for (const s of this.sessions.values()) s.destroy();
    this.sessions.clear();
  }
}
