/**
 * Exit codes every read command of `meridian` uses (and `join` already did), so a script can
 * tell "I called it wrong" from "the hub is down" from "no such thing":
 *
 * | code | meaning |
 * | --- | --- |
 * | 0 | done |
 * | 1 | usage: a wrong or missing argument or option, an unknown kind, an unreadable kubeconfig file (fix the command) |
 * | 2 | failure: the hub could not be reached, refused the credentials or the request, or answered unexpectedly (fix the environment, or retry) |
 * | 3 | not found: the named cluster, object or binding does not exist on the hub |
 *
 * Commander's own parse errors (unknown option, missing argument, bad `--output`) exit 1 too.
 */
import { KubeError } from '../kube/errors.ts';

export const ExitCodes = { ok: 0, usage: 1, failure: 2, notFound: 3 } as const;
export type ExitCode = (typeof ExitCodes)[keyof typeof ExitCodes];

/** A failure the CLI reports as `error: <message>` and exits with `exitCode`. */
export class CliError extends Error {
  readonly exitCode: ExitCode;
  constructor(exitCode: ExitCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

export const usageError = (message: string): CliError => new CliError(ExitCodes.usage, message);
export const notFound = (message: string): CliError => new CliError(ExitCodes.notFound, message);

/**
 * `err` (thrown while talking to the hub at `server`, configured by `from`) as a `CliError`
 * whose message says what went wrong and what to try. `CliError`s pass through unchanged.
 */
export function hubError(err: unknown, server: string, from: string): CliError {
  if (err instanceof CliError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const fail = (text: string) => new CliError(ExitCodes.failure, text, { cause: err });
  if (!(err instanceof KubeError)) return fail(`hub ${server}: ${message}`);
  switch (err.code) {
    case 'Unavailable':
      return fail(
        `cannot reach the hub at ${server} (${message.replace(/^transport: /, '')}); ` +
          `check that it is running and that ${from} points at it (--kubeconfig, $KUBECONFIG)`,
      );
    case 'Unauthorized':
      return fail(
        `the hub at ${server} refused the credentials in ${from} (${message}); ` +
          'use a kubeconfig whose user the hub accepts',
      );
    case 'Forbidden':
      return fail(
        `the hub at ${server} forbids this to the user of ${from}: ${message}; ` +
          'ask for read access to meridian.dev objects (and Secrets, for kubeconfig)',
      );
    case 'NotFound':
      return fail(
        `the hub at ${server} does not serve what Meridian needs (${message}); ` +
          'are the Meridian CRDs installed? `meridian join` and `meridian controllers` install them',
      );
    default:
      return fail(`hub ${server}: ${message}`);
  }
}

/**
 * Wraps a command action: a thrown error is printed as `error: <message>` on stderr and sets
 * the exit code (`CliError`'s own, else failure). Output already written stays.
 */
export function reportErrors<A extends unknown[]>(
  fn: (...args: A) => Promise<void>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      process.stderr.write(`error: ${message}\n`);
      process.exitCode = err instanceof CliError ? err.exitCode : ExitCodes.failure;
    }
  };
}
