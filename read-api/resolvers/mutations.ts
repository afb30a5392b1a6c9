import { GraphQLError } from "graphql";
import { TaskstreamError, ValidationError, HTTP_STATUS } from "../../domain/task/index.ts";
import type { TaskMutations } from "../command-ports.ts";
import { principalOf, type CallerContext } from "../access.ts";

/** Mutation.cancelTask and Mutation.retryTask, through the same command layer as REST and gRPC. */
export function mutationResolvers(commands: TaskMutations | undefined) {
  const run = async <T>(work: (c: TaskMutations) => Promise<T>): Promise<T> => {
    if (!commands)
      throw new GraphQLError("this instance does not run the api role: mutations are unavailable");
    try {
      return await work(commands);
    } catch (error) {
      if (!(error instanceof TaskstreamError)) throw error;
      const fields = error instanceof ValidationError ? error.fields : undefined;
      throw new GraphQLError(error.message, {
        extensions: { code: error.code, status: HTTP_STATUS[error.code], fields },
      });
    }
  };
  return {
    cancelTask: (
      _root: unknown,
      { id, reason }: { id: string; reason?: string | null },
      context: CallerContext,
    ) => run((c) => c.cancel(id, reason ?? "", principalOf(context))),
    retryTask: (
      _root: unknown,
      { id, maxAttempts }: { id: string; maxAttempts?: number | null },
      context: CallerContext,
    ) => run((c) => c.retry(id, maxAttempts ?? null, "", principalOf(context))),
  };
}
