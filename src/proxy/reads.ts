/**
 * Reading sockets into one shared buffer instead of a new one per read.
 *
 * Node allocates a fresh ArrayBuffer for every read of a socket and hands it on through the
 * stream machinery (push, 'data' events, readable bookkeeping). For a proxy that parses each read
 * at once, that is pure cost: the allocation, the stream work, and the sweep of those
 * ArrayBuffers in every young-generation collection (a large share of each pause).
 *
 * Sockets the proxy connects itself use net's documented `onread` option. Accepted sockets have
 * no such option, so `readInto` installs the same mechanism on one: net's own user-buffer read
 * path (the fields `onread` sets, found by their names on a Socket, and the handle's
 * `useUserBuffer`). When this Node does not have them, `readInto` says so and the caller reads
 * through 'data' events as before.
 *
 * The contract, as for `onread`: the bytes passed to the callback are valid only until it returns;
 * whatever must outlive it is copied. Returning false stops reading until socket.resume().
 */
import { Socket } from 'node:net';

/** Called with each read: `n` bytes at the start of `buf` (the shared buffer). */
export type ReadCallback = (n: number, buf: Buffer) => boolean;

/** The one buffer accepted sockets read into (each read is parsed before the next). */
const CLIENT_READ_BUF = Buffer.allocUnsafe(64 * 1024);

/**
 * The one buffer the upstream HTTP/1.1 client's connections read into, through net's `onread`
 * (src/proxy/h1client.ts), under the same contract. Sweeping Node's per-read ArrayBuffers was 40%
 * of every young-generation collection of the proxy before either side read this way.
 */
export const UPSTREAM_READ_BUF = Buffer.allocUnsafe(64 * 1024);

interface UserBufferHandle {
  useUserBuffer?: (buf: Uint8Array) => void;
}

/** net's user-buffer fields on a Socket (what its `onread` option sets), when this Node has them. */
const fields = ((): { buffer: symbol; callback: symbol; generator: symbol } | undefined => {
  const probe = new Socket();
  const syms = Object.getOwnPropertySymbols(probe);
  probe.destroy();
  const find = (name: string): symbol | undefined => syms.find((s) => s.description === name);
  const buffer = find('kBuffer');
  const callback = find('kBufferCb');
  const generator = find('kBufferGen');
  return buffer && callback && generator ? { buffer, callback, generator } : undefined;
})();

/** True when accepted sockets can read into the shared buffer on this Node (tested, so a Node upgrade that drops it is seen). */
export const sharedClientReads = fields !== undefined;

/**
 * Makes an accepted socket deliver its reads to `callback` from the shared client buffer instead
 * of as 'data' events. Call it in the 'connection' handler, before the first read. Returns false
 * (and changes nothing) when not possible; the socket then reads as usual.
 * Once on, it stays on for the socket's life: a new owner of the socket (a server it is handed
 * to) gets its bytes from the callback, e.g. by pushing copies (see pushCopy).
 */
export function readInto(socket: Socket, callback: ReadCallback): boolean {
  const handle = (socket as unknown as { _handle: UserBufferHandle | null })._handle;
  if (fields === undefined || handle === null || typeof handle.useUserBuffer !== 'function') return false;
  const s = socket as unknown as Record<symbol, unknown>;
  if (s[fields.buffer] || s[fields.generator] !== null) return false;
  s[fields.buffer] = CLIENT_READ_BUF;
  s[fields.callback] = callback;
  handle.useUserBuffer(CLIENT_READ_BUF);
  return true;
}

/** Feeds a read to the socket's readable side as a copy, for whoever reads it as a stream now. */
export function pushCopy(socket: Socket, n: number, buf: Buffer): boolean {
  return socket.push(Buffer.from(buf.subarray(0, n)));
}
