/**
 * TypeBox constructors that emit Kubernetes *structural* OpenAPI v3 (the subset the API
 * server accepts in a CRD) while keeping precise static types.
 *
 * Plain `Type.Union` of literals emits `anyOf`/`const` and `Type.Record` emits
 * `patternProperties`; the API server rejects both. Every kind in `src/api/` is built from
 * `Type.Object/Array/String/Integer/Boolean/Optional` plus the helpers here, and
 * `structuralViolations()` (see `structural.ts`) checks the result in a unit test.
 */
import { Type, type TSchema, type TUnsafe } from 'typebox';

/** A CEL validation rule (`x-kubernetes-validations` entry). */
export interface ValidationRule {
  readonly rule: string;
  /** Shown to the user; names the field it is about. */
  readonly message: string;
  /** JSON path, relative to the node the rule is on, of the field the error is reported at. */
  readonly fieldPath?: string;
  readonly reason?:
    'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
}

/** Schema options Kubernetes understands beyond JSON Schema. */
export interface KubeSchemaOptions {
  readonly description?: string;
  readonly 'x-kubernetes-validations'?: readonly ValidationRule[];
  readonly [keyword: string]: unknown;
  readonly [keyword: symbol]: unknown;
}

/** Shorthand for a {@link ValidationRule}. */
export function rule(
  rule: string,
  message: string,
  extra: Omit<ValidationRule, 'rule' | 'message'> = {},
): ValidationRule {
  return { rule, message, ...extra };
}

/** A string restricted to `values`; statically the union of the literals. */
export function StringEnum<const T extends readonly string[]>(
  values: T,
  options: KubeSchemaOptions = {},
): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });
}

/** `map[string]string` (labels, annotations). */
export function StringMap(options: KubeSchemaOptions = {}): TUnsafe<Record<string, string>> {
  return Type.Unsafe<Record<string, string>>({
    type: 'object',
    additionalProperties: { type: 'string' },
    ...options,
  });
}

/** Kubernetes `resource.Quantity` syntax (`500m`, `2Gi`, `1e3`, `4`). */
export const QUANTITY_PATTERN =
  '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$';

/** A resource quantity: an integer or a quantity string, like the core API's. */
export function Quantity(options: KubeSchemaOptions = {}): TUnsafe<string | number> {
  return Type.Unsafe<string | number>({
    'x-kubernetes-int-or-string': true,
    anyOf: [{ type: 'integer' }, { type: 'string' }],
    pattern: QUANTITY_PATTERN,
    ...options,
  });
}

/** `corev1.ResourceList`: resource name (`cpu`, `memory`, `pods`, …) → quantity. */
export function ResourceList(options: KubeSchemaOptions = {}): TUnsafe<Record<string, string | number>> {
  return Type.Unsafe<Record<string, string | number>>({
    type: 'object',
    additionalProperties: Quantity(),
    ...options,
  });
}

/** A free-form JSON object whose content Meridian does not own (member status, raw fields). */
export function RawObject(options: KubeSchemaOptions = {}): TUnsafe<Record<string, unknown>> {
  return Type.Unsafe<Record<string, unknown>>({
    type: 'object',
    'x-kubernetes-preserve-unknown-fields': true,
    ...options,
  });
}

/** Any JSON value (a JSON-patch value may be a string, number, list or object). */
export function AnyJson(options: KubeSchemaOptions = {}): TUnsafe<unknown> {
  return Type.Unsafe<unknown>({ 'x-kubernetes-preserve-unknown-fields': true, ...options });
}

/**
 * A complete Kubernetes object (`apiVersion`, `kind`, `metadata` validated by the API
 * server, the rest kept as is).
 */
export interface EmbeddedObject {
  apiVersion: string;
  kind: string;
  metadata?: { name?: string; namespace?: string; [key: string]: unknown };
  [key: string]: unknown;
}
export function EmbeddedResource(options: KubeSchemaOptions = {}): TUnsafe<EmbeddedObject> {
  return Type.Unsafe<EmbeddedObject>({
    type: 'object',
    'x-kubernetes-embedded-resource': true,
    'x-kubernetes-preserve-unknown-fields': true,
    ...options,
  });
}

/** RFC 3339 timestamp, as `metav1.Time` serialises. */
export function Time(options: KubeSchemaOptions = {}) {
  return Type.String({ format: 'date-time', ...options });
}

/** DNS-1123 label (cluster names, affinity names). */
export const DNS_LABEL_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';

/** The schema node of `T` as plain JSON (TypeBox's hidden symbol/`~` keys dropped). */
export function toJson(schema: TSchema): Record<string, unknown> {
  return JSON.parse(JSON.stringify(schema)) as Record<string, unknown>;
}
