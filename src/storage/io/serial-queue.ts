/**
 * Runs async tasks one at a time in submission order. Callers bound the number of queued
 * tasks themselves (connection-level in-flight limits), so the chain never grows without
 * a matching bound upstream.
 */
export class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const next = this.#tail.then(task, task);
    this.#tail = next.catch(() => undefined);
    return next;
  }
}
