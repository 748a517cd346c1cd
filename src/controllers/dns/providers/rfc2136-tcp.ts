/**
 * One DNS exchange over TCP (RFC 1035 4.2.2 / RFC 7766): send a length-framed message, read
 * framed answers until the caller says the exchange is complete. Used for UPDATE (one answer)
 * and AXFR (many). TCP because UPDATE batches and zone transfers outgrow UDP.
 */
import { connect } from 'node:net';
import { TcpFrameReader, frameTcp } from '../../../dnsserver/wire.js';

export class DnsTimeoutError extends Error {
  override readonly name = 'DnsTimeoutError';
}

export interface TcpExchangeOptions {
  host: string;
  port: number;
  /** Connect and whole-exchange deadline in milliseconds. */
  timeoutMs: number;
  /** Called for each answer message; return true when it was the last one. */
  onMessage(msg: Buffer): boolean;
}

export function tcpExchange(request: Buffer, o: TcpExchangeOptions): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const reader = new TcpFrameReader();
    let settled = false;
    const sock = connect({ host: o.host, port: o.port });
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(
      () => finish(new DnsTimeoutError(`no complete answer from ${o.host}:${o.port} within ${o.timeoutMs} ms`)),
      o.timeoutMs,
    );
    sock.once('connect', () => sock.write(frameTcp(request)));
    sock.on('data', (chunk: Buffer) => {
      try {
        for (const m of reader.push(chunk)) {
          if (o.onMessage(Buffer.from(m))) return finish();
        }
      } catch (err) {
        finish(err as Error);
      }
    });
    sock.once('error', (err) => finish(new Error(`DNS over TCP to ${o.host}:${o.port} failed: ${err.message}`, { cause: err })));
    sock.once('close', () => finish(new Error(`${o.host}:${o.port} closed the connection before the answer was complete`)));
  });
}
