/**
 * Health rules for custom kinds, declared as annotations on the hub CRD:
 *
 *   meridian.dev/health-condition: Ready
 *     healthy iff `status.conditions[type=Ready].status` is `True` (`False` ⇒ unhealthy,
 *     absent or `Unknown` ⇒ unknown).
 *   meridian.dev/health-fields: .status.phase=Running, .status.readyReplicas=.spec.replicas
 *     healthy iff every clause holds. A clause is `<path>=<value>` or `<path>!=<value>`;
 *     `<path>` is dot-separated field names from the object's root (leading dot optional,
 *     `[n]` indexes a list); `<value>` is a literal compared with the field's JSON scalar as a
 *     string, or another path when it starts with `.`. A missing left-hand field ⇒ unknown.
 *
 * Both may be given: the object is healthy only when both say so. `meridian.dev/health-jsonpath`
 * is accepted as an alias of `health-fields`.
 */

export const HealthAnnotations = {
  condition: 'meridian.dev/health-condition',
  fields: 'meridian.dev/health-fields',
  /** Alias of `fields`, for users who reach for the jsonpath word. */
  jsonpath: 'meridian.dev/health-jsonpath',
} as const;

/** One path segment: a field name or a list index. */
export type PathSegment = string | number;

export type FieldOperand =
  | { readonly type: 'literal'; readonly value: string }
  | { readonly type: 'path'; readonly path: readonly PathSegment[] };

export interface FieldClause {
  readonly path: readonly PathSegment[];
  readonly op: '=' | '!=';
  readonly right: FieldOperand;
  /** The clause as written, for messages. */
  readonly text: string;
}

/** A parsed rule; at least one of the two parts is present. */
export interface HealthRule {
  readonly condition?: string;
  readonly fields?: readonly FieldClause[];
}

export type ParseResult =
  | { readonly ok: true; readonly rule: HealthRule | undefined }
  | { readonly ok: false; readonly error: string };

const SEGMENT = /^[A-Za-z_$][\w$-]*$/;

/** Parses `.a.b[0].c` into segments; throws a message naming the problem. */
export function parsePath(text: string): PathSegment[] {
  const t = text.trim().replace(/^\./, '');
  if (t === '') throw new Error(`empty path in ${JSON.stringify(text)}`);
  const out: PathSegment[] = [];
  for (const part of t.split('.')) {
    const m = /^([^[\]]*)((?:\[\d+\])*)$/.exec(part);
    if (m === null) throw new Error(`bad path segment ${JSON.stringify(part)} in ${JSON.stringify(text)}`);
    const name = m[1] as string;
    if (!SEGMENT.test(name))
      throw new Error(`bad field name ${JSON.stringify(name)} in ${JSON.stringify(text)}`);
    out.push(name);
    for (const idx of (m[2] as string).matchAll(/\[(\d+)\]/g)) out.push(Number(idx[1]));
  }
  return out;
}

/** Parses the `health-fields` syntax (clauses separated by commas). */
export function parseFieldClauses(text: string): FieldClause[] {
  const clauses = text
    .split(',')
    .map((c) => c.trim())
    .filter((c) => c !== '');
  if (clauses.length === 0) throw new Error('no clauses');
  return clauses.map((c) => {
    const m = /^([^!=]+?)\s*(!=|=)\s*(.*)$/.exec(c);
    if (m === null) throw new Error(`clause ${JSON.stringify(c)} is not <path>=<value> or <path>!=<value>`);
    const right = (m[3] as string).trim();
    return {
      path: parsePath(m[1] as string),
      op: m[2] as '=' | '!=',
      right: right.startsWith('.')
        ? { type: 'path', path: parsePath(right) }
        : { type: 'literal', value: right },
      text: c,
    };
  });
}

/**
 * Reads a health rule from annotations (a CRD's, typically). `rule: undefined` when none is
 * declared; `ok: false` with a message naming the annotation when one does not parse.
 */
export function parseHealthRule(annotations: Readonly<Record<string, string>> | undefined): ParseResult {
  const condition = annotations?.[HealthAnnotations.condition]?.trim();
  const fieldsKey =
    annotations?.[HealthAnnotations.fields] !== undefined
      ? HealthAnnotations.fields
      : HealthAnnotations.jsonpath;
  const fieldsText = annotations?.[fieldsKey];
  if ((condition === undefined || condition === '') && fieldsText === undefined)
    return { ok: true, rule: undefined };
  if (condition !== undefined && !/^[A-Za-z0-9][-A-Za-z0-9_./]*$/.test(condition)) {
    return {
      ok: false,
      error: `${HealthAnnotations.condition}: ${JSON.stringify(condition)} is not a condition type`,
    };
  }
  let fields: FieldClause[] | undefined;
  if (fieldsText !== undefined) {
    try {
      fields = parseFieldClauses(fieldsText);
    } catch (err) {
      return { ok: false, error: `${fieldsKey}: ${(err as Error).message}` };
    }
  }
  return {
    ok: true,
    rule: {
      ...(condition !== undefined && condition !== '' ? { condition } : {}),
      ...(fields !== undefined ? { fields } : {}),
    },
  };
}

/** What a CRD declares: its group and kind, and its rule. */
export interface CrdHealthRule {
  readonly group: string;
  readonly kind: string;
  readonly result: ParseResult;
}

interface CrdLike {
  readonly metadata?: { readonly annotations?: Readonly<Record<string, string>> };
  readonly spec?: { readonly group?: string; readonly names?: { readonly kind?: string } };
}

/**
 * The health rule a CustomResourceDefinition declares for its kind (any served version), or
 * `undefined` when the object is not a CRD with a group and kind.
 */
export function healthRuleFromCrd(crd: CrdLike): CrdHealthRule | undefined {
  const group = crd.spec?.group;
  const kind = crd.spec?.names?.kind;
  if (group === undefined || kind === undefined) return undefined;
  return { group, kind, result: parseHealthRule(crd.metadata?.annotations) };
}
