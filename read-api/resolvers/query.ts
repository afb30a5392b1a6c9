import { GraphQLError } from "graphql";
import type pg from "pg";
import { ValidationError } from "../../domain/task/index.ts";
import type { RowState, TaskRow } from "../../projections/task-row.ts";
import { loadTasks } from "../../projections/task-table.ts";
import { listTasks, MAX_PAGE_SIZE, type TaskListQuery } from "../queries/task-list.ts";
import { taskAsOf } from "../queries/task-as-of.ts";
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
  priority?: number | null;
  workerId?: string | null;
  idempotencyKey?: string | null;
  requires?: Record<string, string> | null;
  metadata?: Record<string, string> | null;
  createdAfter?: Date | null;
  createdBefore?: Date | null;
  updatedAfter?: Date | null;
  updatedBefore?: Date | null;
}

export interface QueryDeps {
  pool: pg.Pool;
  /** Answers `task(id)` for a task the read model does not hold yet (projection lag). */
  getTaskFromLog?: (id: string) => Promise<TaskRow | null>;
}

/** Whether a row passes a TaskFilter (the same rules as the listing's SQL), for subscriptions. */
export function rowMatches(row: TaskRow, filter: TaskFilter | null | undefined): boolean {
  if (!filter) return true;
  const has = (wanted: Record<string, string> | null | undefined, actual: Record<string, string>) =>
    wanted == null || Object.entries(wanted).every(([k, v]) => actual[k] === v);
  const within = (ms: number, from?: Date | null, to?: Date | null) =>
    (from == null || ms >= from.getTime()) && (to == null || ms < to.getTime());
  return (
    (filter.state == null || row.state === filter.state) &&
    (filter.type == null || row.type === filter.type) &&
    (filter.priority == null || row.priority === filter.priority) &&
    (filter.workerId == null || row.workerId === filter.workerId) &&
    (filter.idempotencyKey == null || row.idempotencyKey === filter.idempotencyKey) &&
    has(filter.requires, row.requires) &&
    has(filter.metadata, row.metadata) &&
    within(row.createdAt, filter.createdAfter, filter.createdBefore) &&
    within(row.updatedAt, filter.updatedAfter, filter.updatedBefore)
  );
}

/** Query.task and Query.tasks, over the `tasks` table (and the history, for `asOf`). */
export function queryResolvers({ pool, getTaskFromLog }: QueryDeps) {
  return {
    task: async (
      _root: unknown,
      { id, asOf }: { id: string; asOf?: { version?: number | null; time?: Date | null } | null },
      context: Context,
    ) => {
      context.limits?.checkTime();
      const principal = principalOf(context);
      const task = asOf
        ? await taskAsOf(pool, id, asOf)
        : ((await loadTasks(pool, [id])).get(id) ?? (await getTaskFromLog?.(id)) ?? null);
      // Another tenant's task is not there, as far as this key can tell.
      return task && inNamespace(principal, task.namespace) ? task : null;
    },
    tasks: (
      _root: unknown,
      args: {
        filter?: TaskFilter | null;
        orderBy?: "OLDEST_FIRST" | "NEWEST_FIRST" | null;
        first: number;
        after?: string | null;
      },
      context: Context,
    ) => {
      context.limits?.checkTime();
      return graphqlErrors(() =>
        listTaskConnection(pool, args, visibleNamespaces(principalOf(context), args.filter?.namespace)),
      );
    },
  };
}

/** GraphQL's `tasks`: a page of the shared listing as a connection with cursors. */
async function listTaskConnection(
  pool: pg.Pool,
  args: { filter?: TaskFilter | null; orderBy?: string | null; first: number; after?: string | null },
  namespaces: string[] | null,
) {
  const { filter, first, after } = args;
  if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE_SIZE) {
    throw new GraphQLError(`first: must be between 1 and ${MAX_PAGE_SIZE}, got ${first}`, {
      extensions: { code: "BAD_USER_INPUT", argument: "first" },
    });
  }
  const afterId = after == null ? null : decodeCursor(after).id;
  const query: TaskListQuery = {
    namespaces,
    state: filter?.state,
    type: filter?.type,
    priority: filter?.priority,
    workerId: filter?.workerId,
    idempotencyKey: filter?.idempotencyKey,
    requires: filter?.requires,
    metadata: filter?.metadata,
    createdFrom: filter?.createdAfter?.getTime(),
    createdTo: filter?.createdBefore?.getTime(),
    updatedFrom: filter?.updatedAfter?.getTime(),
    updatedTo: filter?.updatedBefore?.getTime(),
    newestFirst: args.orderBy === "NEWEST_FIRST",
    afterId,
    first,
  };
  const page = await listTasks(pool, query).catch((error: unknown) => {
    if (!(error instanceof ValidationError)) throw error;
    throw new GraphQLError(error.message, { extensions: { code: error.code, fields: error.fields } });
  });
  const last = page.rows.at(-1);
  return {
    edges: page.rows.map((node) => ({ node, cursor: encodeCursor(node) })),
    pageInfo: { hasNextPage: page.hasNextPage, endCursor: last ? encodeCursor(last) : null },
  };
}
