/**
 * JSON with object keys sorted, so equal values compare equal whatever their key order. The
 * API server returns custom resources with sorted keys (Go maps), not in the order we wrote
 * them: comparing what we would write with what is stored must ignore that order. Array order
 * is kept: it is meaningful.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}

/** `a` and `b` serialise to the same JSON up to object key order. */
export function sameJson(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}
