/**
 * Where gangplank's outputs go: objects it owns (Secrets, Certificates made by the ingress-shim),
 * statuses and Events. One interface, two implementations: the state directory (embedded mode)
 * and the Kubernetes API (in a cluster).
 */
import type { TypedObject } from '../api/meta.js';

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
  /** Replaces the status of an object (whole status; the Kubernetes writer uses the status subresource). */
  writeStatus(ref: ObjectRef, status: Record<string, unknown>): Promise<void>;
  /**
   * The status last written for an object, when the writer keeps statuses apart from the objects
   * (state dir). In a cluster the status comes back on the object itself and this returns undefined.
   */
  readStatus(ref: ObjectRef): Record<string, unknown> | undefined;
  /** Creates or updates an object gangplank owns (server-side apply in a cluster). */
  applyObject(object: TypedObject): Promise<void>;
  deleteObject(ref: ObjectRef): Promise<void>;
  /** Records an Event on an object (deduplicated by reason and message). */
  event(ref: ObjectRef, type: EventType, reason: string, message: string): Promise<void>;
  /** Recent Events, newest last (for the admin API). */
  recentEvents(): readonly RecordedEvent[];
}

export function refOf(o: TypedObject): ObjectRef {
  return { apiVersion: o.apiVersion, kind: o.kind, namespace: o.metadata.namespace, name: o.metadata.name, uid: o.metadata.uid };
}
