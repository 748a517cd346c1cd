/**
 * Session ticket keys: 48 random bytes shared by every process serving websecure, so a session
 * made by one worker resumes on another. Kept in memory only and rotated.
 *
 * Node takes one key set per context (no list of previous keys), so tickets issued before a
 * rotation fall back to a full handshake once; the rotation period bounds how long a stolen key
 * can decrypt recorded sessions.
 */
import { randomBytes } from 'node:crypto';
import { TICKET_KEY_BYTES } from './options.js';

export const DEFAULT_ROTATION_MS = 12 * 3600_000;

export function newTicketKeys(): Buffer {
  return randomBytes(TICKET_KEY_BYTES);
}

/** Makes keys and replaces them every `periodMs`, telling `onKeys` (at once and after every rotation). */
export class TicketKeyRotator {
  private timer: NodeJS.Timeout | undefined;
  private keys: Buffer = newTicketKeys();

  constructor(
    private readonly onKeys: (keys: Buffer) => void,
    private readonly periodMs = DEFAULT_ROTATION_MS,
  ) {}

  current(): Buffer {
    return this.keys;
  }

  start(): void {
    this.onKeys(this.keys);
    this.timer ??= setInterval(() => this.rotate(), this.periodMs).unref();
  }

  rotate(): void {
    this.keys = newTicketKeys();
    this.onKeys(this.keys);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

export function checkTicketKeys(keys: Buffer): Buffer {
  if (keys.length !== TICKET_KEY_BYTES) throw new Error(`session ticket keys must be ${TICKET_KEY_BYTES} bytes, got ${keys.length}`);
  return keys;
}
