import {
  GraphQLError,
  Kind,
  OperationTypeNode,
  getOperationAST,
  type DocumentNode,
  type FragmentDefinitionNode,
  type SelectionSetNode,
} from "graphql";
import type { FastifyInstance } from "fastify";
import { HTTP_STATUS, TaskstreamError, UnauthenticatedError } from "../domain/task/index.ts";
import { requireEveryNamespace, requireScope, type Principal, type Scope } from "../auth/principal.ts";

/**
 * Root fields that see or change every tenant at once — counts and analytics over all tasks, the
 * task feed, the workers, the queue settings — answer only keys for every namespace, plus the
 * scope listed (queries and subscriptions also need `read`).
 */
const CROSS_TENANT_FIELDS: ReadonlyMap<string, Scope | null> = new Map([
  ["stats", null],
  ["workers", null],
  ["queues", null],
  ["queue", null],
  ["concurrencyLimits", null],
  ["recentEvents", null],
  ["eventsSince", null],
  ["taskEvents", null],
  ["setQueue", "admin"],
  ["setConcurrencyLimit", "admin"],
]);

/** The names of the fields an operation selects at its root (through fragments too). */
function rootFields(document: DocumentNode, selectionSet: SelectionSetNode, into = new Set<string>()) {
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) into.add(selection.name.value);
    else if (selection.kind === Kind.INLINE_FRAGMENT) rootFields(document, selection.selectionSet, into);
    else {
      const fragment = document.definitions.find(
        (d): d is FragmentDefinitionNode =>
          d.kind === Kind.FRAGMENT_DEFINITION && d.name.value === selection.name.value,
      );
      if (fragment) rootFields(document, fragment.selectionSet, into);
    }
  }
  return into;
}

/** What the read API's resolvers find in their context about the caller. */
export interface CallerContext {
  /** Set by the HTTP authentication hook, or by the subscription handshake; absent: not authenticated. */
  principal?: Principal | null;
}

/** The caller of a GraphQL operation; throws UNAUTHENTICATED when the handshake gave none. */
export function principalOf(context: CallerContext): Principal {
  if (!context.principal)
    throw new UnauthenticatedError(
      'an API key is required: send Authorization: Bearer <key> (subscriptions: in connection_init, {"authorization": "Bearer <key>"})',
    );
  return context.principal;
}

/** A Taskstream error as a GraphQL error: its code, HTTP status and field errors in `extensions`. */
export function asGraphQLError(error: TaskstreamError): GraphQLError {
  const fields = "fields" in error ? (error as { fields: unknown }).fields : undefined;
  return new GraphQLError(error.message, {
    extensions: { code: error.code, status: HTTP_STATUS[error.code], fields },
  });
}

/**
 * The scope checks of every operation (docs/security.md): a query or a subscription needs `read`;
 * a mutation's own scope (`cancel`, `submit`) is checked by the command layer it calls. Namespaces
 * are applied by each resolver.
 */
export function graphqlAccess(app: FastifyInstance): void {
  const check = (document: DocumentNode, context: CallerContext) => {
    // A document of several operations without a name to pick one is held to `read` too.
    const ast = getOperationAST(document);
    const operation = ast?.operation;
    try {
      const principal = principalOf(context);
      if (operation !== OperationTypeNode.MUTATION) requireScope(principal, "read");
      for (const field of ast ? rootFields(document, ast.selectionSet) : []) {
        if (!CROSS_TENANT_FIELDS.has(field)) continue;
        const scope = CROSS_TENANT_FIELDS.get(field);
        if (scope) requireScope(principal, scope);
        requireEveryNamespace(principal, field);
      }
    } catch (error) {
      throw error instanceof TaskstreamError ? asGraphQLError(error) : error;
    }
  };
  app.graphql.addHook("preExecution", async (_schema, document, context) =>
    check(document, context as CallerContext),
  );
  app.graphql.addHook("preSubscriptionExecution", async (_schema, document, context) =>
    check(document, context as CallerContext),
  );
}
