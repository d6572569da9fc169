import type { Logger } from '../../src/kube/log.ts';

/** JSON for a log line; errors become their message, and a cycle does not throw. */
export function logJson(o: unknown): string {
  try {
    return JSON.stringify(o, (_k, v: unknown) => (v instanceof Error ? v.message : v));
  } catch {
    return String(o);
  }
}

/**
 * The logger for controllers run inside a test: warnings and errors go to stderr tagged with
 * the suite, so a failing run says why; debug and info are dropped unless MERIDIAN_TEST_LOG is
 * set. `onLine` also receives every line (e.g. to keep a bounded tail for a failure message).
 */
export function testLogger(tag: string, onLine?: (line: string) => void): Logger {
  const verbose = process.env['MERIDIAN_TEST_LOG'] !== undefined;
  const line =
    (level: string, toStderr: boolean) =>
    (o: object, m?: string): void => {
      const text = `[${tag}] ${level} ${m ?? ''} ${logJson(o)}`;
      onLine?.(`${new Date().toISOString()} ${text}`);
      if (toStderr) process.stderr.write(`${text}\n`);
    };
  return {
    debug: line('DEBUG', verbose),
    info: line('INFO', verbose),
    warn: line('WARN', true),
    error: line('ERROR', true),
  };
}
