/**
 * Runs async tasks one at a time in submission order. Callers bound the number of queued
 * tasks themselves (connection-level in-flight limits), so the chain never grows without
 * a matching bound upstream.
 */
export class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();
  #pending = 0;

  /** No task queued or running: work done synchronously now is ordered after all of them. */
  get idle(): boolean {
    return this.#pending === 0;
  }

  run<T>(task: () => Promise<T>): Promise<T> {
    this.#pending++;
    const next = this.#tail.then(task, task).finally(() => this.#pending--);
    this.#tail = next.catch(() => undefined);
    return next;
  }
}
