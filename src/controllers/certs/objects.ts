/**
 * Certificates reach the store in two shapes: parsed (from manifests, the API, or the state dir
 * at start-up: durations in ms, defaults filled) and raw (written this run by the ingress-shim
 * through writer.applyObject, which stores the manifest form with Go duration strings). The
 * controllers read both through here. Results are cached per object identity.
 */
import { parseCertificate, type Certificate, type ParseResult } from '../../api/certmanager.js';
import type { TypedObject } from '../../api/meta.js';

const cache = new WeakMap<object, ParseResult<Certificate>>();

function looksParsed(o: TypedObject): boolean {
  const spec = (o as { spec?: Record<string, unknown> }).spec;
  return !!spec && typeof spec.duration === 'number' && Array.isArray(spec.dnsNames) && typeof spec.privateKey === 'object' && spec.privateKey !== null && typeof spec.issuerRef === 'object';
}

export function asCertificate(o: TypedObject): ParseResult<Certificate> {
  let r = cache.get(o);
  if (!r) {
    r = looksParsed(o) ? { ok: true, object: o as Certificate } : parseCertificate(o);
    cache.set(o, r);
  }
  return r;
}
