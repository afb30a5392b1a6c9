/**
 * Namespaces (tenants): every task, schedule, queue setting and idempotency key belongs to one, and
 * an API key sees and changes only its own (docs/security.md). A task submitted without one is in
 * `default`, and so is every task written before namespaces existed.
 */
export const DEFAULT_NAMESPACE = "default";

/** A namespace name: 1 to 63 lowercase letters, digits and hyphens, starting and ending with neither hyphen. */
const NAMESPACE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** Why `name` is not a namespace name, or null when it is. */
export function namespaceProblem(name: string): string | null {
  return NAMESPACE.test(name)
    ? null
    : "must be 1 to 63 lowercase letters, digits or hyphens, starting and ending with a letter or digit";
}

/**
 * Separates a namespace from a name in keys shared by every namespace (queue settings, concurrency
 * keys, idempotency keys): a control character, which no name may contain (text-rules.ts), so no two
 * namespaced names can meet. Names of `default` stay as they are, as they were stored before
 * namespaces existed.
 */
const SEPARATOR = "\u001f";

/** `name` as a key unique across namespaces (unchanged in `default`). */
export function qualify(namespace: string, name: string): string {
  return namespace === DEFAULT_NAMESPACE ? name : `${namespace}${SEPARATOR}${name}`;
}

/** The namespace and name of a qualified key. */
export function unqualify(key: string): { namespace: string; name: string } {
  const at = key.indexOf(SEPARATOR);
  return at < 0
    ? { namespace: DEFAULT_NAMESPACE, name: key }
    : { namespace: key.slice(0, at), name: key.slice(at + 1) };
}
