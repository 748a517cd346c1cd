/** Turns the text of a manifest file into typed objects and precise rejections. Pure; no I/O. */
import { parseAllDocuments } from 'yaml';
import type { TypedObject } from '../api/meta.js';
import { isKnownKind, parseObject } from '../api/validate.js';
import type { Rejection } from '../store/store.js';

export interface ParsedFile {
  objects: { object: TypedObject; doc: number }[];
  rejected: Rejection[];
  /** Documents of kinds gangplank does not read (ignored, logged at debug level). */
  ignored: { doc: number; kind: string; apiVersion: string }[];
}

export function parseManifest(source: string, text: string): ParsedFile {
  const out: ParsedFile = { objects: [], rejected: [], ignored: [] };
  let docs: unknown[];
  if (source.endsWith('.json')) {
    try {
      docs = [JSON.parse(text)];
    } catch (err) {
      out.rejected.push({ origin: { source, doc: 0 }, errors: [{ path: '(document)', message: `invalid JSON: ${(err as Error).message}` }] });
      return out;
    }
  } else {
    docs = [];
    const parsed = parseAllDocuments(text, { prettyErrors: true, uniqueKeys: true });
    const list = Array.isArray(parsed) ? parsed : [parsed];
    for (let i = 0; i < list.length; i++) {
      const d = list[i]!;
      if (d.errors.length) {
        const e = d.errors[0]!;
        out.rejected.push({ origin: { source, doc: i }, errors: [{ path: '(document)', message: `invalid YAML: ${e.message.split('\n')[0]}` }] });
        docs.push(undefined);
        continue;
      }
      docs.push(d.toJS({ maxAliasCount: 100 }));
    }
  }
  docs.forEach((raw, doc) => addDocument(out, source, doc, raw));
  return out;
}

function addDocument(out: ParsedFile, source: string, doc: number, raw: unknown): void {
  if (raw === undefined || raw === null) return; // empty document (e.g. a trailing ---)
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    out.rejected.push({ origin: { source, doc }, errors: [{ path: '(document)', message: 'must be a mapping with apiVersion, kind and metadata' }] });
    return;
  }
  const r = raw as { kind?: unknown; apiVersion?: unknown; items?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
  if (r.kind === 'List' && Array.isArray(r.items)) {
    // A v1 List: each item is validated alone; errors name the item.
    r.items.forEach((item, i) => {
      const before = out.rejected.length;
      addDocument(out, source, doc, item);
      for (const rej of out.rejected.slice(before)) rej.errors = rej.errors.map((e) => ({ ...e, path: `items[${i}].${e.path}` }));
    });
    return;
  }
  if (typeof r.kind !== 'string' || typeof r.apiVersion !== 'string') {
    out.rejected.push({ origin: { source, doc }, errors: [{ path: typeof r.kind !== 'string' ? 'kind' : 'apiVersion', message: 'is required' }] });
    return;
  }
  if (!isKnownKind(r.kind)) {
    out.ignored.push({ doc, kind: r.kind, apiVersion: r.apiVersion });
    return;
  }
  if (!isKnownKind(r.kind, r.apiVersion)) {
    out.rejected.push({ origin: { source, doc }, kind: r.kind, errors: [{ path: 'apiVersion', message: `${r.apiVersion} is not supported for ${r.kind}` }] });
    return;
  }
  const res = parseObject(raw);
  if (res.ok) out.objects.push({ object: res.object, doc });
  else
    out.rejected.push({
      origin: { source, doc },
      kind: r.kind,
      name: typeof r.metadata?.name === 'string' ? r.metadata.name : undefined,
      namespace: typeof r.metadata?.namespace === 'string' ? r.metadata.namespace : undefined,
      errors: res.errors,
    });
}
