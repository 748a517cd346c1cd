/** HTTP/2 frames built by hand, for tests that speak the wire protocol to a server directly. */
import { FRAME_HEADER, frameHeader } from '../../src/proxy/h2/frames.js';

/** One whole frame: its 9-byte header, then `payload`. */
export function h2frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEADER + payload.length);
  frameHeader(b, 0, payload.length, type, flags, stream);
  payload.copy(b, FRAME_HEADER);
  return b;
}
