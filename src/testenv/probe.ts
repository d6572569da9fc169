import { request } from 'node:https';
import { request as httpRequest } from 'node:http';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ManagedProcess } from './supervisor.ts';
import type { KeyPair } from './pki.ts';

export interface ProbeTarget {
  readonly url: string;
  /** CA to verify the server with; omitted ⇒ the server's certificate is not verified (self-signed components). */
  readonly caPath?: string;
  readonly client?: KeyPair;
}

/** One GET; resolves with the status code and body, rejects on a connection error. */
export function get(target: ProbeTarget, timeoutMs = 2000): Promise<{ status: number; body: string }> {
  const url = new URL(target.url);
  const tls = url.protocol === 'https:';
  return new Promise((resolve, reject) => {
    const req = (tls ? request : httpRequest)(
      url,
      {
        method: 'GET',
        timeout: timeoutMs,
        ...(tls && {
          ca: target.caPath ? readFileSync(target.caPath) : undefined,
          rejectUnauthorized: target.caPath !== undefined,
          cert: target.client ? readFileSync(target.client.certPath) : undefined,
          key: target.client ? readFileSync(target.client.keyPath) : undefined,
        }),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Waits until `target` answers 200, retrying with capped exponential backoff (startup only).
 * Fails fast, with the end of the process's log, if the process exits first.
 */
export async function waitUntilHealthy(
  target: ProbeTarget,
  proc: ManagedProcess,
  timeoutMs = 120_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let delay = 50;
  let last: string;
  for (;;) {
    if (!proc.running()) {
      throw new Error(
        `${proc.name} exited during startup (${await proc.exited}); log tail:\n${proc.logTail()}`,
      );
    }
    try {
      const res = await get(target);
      if (res.status === 200) return;
      last = `HTTP ${res.status}: ${res.body.slice(0, 500)}`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${proc.name} not healthy at ${target.url} after ${timeoutMs} ms (${last}); log tail:\n${proc.logTail()}`,
      );
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 1000);
  }
}
