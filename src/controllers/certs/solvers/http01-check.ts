/**
 * HTTP-01 self-check: before asking the CA to validate, fetch our own challenge URL the way the
 * CA will (name resolved through the given nameservers or the system resolver, plain HTTP), so a
 * route that is not live yet costs a retry here instead of a failed order.
 */
import { request } from 'node:http';
import { isIP } from 'node:net';
import { lookup } from 'node:dns/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseHostPort } from '../../../api/certmanager.js';
import { queryDns } from './dnsquery.js';
import { HTTP01_PATH_PREFIX } from './http01.js';

export interface Http01CheckOptions {
  /** Port the CA connects to (80 in production). */
  port?: number;
  /** Nameservers (host:port) to resolve the name with; the system resolver when empty. */
  nameservers?: string[];
  timeoutMs?: number;
  intervalMs?: number;
  skip?: boolean;
}

async function resolve(name: string, o: Http01CheckOptions): Promise<string> {
  if (isIP(name)) return name;
  if (o.nameservers?.length) {
    const hp = parseHostPort(o.nameservers[0]!, 53);
    if (!hp) throw new Error(`nameserver "${o.nameservers[0]}" is not host:port`);
    const a = await queryDns(hp, name, 'A');
    if (!a.values.length) throw new Error(`${name} has no A record at ${hp.host}:${hp.port} (${a.rcode})`);
    return a.values[0]!;
  }
  return (await lookup(name)).address;
}

function fetchOnce(address: string, port: number, host: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((res, rej) => {
    const r = request({ host: address, port, path: HTTP01_PATH_PREFIX + token, headers: { host }, timeout: 5000 }, (resp) => {
      let body = '';
      resp.setEncoding('utf8');
      resp.on('data', (d: string) => (body += d.length + body.length > 4096 ? '' : d));
      resp.on('end', () => res({ status: resp.statusCode ?? 0, body }));
    });
    r.on('timeout', () => r.destroy(new Error('timed out')));
    r.on('error', rej);
    r.end();
  });
}

/** Waits until http://<name>/.well-known/acme-challenge/<token> answers the key authorization. */
export async function waitForHttp01(name: string, token: string, keyAuthorization: string, o: Http01CheckOptions = {}): Promise<void> {
  if (o.skip) return;
  const deadline = Date.now() + (o.timeoutMs ?? 120_000);
  const port = o.port ?? 80;
  for (;;) {
    let last: string;
    try {
      const addr = await resolve(name, o);
      const r = await fetchOnce(addr, port, name, token);
      if (r.status === 200 && r.body.trim() === keyAuthorization) return;
      last = `http://${name}:${port}${HTTP01_PATH_PREFIX}${token} answered ${r.status}${r.status === 200 ? ' with a different body' : ''}`;
    } catch (err) {
      last = `http://${name}:${port}${HTTP01_PATH_PREFIX}${token}: ${(err as Error).message}`;
    }
    if (Date.now() > deadline) throw new Error(`HTTP-01 self-check failed: ${last}`);
    await sleep(o.intervalMs ?? 1000);
  }
}
