// How the read commands print: `--output table|yaml|json`, and ages the kubectl way.
import { Option } from 'commander';
import { stringify } from 'yaml';

export const OutputFormats = ['table', 'yaml', 'json'] as const;
export type OutputFormat = (typeof OutputFormats)[number];

/** `-o, --output <format>` limited to `formats` (commander rejects others with exit 1). */
export function outputOption(
  formats: readonly OutputFormat[] = OutputFormats,
  fallback: OutputFormat = 'table',
): Option {
  return new Option('-o, --output <format>', 'output format').choices(formats).default(fallback);
}

/**
 * `data` as JSON (2-space indent) or YAML, or `table()` for `table`, always ending in one
 * newline. `data` is the command's documented machine-readable shape (docs/cli.md).
 */
export function render(format: OutputFormat, data: unknown, table: () => string): string {
  const text =
    format === 'json' ? JSON.stringify(data, null, 2) : format === 'yaml' ? stringify(data) : table();
  return text.endsWith('\n') ? text : `${text}\n`;
}

/** Time since `timestamp` as kubectl shows it (`45s`, `12m`, `5h`, `3d`); `-` when unknown. */
export function age(timestamp: string | undefined, now: number = Date.now()): string {
  const t = timestamp === undefined ? NaN : Date.parse(timestamp);
  if (Number.isNaN(t)) return '-';
  const s = Math.max(0, Math.floor((now - t) / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 120) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}
