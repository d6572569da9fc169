// Display formats for capacities and times.

export function cores(n: number): string {
  return n >= 10 ? `${Math.round(n)}` : `${Math.round(n * 10) / 10}`;
}

export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n >= 10 || i === 0 ? Math.round(n) : Math.round(n * 10) / 10} ${units[i]}`;
}

export function count(n: number): string {
  return String(Math.round(n));
}

/** "3m ago" style age of an RFC 3339 time; '' when unknown. */
export function age(time: string, now = Date.now()): string {
  const t = Date.parse(time);
  if (Number.isNaN(t)) return '';
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}
