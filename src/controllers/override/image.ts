/**
 * Container image references, `[registry/]repository[:tag][@digest]`, with Docker's rule
 * for telling a registry from the first path component: it is a registry when it contains
 * `.` or `:` or is `localhost` (so `nginx`, `library/nginx` have none; `ghcr.io/a/b`,
 * `localhost:5000/a` do).
 */

export interface ImageRef {
  /** Empty when the reference names none (the runtime's default applies). */
  readonly registry: string;
  readonly repository: string;
  readonly tag: string;
  /** `algorithm:hex`, without the `@`. */
  readonly digest: string;
}

/** Splits `image`; never throws (an empty string gives all-empty parts). */
export function parseImage(image: string): ImageRef {
  let rest = image;
  let digest = '';
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let registry = '';
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost') {
      registry = first;
      rest = rest.slice(slash + 1);
    }
  }
  let tag = '';
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  return { registry, repository: rest, tag, digest };
}

/** Inverse of {@link parseImage}. */
export function formatImage(ref: ImageRef): string {
  return (
    (ref.registry ? `${ref.registry}/` : '') +
    ref.repository +
    (ref.tag ? `:${ref.tag}` : '') +
    (ref.digest ? `@${ref.digest}` : '')
  );
}
