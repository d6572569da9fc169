/**
 * RFC 6902 `add`, `remove` and `replace` over plain JSON, in place, with RFC 6901 pointers
 * (`~1` = `/`, `~0` = `~`, `-` = past the end of an array for `add`).
 */

export type PatchOperation = 'add' | 'remove' | 'replace';

/** A patch that cannot apply; `path` is the pointer it was about. */
export class JsonPatchError extends Error {
  readonly code = 'Invalid';
  readonly path: string;
  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = 'JsonPatchError';
    this.path = path;
  }
}

type Container = Record<string, unknown> | unknown[];
const isContainer = (v: unknown): v is Container => typeof v === 'object' && v !== null;

function tokens(path: string): string[] {
  if (!path.startsWith('/')) throw new JsonPatchError(path, "a JSON pointer must start with '/'");
  return path
    .slice(1)
    .split('/')
    .map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'));
}

function index(path: string, arr: unknown[], token: string, forAdd: boolean): number {
  if (forAdd && token === '-') return arr.length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw new JsonPatchError(path, `${token} is not an array index`);
  const i = Number(token);
  if (i > arr.length || (!forAdd && i === arr.length))
    throw new JsonPatchError(path, `index ${i} out of range`);
  return i;
}

/** Applies one operation to `doc` (mutated). Throws {@link JsonPatchError} when it can't. */
export function applyPatch(
  doc: Record<string, unknown>,
  op: PatchOperation,
  path: string,
  value?: unknown,
): void {
  const parts = tokens(path);
  const last = parts.pop();
  if (last === undefined || (parts.length === 0 && last === ''))
    throw new JsonPatchError(path, 'cannot patch the whole object');
  let parent: unknown = doc;
  for (const t of parts) {
    if (Array.isArray(parent)) parent = parent[index(path, parent, t, false)];
    else if (isContainer(parent) && Object.hasOwn(parent, t)) parent = (parent as Record<string, unknown>)[t];
    else throw new JsonPatchError(path, `parent ${t} does not exist`);
  }
  if (!isContainer(parent)) throw new JsonPatchError(path, 'parent is not an object or array');
  if (op !== 'remove' && value === undefined) throw new JsonPatchError(path, `${op} needs a value`);
  if (Array.isArray(parent)) {
    const i = index(path, parent, last, op === 'add');
    if (op === 'add') parent.splice(i, 0, structuredClone(value));
    else if (op === 'replace') parent[i] = structuredClone(value);
    else parent.splice(i, 1);
    return;
  }
  if (op !== 'add' && !Object.hasOwn(parent, last))
    throw new JsonPatchError(path, `${op}: ${last} does not exist`);
  if (op === 'remove') Reflect.deleteProperty(parent, last);
  else parent[last] = structuredClone(value);
}
