/**
 * A minimal DNS client for the DNS-01 self-check: asks one nameserver directly (UDP, then TCP
 * when the answer is truncated), so the check sees what the CA will see and not a cached answer
 * of the system resolver.
 */
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { isIP } from 'node:net';
import { randomInt } from 'node:crypto';
import * as packet from 'dns-packet';

export type QueryType = 'TXT' | 'NS' | 'A' | 'AAAA' | 'SOA' | 'CNAME';

export interface DnsAnswer {
  rcode: string;
  /** TXT values (each joined from its strings) for TXT queries; addresses/names for others. */
  values: string[];
  authoritative: boolean;
  /** The owner of an SOA record in the answer or authority section: the zone the name is in. */
  zone?: string;
}

function encodeQuery(name: string, type: QueryType, id: number): Buffer {
  return packet.encode({ type: 'query', id, flags: 0, questions: [{ type, name, class: 'IN' }] });
}

function toAnswer(res: packet.Packet, type: string): DnsAnswer {
  const values: string[] = [];
  for (const ans of res.answers ?? []) {
    // dns-packet's answer union has no `data` on OPT records; everything we ask for has one.
    const a = ans as { type: string; data?: unknown };
    if (a.type !== type) continue;
    if (a.type === 'TXT') {
      const d = a.data as Buffer | Buffer[] | string | string[];
      const parts = Array.isArray(d) ? d : [d];
      values.push(parts.map((p) => (Buffer.isBuffer(p) ? p.toString('utf8') : String(p))).join(''));
    } else values.push(String(a.data));
  }
  const flags = res.flags ?? 0;
  const soa = [...(res.answers ?? []), ...(res.authorities ?? [])].find((r) => r.type === 'SOA');
  return {
    rcode: (res as { rcode?: string }).rcode ?? 'NOERROR',
    values,
    authoritative: (flags & packet.AUTHORITATIVE_ANSWER) !== 0,
    ...(soa ? { zone: soa.name.toLowerCase().replace(/\.$/, '') } : {}),
  };
}

function udpQuery(host: string, port: number, msg: Buffer, timeoutMs: number): Promise<packet.Packet> {
  return new Promise((resolve, reject) => {
    const sock = createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
    const timer = setTimeout(() => {
      sock.close();
      reject(new Error(`DNS query to ${host}:${port} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    sock.on('error', (err) => {
      clearTimeout(timer);
      sock.close();
      reject(err);
    });
    sock.on('message', (buf) => {
      const res = packet.decode(buf);
      if (res.id !== msg.readUInt16BE(0)) return; // not ours: keep waiting
      clearTimeout(timer);
      sock.close();
      resolve(res);
    });
    sock.send(msg, port, host);
  });
}

function tcpQuery(host: string, port: number, msg: Buffer, timeoutMs: number): Promise<packet.Packet> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host, port });
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`DNS query over TCP to ${host}:${port} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    sock.on('connect', () => sock.write(packet.streamEncode(packet.decode(msg))));
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        clearTimeout(timer);
        sock.destroy();
        resolve(packet.streamDecode(buf) as packet.Packet);
      }
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** Asks `server` ({host, port}) for `name`/`type`; falls back to TCP on truncation. */
export async function queryDns(server: { host: string; port: number }, name: string, type: QueryType, timeoutMs = 2000): Promise<DnsAnswer> {
  const msg = encodeQuery(name, type, randomInt(0, 65536));
  let res = await udpQuery(server.host, server.port, msg, timeoutMs);
  if ((res.flags ?? 0) & packet.TRUNCATED_RESPONSE) res = await tcpQuery(server.host, server.port, msg, timeoutMs);
  return toAnswer(res, type);
}
