/**
 * A checker for the Kubernetes *structural schema* rules a CRD's `openAPIV3Schema` must
 * obey (apiextensions `structuralschema`): every node typed, objects list their properties
 * (or say they are maps, or free-form on purpose), no JSON-Schema keywords the API server
 * refuses. It runs offline so a bad schema fails a unit test before any cluster sees it.
 *
 * Not a full re-implementation of the server's validation: it covers what generated
 * schemas could get wrong (an untyped object, `patternProperties`/`const` from TypeBox
 * unions and records, list-map keys that aren't required, CEL rules without messages).
 */

type Node = Record<string, unknown>;

/** JSON-Schema keywords the API server rejects in a CRD schema. */
const FORBIDDEN = [
  'patternProperties',
  'const',
  '$ref',
  '$schema',
  '$id',
  '$defs',
  'definitions',
  'dependencies',
  'dependentRequired',
  'dependentSchemas',
  'additionalItems',
  'unevaluatedProperties',
  'unevaluatedItems',
  'if',
  'then',
  'else',
  'prefixItems',
  'contains',
];

/** Keywords allowed inside `anyOf`/`allOf`/`oneOf`/`not` branches (value validation only). */
const JUNCTOR_BRANCH_FORBIDDEN = [
  'description',
  'default',
  'nullable',
  'additionalProperties',
  'x-kubernetes-validations',
];

const isNode = (v: unknown): v is Node => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Every violation in `schema`, as `path: problem`. Empty means the schema is structural
 * (within the limits above).
 */
export function structuralViolations(schema: unknown, path = ''): string[] {
  const out: string[] = [];
  walk(schema, path || '<root>', out, false);
  return out;
}

/** `inJunctor`: inside anyOf/…; `'int-or-string'`: a branch of an int-or-string node, which may say its type. */
function walk(node: unknown, path: string, out: string[], inJunctor: boolean | 'int-or-string'): void {
  if (!isNode(node)) {
    out.push(`${path}: schema must be an object`);
    return;
  }
  for (const keyword of FORBIDDEN) {
    if (keyword in node) out.push(`${path}: keyword ${keyword} is not allowed in a CRD schema`);
  }
  const intOrString = node['x-kubernetes-int-or-string'] === true;
  const preserve = node['x-kubernetes-preserve-unknown-fields'] === true;
  const type = node['type'];

  if (inJunctor) {
    const allowed = inJunctor === 'int-or-string' && (type === 'integer' || type === 'string');
    if (type !== undefined && !allowed)
      out.push(`${path}: type must not be set inside anyOf/allOf/oneOf/not`);
    for (const k of JUNCTOR_BRANCH_FORBIDDEN) {
      if (k in node) out.push(`${path}: ${k} must not be set inside anyOf/allOf/oneOf/not`);
    }
  } else if (intOrString) {
    if (type !== undefined) out.push(`${path}: x-kubernetes-int-or-string must not set type`);
  } else if (type === undefined) {
    if (!preserve) out.push(`${path}: type is required (or x-kubernetes-preserve-unknown-fields: true)`);
  } else if (!['object', 'array', 'string', 'integer', 'number', 'boolean'].includes(String(type))) {
    out.push(`${path}: unsupported type ${JSON.stringify(type)}`);
  }

  if (type === 'object') {
    const hasProps = isNode(node['properties']);
    const addl = node['additionalProperties'];
    if (hasProps && addl !== undefined)
      out.push(`${path}: properties and additionalProperties are mutually exclusive`);
    if (addl !== undefined && !isNode(addl)) out.push(`${path}: additionalProperties must be a schema`);
    // The root's metadata is validated by the API server itself; `{type: object}` is what it expects.
    const rootMetadata = path === '<root>.metadata';
    if (
      !hasProps &&
      addl === undefined &&
      !preserve &&
      !node['x-kubernetes-embedded-resource'] &&
      !rootMetadata
    ) {
      out.push(
        `${path}: object has no properties, additionalProperties or x-kubernetes-preserve-unknown-fields`,
      );
    }
  }
  if (type === 'array' && !isNode(node['items'])) out.push(`${path}: array must have a single items schema`);
  if ('enum' in node && type !== 'string' && type !== 'integer') {
    out.push(`${path}: enum needs a scalar type`);
  }

  const props = isNode(node['properties']) ? node['properties'] : {};
  const required = node['required'];
  if (required !== undefined) {
    if (!Array.isArray(required)) out.push(`${path}: required must be a list`);
    else
      for (const r of required)
        if (!(String(r) in props)) out.push(`${path}: required ${r} is not a property`);
  }

  const listType = node['x-kubernetes-list-type'];
  if (listType === 'map') {
    const keys = node['x-kubernetes-list-map-keys'];
    const item = node['items'];
    if (!Array.isArray(keys) || keys.length === 0)
      out.push(`${path}: list-type map needs x-kubernetes-list-map-keys`);
    else if (isNode(item)) {
      const req = Array.isArray(item['required']) ? item['required'] : [];
      for (const k of keys) {
        const hasDefault =
          isNode(item['properties']) && isNode(item['properties'][k]) && 'default' in item['properties'][k];
        if (!req.includes(k) && !hasDefault)
          out.push(`${path}: list-map key ${k} must be required or defaulted`);
      }
    }
  }

  const rules = node['x-kubernetes-validations'];
  if (rules !== undefined) {
    if (!Array.isArray(rules)) out.push(`${path}: x-kubernetes-validations must be a list`);
    else
      rules.forEach((r: unknown, i) => {
        if (
          !isNode(r) ||
          typeof r['rule'] !== 'string' ||
          typeof r['message'] !== 'string' ||
          r['message'] === ''
        ) {
          out.push(`${path}: x-kubernetes-validations[${i}] needs rule and message`);
        }
      });
  }

  for (const [name, child] of Object.entries(props)) walk(child, `${path}.${name}`, out, inJunctor);
  if (isNode(node['additionalProperties'])) walk(node['additionalProperties'], `${path}[*]`, out, inJunctor);
  if (node['items'] !== undefined) walk(node['items'], `${path}[]`, out, inJunctor);
  for (const j of ['anyOf', 'allOf', 'oneOf']) {
    const branches = node[j];
    if (branches === undefined) continue;
    if (!Array.isArray(branches)) out.push(`${path}: ${j} must be a list`);
    else
      branches.forEach((b: unknown, i) =>
        walk(b, `${path}.${j}[${i}]`, out, intOrString ? 'int-or-string' : true),
      );
  }
  if (node['not'] !== undefined) walk(node['not'], `${path}.not`, out, true);
}
