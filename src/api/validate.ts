/**
 * Offline validation of JSON against a Meridian schema: for objects read from the wire,
 * from files or from tests. Checks what JSON Schema can say (types, enums, patterns,
 * limits); CEL rules (`x-kubernetes-validations`) are only enforced by the API server.
 */
import { type Static, type TSchema } from 'typebox';
import { Value } from 'typebox/value';

export type CheckResult<T> = { ok: true; value: T } | { ok: false; errors: string[] };

/** `value` typed as `Static<S>` if it matches `schema`; otherwise each error as `path: message`. */
export function check<S extends TSchema>(schema: S, value: unknown): CheckResult<Static<S>> {
  if (Value.Check(schema, value)) return { ok: true, value: value as Static<S> };
  const errors = [...Value.Errors(schema, value)].map((e) => `${e.instancePath || '/'}: ${e.message}`);
  return { ok: false, errors };
}
