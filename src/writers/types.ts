/**
 * Where gangplank's outputs go: object statuses, Secrets and Events. One interface, two
 * implementations: the state directory (embedded mode) and the Kubernetes API (in a cluster).
 */
import type { Secret } from '../api/types.js';

export interface ObjectRef {
  apiVersion?: string;
  kind: string;
  namespace?: string;
  name: string;
  uid?: string;
}

export type EventType = 'Normal' | 'Warning';

export interface RecordedEvent {
  time: string;
  involved: ObjectRef;
  type: EventType;
  reason: string;
  message: string;
  count: number;
}

export interface Writer {
  /** Replaces the status of an object (merge semantics are the implementation's: whole status). */
  writeStatus(ref: ObjectRef, status: Record<string, unknown>): Promise<void>;
  /** Creates or updates a Secret gangplank owns. */
  applySecret(secret: Secret): Promise<void>;
  deleteSecret(namespace: string, name: string): Promise<void>;
  /** Records an Event on an object (deduplicated by reason and message). */
  event(ref: ObjectRef, type: EventType, reason: string, message: string): Promise<void>;
}
