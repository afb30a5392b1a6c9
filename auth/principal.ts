import {
  DEFAULT_NAMESPACE,
  formatActor,
  PermissionDeniedError,
  namespaceProblem,
  ValidationError,
  type Actor,
} from "../domain/task/index.ts";

/**
 * What a key may do: `submit` tasks and schedules (and revive dead-lettered tasks), `read` tasks,
 * histories, schedules and subscriptions, `cancel` tasks and schedules, `admin` queue limits and
 * namespace weights, `worker` connect as a worker.
 */
export const SCOPES = ["submit", "read", "cancel", "admin", "worker"] as const;
export type Scope = (typeof SCOPES)[number];

/** Every namespace: a key for operators. */
export const ALL_NAMESPACES = "*";

/** Who is calling, as authenticated: an API key, or anyone (authentication off, development). */
export interface Principal {
  /** The key's id; null when authentication is off. */
  keyId: string | null;
  scopes: ReadonlySet<Scope>;
  /** The namespaces it may see and change, or every one. */
  namespaces: ReadonlySet<string> | typeof ALL_NAMESPACES;
  /** For a worker key: the task types it may register for (null: any). */
  taskTypes: ReadonlySet<string> | null;
  /** The actor recorded for what it causes, when not its key (a system part: the scheduler). */
  actor?: string;
}

/** The caller when authentication is off (`taskstream dev` on loopback): every scope, every namespace. */
export const ANONYMOUS: Principal = Object.freeze({
  keyId: null,
  scopes: new Set<Scope>(SCOPES),
  namespaces: ALL_NAMESPACES,
  taskTypes: null,
});

/** Throws PermissionDeniedError (403) unless the principal holds `scope`. */
export function requireScope(principal: Principal, scope: Scope): void {
  if (!principal.scopes.has(scope))
    throw new PermissionDeniedError(
      `this API key lacks the "${scope}" scope (it has: ${[...principal.scopes].join(", ") || "none"})`,
    );
}

/** Whether the principal may see and change `namespace`. */
export function inNamespace(principal: Principal, namespace: string): boolean {
  return principal.namespaces === ALL_NAMESPACES || principal.namespaces.has(namespace);
}

/** Throws PermissionDeniedError (403) unless the principal may use `namespace`. */
export function requireNamespace(principal: Principal, namespace: string): void {
  if (!inNamespace(principal, namespace))
    throw new PermissionDeniedError(`this API key may not use namespace "${namespace}"`);
}

/**
 * Throws PermissionDeniedError (403) unless the principal may use every namespace: for what sees or
 * changes all tenants at once (`what` names it), such as cluster-wide queue settings.
 */
export function requireEveryNamespace(principal: Principal, what: string): void {
  if (principal.namespaces !== ALL_NAMESPACES)
    throw new PermissionDeniedError(
      `${what} covers every namespace: it needs an API key for every namespace ("*")`,
    );
}

/**
 * The namespace a request works in: the one it names (checked: a valid name the key may use), else
 * the key's only namespace, else `default`. `field` names the input in errors.
 */
export function resolveNamespace(principal: Principal, requested: unknown, field = "namespace"): string {
  if (requested === undefined || requested === null || requested === "") {
    const only =
      principal.namespaces !== ALL_NAMESPACES && principal.namespaces.size === 1
        ? [...principal.namespaces][0]!
        : DEFAULT_NAMESPACE;
    requireNamespace(principal, only);
    return only;
  }
  if (typeof requested !== "string") throw new ValidationError([{ field, reason: "must be a string" }]);
  const problem = namespaceProblem(requested);
  if (problem) throw new ValidationError([{ field, reason: problem }]);
  requireNamespace(principal, requested);
  return requested;
}

/** The namespaces a listing may show: the requested one (checked), else all the key's (null: every one). */
export function visibleNamespaces(principal: Principal, requested?: string | null): string[] | null {
  if (requested) return [resolveNamespace(principal, requested)];
  return principal.namespaces === ALL_NAMESPACES ? null : [...principal.namespaces];
}

/** A part of Taskstream acting on its own (the scheduler's firings), recorded as `actor`. */
export function systemPrincipal(actor: Actor, scopes: Scope[]): Principal {
  return Object.freeze({
    keyId: null,
    scopes: new Set(scopes),
    namespaces: ALL_NAMESPACES,
    taskTypes: null,
    actor: formatActor(actor),
  });
}

/** The compact actor of what a principal causes (stored with each event it leads to). */
export function principalActor(principal: Principal): string {
  if (principal.actor) return principal.actor;
  return formatActor(
    principal.keyId === null ? { kind: "anonymous" } : { kind: "key", keyId: principal.keyId },
  );
}
