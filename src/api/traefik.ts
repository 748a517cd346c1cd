/** Traefik annotations gangplank honours, parsed in one place. */
import type { StickyCookie, UpstreamScheme } from '../controllers/routes/types.js';

const R = 'traefik.ingress.kubernetes.io/router.';
const S = 'traefik.ingress.kubernetes.io/service.';

export interface ServiceOptions {
  scheme: UpstreamScheme;
  passHostHeader: boolean;
  sticky?: StickyCookie;
  errors: string[];
}

export interface RouterOptions {
  /** undefined = every entrypoint. */
  entrypoints?: string[];
  tls: boolean;
  priority?: number;
  errors: string[];
}

function bool(v: string | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  const s = v.trim().toLowerCase();
  if (s === 'true') return true;
  if (s === 'false') return false;
  return undefined;
}

export function serviceOptions(annotations: Record<string, string> | undefined): ServiceOptions {
  const a = annotations ?? {};
  const errors: string[] = [];
  let scheme: UpstreamScheme = 'http';
  const rawScheme = a[S + 'serversscheme'];
  if (rawScheme !== undefined) {
    const s = rawScheme.trim().toLowerCase();
    if (s === 'http' || s === 'https' || s === 'h2c') scheme = s;
    else errors.push(`${S}serversscheme: must be http, https or h2c, not ${JSON.stringify(rawScheme)}`);
  }
  const pass = bool(a[S + 'passhostheader']);
  if (a[S + 'passhostheader'] !== undefined && pass === undefined) errors.push(`${S}passhostheader: must be "true" or "false"`);
  let sticky: StickyCookie | undefined;
  if (bool(a[S + 'sticky.cookie']) === true) {
    const sameSite = a[S + 'sticky.cookie.samesite']?.trim().toLowerCase();
    const maxAge = a[S + 'sticky.cookie.maxage'];
    sticky = {
      name: a[S + 'sticky.cookie.name']?.trim() || '',
      secure: bool(a[S + 'sticky.cookie.secure']) ?? false,
      httpOnly: bool(a[S + 'sticky.cookie.httponly']) ?? false,
    };
    if (sameSite === 'none' || sameSite === 'lax' || sameSite === 'strict') sticky.sameSite = sameSite;
    else if (sameSite) errors.push(`${S}sticky.cookie.samesite: must be none, lax or strict`);
    if (maxAge !== undefined) {
      const n = Number(maxAge);
      if (Number.isInteger(n)) sticky.maxAge = n;
      else errors.push(`${S}sticky.cookie.maxage: must be an integer number of seconds`);
    }
  }
  return { scheme, passHostHeader: pass ?? true, sticky, errors };
}

export function routerOptions(annotations: Record<string, string> | undefined): RouterOptions {
  const a = annotations ?? {};
  const errors: string[] = [];
  let entrypoints: string[] | undefined;
  const eps = a[R + 'entrypoints'];
  if (eps !== undefined) entrypoints = eps.split(',').map((s) => s.trim()).filter(Boolean);
  const tls = bool(a[R + 'tls']) ?? false;
  let priority: number | undefined;
  if (a[R + 'priority'] !== undefined) {
    const n = Number(a[R + 'priority']);
    if (Number.isInteger(n)) priority = n;
    else errors.push(`${R}priority: must be an integer`);
  }
  return { entrypoints, tls, priority, errors };
}
