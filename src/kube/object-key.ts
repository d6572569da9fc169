/**
 * `ObjectKey`: client-go's cache key, `namespace/name` for namespaced objects and `name` for
 * cluster-scoped ones. Branded so a random string cannot be passed where a key is expected.
 */
import type { KubeObject } from './wire.ts';

declare const objectKeyBrand: unique symbol;
export type ObjectKey = string & { readonly [objectKeyBrand]: true };

export interface ObjectRef {
  readonly namespace?: string;
  readonly name: string;
}

/** Makes a key; an empty or undefined namespace means cluster-scoped. Throws on an empty name or a `/` in either part. */
export function objectKey(namespace: string | undefined, name: string): ObjectKey {
  if (name === '' || name.includes('/')) throw new TypeError(`invalid object name ${JSON.stringify(name)}`);
  if (namespace === undefined || namespace === '') return name as ObjectKey;
  if (namespace.includes('/')) throw new TypeError(`invalid namespace ${JSON.stringify(namespace)}`);
  return `${namespace}/${name}` as ObjectKey;
}

/** The key of an object from its metadata. Throws when it has no name (e.g. only `generateName`). */
export function keyOf(obj: KubeObject): ObjectKey {
  const name = obj.metadata?.name;
  if (name === undefined) throw new TypeError('object has no metadata.name');
  return objectKey(obj.metadata?.namespace, name);
}

/** Validates a string as a key (`name` or `ns/name`). */
export function parseObjectKey(key: string): ObjectRef & { readonly key: ObjectKey } {
  const parts = key.split('/');
  if (parts.length === 1 && parts[0] !== '') return { name: key, key: key as ObjectKey };
  if (parts.length === 2 && parts[0] !== '' && parts[1] !== '') {
    return { namespace: parts[0], name: parts[1] as string, key: key as ObjectKey };
  }
  throw new TypeError(`invalid object key ${JSON.stringify(key)}`);
}

/** Splits a key into namespace and name. */
export function refOf(key: ObjectKey): ObjectRef {
  const slash = key.indexOf('/');
  return slash < 0 ? { name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}
