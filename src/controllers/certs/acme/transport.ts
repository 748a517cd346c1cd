/**
 * How gangplank talks to one ACME server: a transport per ACME issuer that owns its TLS trust
 * (caBundle, skipTLSVerify) and connection pool, sends acme-client's requests without
 * acme-client's silent retries (the controller retries with backoff and resumes the order), and
 * turns failures into IssuerErrors that say what failed: rate limits (429) carry Retry-After,
 * connection and TLS failures name the server and the cause.
 *
 * Why not acme-client's shared axios instance: its interceptors are process-wide. Two issuers of
 * one server used to share (and replace, destroying in-flight sockets) one per-origin agent, and
 * acme-client's retry interceptor dereferences the missing response of any failed connection
 * once retries are off, so a CA's refusal read "Cannot read properties of undefined (reading
 * 'config')". Each transport here has its own axios instance with no interceptors.
 */
import { Agent } from 'node:https';
import * as acme from 'acme-client';
import { IssuerError } from '../issuers/types.js';

/** Seconds from a Retry-After header (delta-seconds or HTTP date); undefined when absent or unreadable. */
export function parseRetryAfter(v: unknown, now = Date.now()): number | undefined {
  if (typeof v !== 'string' || !v.trim()) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim());
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, Math.ceil((t - now) / 1000));
}

export interface AcmeTlsOptions {
  /** PEM of the CAs to trust for the server's TLS certificate (spec.acme.caBundle). */
  caPem?: string;
  skipTLSVerify?: boolean;
}

/** What acme-client reads from a response (the subset of an axios response it uses). */
export interface AcmeResponse {
  status: number;
  headers: Record<string, unknown>;
  data?: unknown;
}

/** The request options acme-client's HttpClient passes (axios request config). */
type RequestOptions = Record<string, unknown> & { headers?: Record<string, string> };

interface AxiosLike {
  request(config: Record<string, unknown>): Promise<AcmeResponse>;
}

/** A failed request as axios reports it: a code and message, but no response. */
interface TransportFailure {
  code?: string;
  message?: string;
  response?: unknown;
}

/** Per-request deadline: an ACME server that accepts a connection and never answers must not hang an issuance. */
const REQUEST_TIMEOUT_MS = 30_000;

export class AcmeTransport {
  readonly origin: string;
  private readonly agent: Agent;
  private readonly ax: AxiosLike;

  constructor(
    server: string,
    tls: AcmeTlsOptions = {},
    /** Called once per HTTP request sent (the gangplank_acme_requests_total metric). */
    private readonly onRequest?: () => void,
  ) {
    let origin: string;
    try {
      origin = new URL(server).origin;
    } catch {
      throw new IssuerError('InvalidSpec', `ACME server URL ${JSON.stringify(server)} is not a URL; set spec.acme.server to the directory URL`, { retryable: false });
    }
    this.origin = origin;
    // Always an agent of its own, also with the system's roots: Node's global agent would pool one
    // issuer's sockets with every other https client in the process. Idle keep-alive sockets close
    // after the timeout, so a replaced issuer's pool drains by itself (it is never destroyed: an
    // issuance may still be using it).
    this.agent = new Agent({ keepAlive: true, timeout: 60_000, ...(tls.caPem ? { ca: tls.caPem } : {}), rejectUnauthorized: !tls.skipTLSVerify });
    // A fresh instance: acme-client's defaults (node http adapter, its User-Agent), none of its interceptors.
    this.ax = (acme.axios as unknown as { create(c: Record<string, unknown>): AxiosLike }).create({});
  }

  /** Sends one request to the ACME server; any HTTP status but 429 is returned, for acme-client to interpret. */
  async request(url: string, method: string, opts: RequestOptions = {}): Promise<AcmeResponse> {
    this.onRequest?.();
    let resp: AcmeResponse;
    try {
      resp = await this.ax.request({
        ...opts,
        url,
        method,
        headers: { ...(opts.headers ?? {}), 'Content-Type': 'application/jose+json' },
        validateStatus: () => true,
        timeout: REQUEST_TIMEOUT_MS,
        httpsAgent: this.agent,
      });
    } catch (err) {
      const f = (err ?? {}) as TransportFailure;
      const why = f.code && !(f.message ?? '').includes(f.code) ? `${f.code}: ${f.message}` : (f.message ?? String(err));
      throw new IssuerError(
        'ACMEServerUnreachable',
        `ACME server ${this.origin}: ${method.toUpperCase()} ${url} failed: ${why}; check that the server is reachable from gangplank and its TLS settings (spec.acme.caBundle, skipTLSVerify)`,
        { cause: err },
      );
    }
    if (resp.status === 429) {
      const retryAfter = parseRetryAfter(resp.headers['retry-after']);
      const detail = (resp.data as { detail?: string } | undefined)?.detail ?? 'too many requests';
      throw new IssuerError('RateLimited', `ACME server ${this.origin} rate-limited the request: ${detail}${retryAfter !== undefined ? ` (retry after ${retryAfter}s)` : ''}`, { retryAfter });
    }
    return resp;
  }

  /** GETs a JSON resource (directory, renewalInfo); a status other than 200 is an error. */
  async getJson(url: string): Promise<unknown> {
    const resp = await this.request(url, 'get');
    if (resp.status !== 200) throw new Error(`GET ${url} answered ${resp.status}: ${typeof resp.data === 'string' ? resp.data : JSON.stringify(resp.data)}`);
    return typeof resp.data === 'string' ? JSON.parse(resp.data) : resp.data;
  }

  /**
   * Routes every request of an acme-client Client through this transport. acme-client 5.4 sends
   * all of them through `client.http.request(url, method, opts)`; checked here so an upgrade that
   * changes that fails loudly instead of silently using the shared instance.
   */
  attach<C extends acme.Client>(client: C): C {
    const http = (client as unknown as { http?: { request?: unknown } }).http;
    if (!http || typeof http.request !== 'function')
      throw new Error('acme-client internals changed: Client.http.request is missing; gangplank supports acme-client 5.4 (see src/controllers/certs/acme/transport.ts)');
    http.request = (url: string, method: string, opts?: RequestOptions) => this.request(url, method, opts ?? {});
    return client;
  }
}
