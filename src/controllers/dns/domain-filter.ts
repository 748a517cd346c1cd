/**
 * ExternalDNS's --domain-filter / --exclude-domains matching: `example.com` matches
 * `example.com` and any name below it (`www.example.com`, `*.example.com`); `.example.com`
 * matches only names below it. No filter matches everything; an exclusion always wins.
 */

function prepare(filters: readonly string[]): string[] {
  return filters.map((f) => f.trim().toLowerCase().replace(/\.$/, ''));
}

function matchAny(filters: readonly string[], name: string, whenEmpty: boolean): boolean {
  if (filters.length === 0) return whenEmpty;
  const n = name.toLowerCase().replace(/\.$/, '');
  for (const f of filters) {
    if (f === '') return whenEmpty;
    if (f.startsWith('.')) {
      if (n.endsWith(f)) return true;
    } else if (n === f || n.endsWith('.' + f)) {
      return true;
    }
  }
  return false;
}

export interface DomainFilter {
  include: readonly string[];
  exclude: readonly string[];
}

export function domainFilter(include: readonly string[] = [], exclude: readonly string[] = []): DomainFilter {
  return { include: prepare(include), exclude: prepare(exclude) };
}

/** Why a name is outside the filter, or undefined when it is inside. */
export function domainFilterMiss(f: DomainFilter, name: string): string | undefined {
  if (!matchAny(f.include, name, true)) return `outside --domain-filter (${f.include.join(', ')})`;
  if (matchAny(f.exclude, name, false)) return `excluded by --exclude-domains (${f.exclude.join(', ')})`;
  return undefined;
}

export function matchesDomainFilter(f: DomainFilter, name: string): boolean {
  return domainFilterMiss(f, name) === undefined;
}
