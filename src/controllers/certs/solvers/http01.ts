/**
 * HTTP-01 challenges waiting to be answered. The router serves
 * /.well-known/acme-challenge/<token> from here; the ACME issuer adds and removes tokens.
 */
export const HTTP01_PATH_PREFIX = '/.well-known/acme-challenge/';

export interface Http01Responder {
  /** The key authorization to answer for `token`, or undefined (answer 404). */
  get(token: string): string | undefined;
}

export class Http01Registry implements Http01Responder {
  private readonly tokens = new Map<string, string>();
  /** Told of every change, so worker processes can answer the same tokens. */
  onChange?: (token: string, keyAuthorization: string | undefined) => void;

  get(token: string): string | undefined {
    return this.tokens.get(token);
  }

  set(token: string, keyAuthorization: string): void {
    this.tokens.set(token, keyAuthorization);
    this.onChange?.(token, keyAuthorization);
  }

  delete(token: string): void {
    this.tokens.delete(token);
    this.onChange?.(token, undefined);
  }

  entries(): [string, string][] {
    return [...this.tokens];
  }

  get size(): number {
    return this.tokens.size;
  }

  /** The token of a request path, or undefined when the path is not a challenge path. */
  static tokenOf(path: string): string | undefined {
    if (!path.startsWith(HTTP01_PATH_PREFIX)) return undefined;
    const t = path.slice(HTTP01_PATH_PREFIX.length).split('?')[0]!;
    // Tokens are base64url (RFC 8555 8.1); anything else cannot be ours.
    return /^[A-Za-z0-9_-]+$/.test(t) ? t : undefined;
  }
}
