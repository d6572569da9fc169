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

/**
 * A logger that keeps the last `max` info/warn/error lines in memory (bounded) and writes only
 * errors to stderr: for long fault-injection suites whose logs are worth reading only when
 * something failed (`tail(n)` in the failure message).
 */
export function tailLogger(tag: string, max = 2_000): Logger & { tail(n: number): string } {
  let lines: string[] = [];
  const keep = (level: string) => (o: object, m?: string) => {
    lines.push(`${new Date().toISOString()} ${level} ${m ?? ''} ${logJson(o)}`);
    if (lines.length > 2 * max) lines = lines.slice(-max);
  };
  return {
    debug: () => {},
    info: keep('INFO'),
    warn: keep('WARN'),
    error: (o, m) => {
      keep('ERROR')(o, m);
      process.stderr.write(`[${tag}] ERROR ${m ?? ''} ${logJson(o)}\n`);
    },
    tail: (n) => lines.slice(-n).join('\n'),
  };
}
