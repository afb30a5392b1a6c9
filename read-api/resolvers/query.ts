import { GraphQLError } from "graphql";
import type pg from "pg";
import type { RowState, TaskRow } from "../../projections/task-row.ts";
import { loadTasks } from "../../projections/task-table.ts";
import { listTasks, MAX_PAGE_SIZE, TASK_STATES } from "../queries/task-list.ts";
import { decodeCursor, encodeCursor } from "./cursor.ts";
import type { RequestLimits } from "../limits/request-limits.ts";
import { inNamespace, visibleNamespaces } from "../../auth/principal.ts";
import { asGraphQLError, principalOf, type CallerContext } from "../access.ts";
import { TaskstreamError } from "../../domain/task/index.ts";

type Context = CallerContext & { limits?: RequestLimits };

/** Runs `work` with Taskstream errors (a namespace the key may not use) as GraphQL errors. */
async function graphqlErrors<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw error instanceof TaskstreamError ? asGraphQLError(error) : error;
  }
}

/** The `TaskFilter` input. */
export interface TaskFilter {
  namespace?: string | null;
  state?: RowState | null;
  type?: string | null;
}

export interface QueryDeps {
  pool: pg.Pool;
  /** Answers `task(id)` for a task the read model does not hold yet (projection lag). */
  getTaskFromLog?: (id: string) => Promise<TaskRow | null>;
}

/** Query.task, Query.tasks and Query.stats, over the `tasks` table. */
export function queryResolvers({ pool, getTaskFromLog }: QueryDeps) {
  return {
    task: async (_root: unknown, { id }: { id: string }, context: Context) => {
      context.limits?.checkTime();
      const principal = principalOf(context);
      const task = (await loadTasks(pool, [id])).get(id) ?? (await getTaskFromLog?.(id)) ?? null;
      // Another tenant's task is not there, as far as this key can tell.
      return task && inNamespace(principal, task.namespace) ? task : null;
    },
    tasks: (
      _root: unknown,
      args: { filter?: TaskFilter | null; first: number; after?: string | null },
      context: Context,
    ) => {
      context.limits?.checkTime();
      return graphqlErrors(() =>
        listTaskConnection(pool, args, visibleNamespaces(principalOf(context), args.filter?.namespace)),
      );
    },
    stats: (_root: unknown, _args: unknown, context: Context) =>
      stats(pool, visibleNamespaces(principalOf(context))),
  };
}

/** GraphQL's `tasks`: a page of the shared listing as a connection with cursors. */
async function listTaskConnection(
  pool: pg.Pool,
  { filter, first, after }: { filter?: TaskFilter | null; first: number; after?: string | null },
  namespaces: string[] | null,
) {
  if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE_SIZE) {
    throw new GraphQLError(`first: must be between 1 and ${MAX_PAGE_SIZE}, got ${first}`, {
      extensions: { code: "BAD_USER_INPUT", argument: "first" },
    });
  }
  const afterId = after == null ? null : decodeCursor(after).id;
  const page = await listTasks(pool, { namespaces, state: filter?.state, type: filter?.type, afterId, first });
  const last = page.rows.at(-1);
  return {
    edges: page.rows.map((node) => ({ node, cursor: encodeCursor(node) })),
    pageInfo: { hasNextPage: page.hasNextPage, endCursor: last ? encodeCursor(last) : null },
  };
}

/** How many tasks are in each state (every state listed, zero included), and in all. */
async function stats(pool: pg.Pool, namespaces: string[] | null) {
  const { rows } = await pool.query<{ state: RowState; count: number }>(
    namespaces === null
      ? "select state, count(*)::int as count from tasks group by state"
      : "select state, count(*)::int as count from tasks where namespace = any($1::text[]) group by state",
    namespaces === null ? [] : [namespaces],
  );
  const counts = new Map(rows.map((row) => [row.state, row.count]));
  const byState = TASK_STATES.map((state) => ({ state, count: counts.get(state) ?? 0 }));
  return { byState, total: byState.reduce((sum, s) => sum + s.count, 0) };
}
