/**
 * Turning what a user types for a type (`deploy`, `deployments`, `Deployment`,
 * `deployments.apps`, `rb`) into the hub's resource type, through the hub's discovery, as
 * kubectl does.
 */
import { apiVersionOf, type APIResource, type ApiClient, type ResourceType } from '../kube/api-client.ts';
import { usageError } from './exit-codes.ts';

/** A resource type the hub serves, with its kind. */
export type ServedType = ResourceType & { readonly kind: string };

/** One resource of one group version, in discovery order. */
export interface DiscoveredResource {
  readonly group: string;
  readonly version: string;
  readonly resource: APIResource;
}

/**
 * The first of `served` that `token` names, case-insensitively: by plural, singular, kind or
 * short name; `plural.group` (or `kind.group`, `short.group`) limits the match to that group.
 * `served` is in discovery order (core first), which breaks ties as kubectl does.
 */
export function matchType(token: string, served: readonly DiscoveredResource[]): ServedType | undefined {
  const t = token.toLowerCase();
  const dot = t.indexOf('.');
  const name = dot < 0 ? t : t.slice(0, dot);
  const group = dot < 0 ? undefined : t.slice(dot + 1);
  const names = (r: APIResource): string[] => [
    r.name,
    r.singularName ?? '',
    r.kind.toLowerCase(),
    ...(r.shortNames ?? []),
  ];
  const hit = served.find(
    (d) => (group === undefined || d.group === group) && names(d.resource).includes(name),
  );
  if (hit === undefined) return undefined;
  return {
    group: hit.group,
    version: hit.version,
    resource: hit.resource.name,
    scope: hit.resource.namespaced ? 'Namespaced' : 'Cluster',
    kind: hit.resource.kind,
  };
}

/** Every resource the hub serves at each group's preferred version (groups that fail to answer are skipped). */
export async function discover(client: ApiClient, signal?: AbortSignal): Promise<DiscoveredResource[]> {
  const [core, groups] = await Promise.all([client.coreVersions(signal), client.groups(signal)]);
  const versions = [
    ...(core.includes('v1') ? [{ group: '', version: 'v1' }] : []),
    ...groups.flatMap((g) => {
      const v = g.preferredVersion ?? g.versions[0];
      return v === undefined ? [] : [{ group: g.name, version: v.version }];
    }),
  ];
  const lists = await Promise.allSettled(
    versions.map(async (gv) =>
      (await client.resources(apiVersionOf(gv), signal)).map((resource) => ({ ...gv, resource })),
    ),
  );
  return lists.flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
}

/** The hub's type for `token`; a usage `CliError` saying how to list types when there is none. */
export async function resolveType(client: ApiClient, token: string): Promise<ServedType> {
  const found = matchType(token, await discover(client));
  if (found === undefined) {
    throw usageError(
      `the hub serves no resource type ${JSON.stringify(token)}; use a kind, plural or short name ` +
        'as kubectl does (e.g. deployment, deploy, configmaps, rb); `kubectl api-resources` lists them',
    );
  }
  return found;
}

/** `kind/name` (or `kind` and a separate `name`) as typed; usage errors say the expected form. */
export function parseTypeAndName(
  first: string,
  second: string | undefined,
  command: string,
): { readonly type: string; readonly name: string | undefined } {
  const slash = first.indexOf('/');
  if (slash < 0) return { type: first, name: second };
  if (second !== undefined) {
    throw usageError(
      `give either ${first} or a type and a name, not both (meridian ${command} <kind>/<name>)`,
    );
  }
  const type = first.slice(0, slash);
  const name = first.slice(slash + 1);
  if (type === '' || name === '' || name.includes('/')) {
    throw usageError(`expected <kind>/<name>, e.g. deployment/web; got ${JSON.stringify(first)}`);
  }
  return { type, name };
}
