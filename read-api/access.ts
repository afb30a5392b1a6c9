import { GraphQLError, OperationTypeNode, getOperationAST, type DocumentNode } from "graphql";
import type { FastifyInstance } from "fastify";
import { HTTP_STATUS, TaskstreamError, UnauthenticatedError } from "../domain/task/index.ts";
import { requireScope, type Principal } from "../auth/principal.ts";

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
    const operation = getOperationAST(document)?.operation;
    try {
      const principal = principalOf(context);
      if (operation !== OperationTypeNode.MUTATION) requireScope(principal, "read");
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
