/**
 * The value of an ExternalDNS ownership TXT record:
 * `heritage=external-dns,external-dns/owner=<owner-id>,external-dns/resource=<kind/ns/name>`
 * (labels after heritage sorted by key, comma separated, no spaces). ExternalDNS keeps it with
 * surrounding double quotes in its own endpoint; in a DNS server the quotes are the
 * presentation form of one character-string, so the TXT data itself carries no quotes. Our
 * DnsRecord holds TXT data without quotes, so the unquoted form is what gangplank writes.
 */

export const HERITAGE = 'external-dns';
export const OWNER_LABEL = 'owner';
export const RESOURCE_LABEL = 'resource';

/** Serializes labels the way ExternalDNS does: heritage first, then `external-dns/<key>=<value>` sorted by key. */
export function formatLabels(labels: Record<string, string>, opts: { quoted?: boolean } = {}): string {
  const tokens = [`heritage=${HERITAGE}`];
  for (const key of Object.keys(labels).sort()) tokens.push(`${HERITAGE}/${key}=${labels[key]}`);
  const text = tokens.join(',');
  return opts.quoted ? `"${text}"` : text;
}

/**
 * Parses an ownership TXT value (quoted or not). Returns undefined unless it carries
 * `heritage=external-dns`, like ExternalDNS: such a TXT is not an ownership record.
 * Tokens that are not exactly `key=value` are ignored; `external-dns/<key>` become labels.
 */
export function parseLabels(text: string): Record<string, string> | undefined {
  const body = text.replace(/^"+|"+$/g, '');
  const labels: Record<string, string> = {};
  let heritage = false;
  for (const token of body.split(',')) {
    const parts = token.split('=');
    if (parts.length !== 2) continue;
    const [key = '', value = ''] = parts;
    if (key === 'heritage') {
      if (value !== HERITAGE) return undefined;
      heritage = true;
      continue;
    }
    if (key.startsWith(HERITAGE)) {
      labels[key.startsWith(`${HERITAGE}/`) ? key.slice(HERITAGE.length + 1) : key] = value;
    }
  }
  return heritage ? labels : undefined;
}
