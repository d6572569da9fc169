/** Where progress goes: a terminal gets each step rewritten in place, a pipe gets plain lines. */
export interface ProgressOutput {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

/**
 * A step printer for long commands: shows `… <what>` while a step runs, then
 * `✓ <what> (1.2 s)` or `✗ <what> (1.2 s)` (and rethrows), so a user sees what is starting
 * and how long each part took.
 */
export function createProgress(out: ProgressOutput) {
  return async function step<T>(what: string, run: () => Promise<T>): Promise<T> {
    const started = performance.now();
    out.write(out.isTTY === true ? `  … ${what}` : `  … ${what}\n`);
    const end = (mark: string) => {
      const took = ((performance.now() - started) / 1000).toFixed(1);
      out.write(`${out.isTTY === true ? '\r\x1b[2K' : ''}  ${mark} ${what} (${took} s)\n`);
    };
    try {
      const value = await run();
      end('✓');
      return value;
    } catch (err) {
      end('✗');
      throw err;
    }
  };
}
