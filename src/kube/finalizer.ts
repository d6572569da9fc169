/**
 * `withFinalizer`: run `cleanup` before an object may disappear (kube-rs `finalizer.rs`).
 *
 * - Live object without our finalizer ⇒ add it with a JSON patch guarded by a `test` op on the
 *   current finalizer list, and return `{}` (the resulting watch event triggers the next
 *   reconcile, which runs `apply`). Concurrent edits of the list fail the `test` (422) and the
 *   runner retries from fresh state.
 * - Live object with our finalizer ⇒ `apply(obj)`.
 * - Deleting object with our finalizer ⇒ `cleanup(obj)`; only if it resolves is the finalizer
 *   removed (a `test` on that index, then `remove`). If it throws the finalizer stays and the
 *   error propagates, so the runner retries with backoff.
 * - Deleting object without our finalizer ⇒ `{}`: nothing of ours is left to do.
 * Both steps are idempotent: re-running after a crash at any point converges. `cleanup` must be
 * idempotent too (it may run again if removing the finalizer fails).
 */
import type { Result } from './controller.ts';
import { NotFoundError } from './errors.ts';
import type { JsonPatchOp, KubeObject } from './wire.ts';

export interface FinalizerHandlers<K> {
  apply(obj: K): Promise<Result>;
  cleanup(obj: K): Promise<Result>;
}

/** Sends a JSON patch to the object being finalized (e.g. `ops => client.patch(rt, ref, { type: 'json', ops })`). */
export type JsonPatcher = (ops: readonly JsonPatchOp[]) => Promise<unknown>;

/** The patch that adds `name`, valid only against the finalizer list it was computed from. */
export function addFinalizerPatch(obj: KubeObject, name: string): JsonPatchOp[] {
  const current = obj.metadata?.finalizers;
  const rv = obj.metadata?.resourceVersion;
  return current === undefined || current.length === 0
    ? [
        // A `test` of a missing field fails with 422 on the API server, so guard the empty
        // case with the resourceVersion the decision was made from (optimistic concurrency).
        ...(rv === undefined ? [] : [{ op: 'test' as const, path: '/metadata/resourceVersion', value: rv }]),
        { op: 'add', path: '/metadata/finalizers', value: [name] },
      ]
    : [
        { op: 'test', path: '/metadata/finalizers', value: current },
        { op: 'add', path: '/metadata/finalizers/-', value: name },
      ];
}

/** The patch that removes `name` at its current index, or `undefined` if absent. */
export function removeFinalizerPatch(obj: KubeObject, name: string): JsonPatchOp[] | undefined {
  const i = obj.metadata?.finalizers?.indexOf(name) ?? -1;
  if (i < 0) return undefined;
  const path = `/metadata/finalizers/${i}`;
  return [
    { op: 'test', path, value: name },
    { op: 'remove', path },
  ];
}

export async function withFinalizer<K extends KubeObject>(
  obj: K,
  name: string,
  handlers: FinalizerHandlers<K>,
  patch: JsonPatcher,
): Promise<Result> {
  const has = obj.metadata?.finalizers?.includes(name) ?? false;
  const deleting = obj.metadata?.deletionTimestamp !== undefined;
  if (!deleting) {
    if (has) return handlers.apply(obj);
    await patch(addFinalizerPatch(obj, name));
    return {};
  }
  if (!has) return {};
  const result = await handlers.cleanup(obj);
  const ops = removeFinalizerPatch(obj, name);
  if (ops !== undefined) {
    try {
      await patch(ops);
    } catch (err) {
      // Already gone: the last finalizer was removed by someone else; nothing left to do.
      if (!(err instanceof NotFoundError)) throw err;
    }
  }
  return result;
}
