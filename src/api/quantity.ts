/**
 * Kubernetes `resource.Quantity` parsing, exact: values are kept as integer milli-units
 * (bigint), so `0.3` CPU divided by `100m` is exactly 3, and `1Ei` of memory fits.
 */

const BINARY: Record<string, number> = { Ki: 1, Mi: 2, Gi: 3, Ti: 4, Pi: 5, Ei: 6 };
const DECIMAL: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const SYNTAX =
  /^([+-])?([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:(Ki|Mi|Gi|Ti|Pi|Ei)|([numkMGTPE])|[eE]([+-]?[0-9]+))?$/;

/**
 * `q` in milli-units, rounded up (as `Quantity.MilliValue()` does): `'500m'` → 500n,
 * `'2'` → 2000n, `'1Ki'` → 1024000n. Throws a `RangeError` naming `q` when it is not a quantity.
 */
export function parseQuantityMilli(q: string | number): bigint {
  if (typeof q === 'number') {
    if (!Number.isFinite(q)) throw new RangeError(`invalid quantity ${q}`);
    q = String(q);
  }
  const m = SYNTAX.exec(q.trim());
  if (!m) throw new RangeError(`invalid quantity ${JSON.stringify(q)}`);
  const [, sign, num = '0', binary, decimal, exponent] = m;
  const [whole = '', frac = ''] = num.split('.');
  let numerator = BigInt((whole || '0') + frac) * 1000n;
  let denominator = 10n ** BigInt(frac.length);
  if (binary) numerator *= 1024n ** BigInt(BINARY[binary] ?? 0);
  const power =
    decimal !== undefined ? (DECIMAL[decimal] ?? 0) : exponent !== undefined ? Number(exponent) : 0;
  if (power >= 0) numerator *= 10n ** BigInt(power);
  else denominator *= 10n ** BigInt(-power);
  const value = (numerator + denominator - 1n) / denominator; // ceil for non-negative
  return sign === '-' ? -(numerator / denominator) : value; // toward +inf, as MilliValue
}

/** `q` as a number of whole units (approximate for very large or fractional values). */
export function parseQuantity(q: string | number): number {
  return Number(parseQuantityMilli(q)) / 1000;
}
