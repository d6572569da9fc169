import type { KubeObject } from '../kube/wire.ts';

/**
 * A filter for watch events: true when `fingerprint(obj)` differs from what was last seen for
 * that object's name (or it is new), so a controller reacts to the changes that matter to it
 * (readiness, taints) and not to every status write (capacity). Holds one string per name
 * seen; make one per controller, since each must see every relevant change itself.
 */
export function changeDetector<O extends KubeObject>(fingerprint: (o: O) => string): (o: O) => boolean {
  const seen = new Map<string, string>();
  return (o) => {
    const name = o.metadata?.name ?? '';
    const fp = fingerprint(o);
    if (seen.get(name) === fp) return false;
    seen.set(name, fp);
    return true;
  };
}
