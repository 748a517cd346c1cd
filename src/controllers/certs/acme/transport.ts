/**
 * How acme-client talks to an ACME server we manage: its TLS trust (caBundle, skipTLSVerify) per
 * server origin, no silent in-library retries (the controller retries with backoff and resumes
 * the order), and rate limits (429) surfaced as errors carrying Retry-After.
 */
import { Agent } from 'node:https';
import * as acme from 'acme-client';
import { IssuerError } from '../issuers/types.js';

interface Entry {
  agent?: Agent;
}

const servers = new Map<string, Entry>();
let installed = false;

function originOf(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

/** Seconds from a Retry-After header (delta-seconds or HTTP date); undefined when absent or unreadable. */
export function parseRetryAfter(v: unknown, now = Date.now()): number | undefined {
  if (typeof v !== 'string' || !v.trim()) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim());
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, Math.ceil((t - now) / 1000));
}

interface AxiosLikeConfig {
  url?: string;
  httpsAgent?: unknown;
  retryAttempt?: number;
}
interface AxiosLikeResponse {
  status: number;
  headers: Record<string, unknown>;
  data?: unknown;
  config: AxiosLikeConfig;
}

function install(): void {
  if (installed) return;
  installed = true;
  const ax = acme.axios as unknown as {
    interceptors: {
      request: { use(f: (c: AxiosLikeConfig) => AxiosLikeConfig): void };
      response: { use(f: (r: AxiosLikeResponse) => AxiosLikeResponse): void };
    };
  };
  ax.interceptors.request.use((config) => {
    const e = servers.get(originOf(config.url) ?? '');
    if (!e) return config;
    if (e.agent) config.httpsAgent = e.agent;
    // acme-client retries 429 and 5xx itself, sleeping for Retry-After (hours, for rate limits).
    // Starting its counter past its limit turns that off for servers we manage.
    config.retryAttempt = 1_000_000;
    return config;
  });
  ax.interceptors.response.use((resp) => {
    if (resp.status === 429 && servers.has(originOf(resp.config.url) ?? '')) {
      const retryAfter = parseRetryAfter(resp.headers['retry-after']);
      const detail = (resp.data as { detail?: string } | undefined)?.detail ?? 'too many requests';
      throw new IssuerError('RateLimited', `ACME server ${originOf(resp.config.url)} rate-limited the request: ${detail}${retryAfter !== undefined ? ` (retry after ${retryAfter}s)` : ''}`, {
        retryAfter,
      });
    }
    return resp;
  });
}

/** The https.Agent registered for a URL's origin (caBundle / skipTLSVerify), if any. */
export function agentFor(url: string): Agent | undefined {
  return servers.get(originOf(url) ?? '')?.agent;
}

/** Registers an ACME directory's TLS settings; call before any request to it. */
export function registerAcmeServer(directoryUrl: string, tls: { caPem?: string; skipTLSVerify?: boolean } = {}): void {
  install();
  const origin = originOf(directoryUrl);
  if (!origin) throw new Error(`ACME server URL ${directoryUrl} is not a URL`);
  const agent = tls.caPem || tls.skipTLSVerify ? new Agent({ keepAlive: true, ...(tls.caPem ? { ca: tls.caPem } : {}), rejectUnauthorized: !tls.skipTLSVerify }) : undefined;
  const prev = servers.get(origin);
  prev?.agent?.destroy();
  servers.set(origin, { ...(agent ? { agent } : {}) });
}
