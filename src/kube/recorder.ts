import { randomBytes } from 'node:crypto';
import type { ApiClient, ResourceType } from './api-client.ts';
import type { Logger } from './log.ts';
import type { KubeObject } from './wire.ts';

export type EventType = 'Normal' | 'Warning';

/** Records Kubernetes Events about objects (what `kubectl describe` shows). */
export interface Recorder {
  /**
   * Records an event on `regarding`. Never throws and never blocks the caller's reconcile:
   * a failed write is logged. Repeats of the same (object, type, reason, note) within the
   * recorder's memory are folded into one Event's `series` rather than new objects.
   */
  event(regarding: KubeObject, type: EventType, reason: string, note: string, action?: string): void;
}

export const EVENTS: ResourceType = {
  group: 'events.k8s.io',
  version: 'v1',
  resource: 'events',
  scope: 'Namespaced',
  kind: 'Event',
};

const MAX_REMEMBERED = 4096;

/** Microsecond-precision RFC 3339 time, as Event.eventTime requires. */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/**
 * An events.k8s.io/v1 recorder. Remembers at most 4096 recent events (oldest forgotten first)
 * to fold repeats into a series, so memory is bounded whatever the event rate.
 */
export function createRecorder(
  client: ApiClient,
  controller: string,
  instance: string,
  log: Logger,
): Recorder {
  const seen = new Map<string, { namespace: string; name: string; count: number }>();
  return {
    event(regarding, type, reason, note, action = reason) {
      const meta = regarding.metadata ?? {};
      const namespace = meta.namespace || 'default';
      const id = [meta.uid ?? `${meta.namespace}/${meta.name}`, type, reason, note].join('\u0000');
      const now = microTime(Date.now());
      const prior = seen.get(id);
      const write = async () => {
        if (prior) {
          prior.count++;
          seen.delete(id);
          seen.set(id, prior);
          await client.patch(
            EVENTS,
            { namespace: prior.namespace, name: prior.name },
            { type: 'merge', patch: { series: { count: prior.count, lastObservedTime: now } } },
          );
          return;
        }
        const name = `${meta.name ?? 'object'}.${randomBytes(8).toString('hex')}`.slice(0, 253);
        await client.create(EVENTS, {
          apiVersion: 'events.k8s.io/v1',
          kind: 'Event',
          metadata: { name, namespace },
          eventTime: now,
          type,
          reason,
          note: note.slice(0, 1024),
          action,
          reportingController: controller,
          reportingInstance: instance,
          regarding: {
            apiVersion: regarding.apiVersion,
            kind: regarding.kind,
            namespace: meta.namespace,
            name: meta.name,
            uid: meta.uid,
            resourceVersion: meta.resourceVersion,
          },
        });
        seen.set(id, { namespace, name, count: 1 });
        if (seen.size > MAX_REMEMBERED) seen.delete(seen.keys().next().value as string);
      };
      write().catch((err: unknown) => log.warn({ err, reason }, 'could not record event'));
    },
  };
}
