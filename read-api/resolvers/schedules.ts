import { GraphQLError } from "graphql";
import type pg from "pg";
import { NotFoundError, TaskstreamError, ValidationError, HTTP_STATUS } from "../../domain/task/index.ts";
import type { ScheduleMutations } from "../command-ports.ts";
import type { ScheduleView } from "../../domain/schedule/view.ts";
import type { ScheduleRecord } from "../../projections/schedules/schedule-table.ts";
import { loadTasks } from "../../projections/task-table.ts";
import { principalOf, type CallerContext } from "../access.ts";
import { inNamespace, visibleNamespaces } from "../../auth/principal.ts";
import { scheduleNamespace } from "../../domain/schedule/namespace.ts";

/** A `Schedule` as resolved: from a read-model row, or from the command side's view (mutations). */
export interface ScheduleNode {
  id: string;
  cron: string;
  timeZone: string;
  status: string;
  catchUp: string;
  task: unknown;
  lastFiredAt: Date | string | null;
  nextFireAt: Date | string | null;
  firingCount: number;
  createdAt: Date | string;
  updatedAt: Date | string;
  version: number;
}

interface FiringRecord {
  schedule_id: string;
  fire_at: Date;
  task_id: string | null;
  error: string | null;
  recorded_at: Date;
}

export interface ScheduleResolverDeps {
  pool: pg.Pool;
  /** The schedule command layer, for mutations and for schedules not projected yet; absent: mutations answer an error. */
  commands?: ScheduleMutations;
}

const MAX_FIRST = 500;

const fromRecord = (r: ScheduleRecord): ScheduleNode => ({
  id: r.id,
  cron: r.cron,
  timeZone: r.time_zone,
  status: r.status,
  catchUp: r.catch_up,
  task: r.task,
  lastFiredAt: r.last_fired_at,
  nextFireAt: r.next_fire_at,
  firingCount: r.firings,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  version: r.version,
});

const fromView = ({ firings, lastTaskId: _lastTaskId, ...view }: ScheduleView): ScheduleNode => ({
  ...view,
  firingCount: firings,
});

function checkFirst(first: number): void {
  if (!Number.isInteger(first) || first < 1 || first > MAX_FIRST) {
    throw new GraphQLError(`first: must be between 1 and ${MAX_FIRST}, got ${first}`, {
      extensions: { code: "BAD_USER_INPUT", argument: "first" },
    });
  }
}

function decodeAfter(after: string): string {
  const id = Buffer.from(after, "base64url").toString("utf8");
  if (!/^[\w-]+$/.test(after) || !/^[\w-]{1,64}$/.test(id)) {
    throw new GraphQLError("after: not a cursor from this API (use a pageInfo.endCursor)", {
      extensions: { code: "BAD_USER_INPUT", argument: "after" },
    });
  }
  return id;
}

/**
 * The schedules extension of the read API (read-api/schedules.graphql): queries over the read model,
 * mutations through the schedule command layer (the same as REST and gRPC, so the same errors:
 * `extensions.code` VALIDATION with `fields`, NOT_FOUND, ILLEGAL_STATE), and loaders that fetch the
 * firings, histories and tasks of every schedule in a response in one query each.
 */
export function scheduleResolvers({ pool, commands }: ScheduleResolverDeps) {
  const run = async (work: (c: ScheduleMutations) => Promise<ScheduleView>): Promise<ScheduleNode> => {
    if (!commands)
      throw new GraphQLError("this instance does not run the api role: mutations are unavailable");
    try {
      return fromView(await work(commands));
    } catch (error) {
      if (!(error instanceof TaskstreamError)) throw error;
      const fields = error instanceof ValidationError ? error.fields : undefined;
      throw new GraphQLError(error.message, {
        extensions: { code: error.code, status: HTTP_STATUS[error.code], fields },
      });
    }
  };
  const withoutNulls = (input: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(input).filter(([, value]) => value !== null && value !== undefined));

  return {
    resolvers: {
      Query: {
        schedule: async (
          _root: unknown,
          { id }: { id: string },
          context: CallerContext,
        ): Promise<ScheduleNode | null> => {
          const principal = principalOf(context);
          const { rows } = await pool.query<ScheduleRecord>("select * from schedules where id = $1", [id]);
          // Another tenant's schedule is not there, as far as this key can tell.
          if (rows[0])
            return inNamespace(principal, scheduleNamespace(rows[0].task)) ? fromRecord(rows[0]) : null;
          // Not projected yet: answer from the log rather than "not found" right after creation.
          if (!commands) return null;
          try {
            return fromView(await commands.get(id, principalOf(context)));
          } catch (error) {
            if (error instanceof NotFoundError) return null;
            throw error;
          }
        },
        schedules: async (
          _root: unknown,
          { status, first, after }: { status?: string | null; first: number; after?: string | null },
          context: CallerContext,
        ) => {
          checkFirst(first);
          const namespaces = visibleNamespaces(principalOf(context));
          const params: unknown[] = [];
          const param = (value: unknown) => `$${params.push(value)}`;
          const where = [status ? `status = ${param(status)}` : "status <> 'DELETED'"];
          if (namespaces !== null)
            where.push(`coalesce(task->>'namespace', 'default') = any(${param(namespaces)}::text[])`);
          if (after) where.push(`id > ${param(decodeAfter(after))}`);
          const { rows } = await pool.query<ScheduleRecord>(
            `select * from schedules where ${where.join(" and ")} order by id limit ${param(first + 1)}`,
            params,
          );
          const page = rows.slice(0, first).map(fromRecord);
          const cursor = (node: ScheduleNode) => Buffer.from(node.id).toString("base64url");
          const last = page.at(-1);
          return {
            edges: page.map((node) => ({ node, cursor: cursor(node) })),
            pageInfo: { hasNextPage: rows.length > first, endCursor: last ? cursor(last) : null },
          };
        },
      },
      Mutation: {
        createSchedule: (
          _root: unknown,
          { input }: { input: Record<string, unknown> },
          context: CallerContext,
        ) => run((c) => c.create(withoutNulls(input), principalOf(context))),
        pauseSchedule: (_root: unknown, { id }: { id: string }, context: CallerContext) =>
          run((c) => c.pause(id, principalOf(context))),
        resumeSchedule: (_root: unknown, { id }: { id: string }, context: CallerContext) =>
          run((c) => c.resume(id, principalOf(context))),
        deleteSchedule: (_root: unknown, { id }: { id: string }, context: CallerContext) =>
          run((c) => c.delete(id, principalOf(context))),
      },
    },
    loaders: {
      Schedule: {
        firings: async (queries: { obj: ScheduleNode; params: { first: number } }[]) => {
          for (const query of queries) checkFirst(query.params.first);
          // The latest `first` firings of each schedule, in one query. Rows carry the ordinal of
          // their query: one schedule may be asked twice with different `first` (aliases).
          const { rows } = await pool.query<FiringRecord & { q: string }>(
            `select q.i as q, f.* from unnest($1::text[], $2::int[]) with ordinality as q(id, n, i)
             cross join lateral (select * from schedule_firings where schedule_id = q.id
                                 order by fire_at desc limit q.n) f
             order by q.i, f.fire_at desc`,
            [queries.map((q) => q.obj.id), queries.map((q) => q.params.first)],
          );
          return queries.map((_query, i) =>
            rows
              .filter((r) => Number(r.q) === i + 1)
              .map((r) => ({
                fireAt: r.fire_at,
                taskId: r.task_id,
                error: r.error,
                recordedAt: r.recorded_at,
              })),
          );
        },
        history: async (queries: { obj: ScheduleNode }[]) => {
          const { rows } = await pool.query<{
            schedule_id: string;
            version: number;
            type: string;
            data: unknown;
            recorded_at: Date;
          }>(
            "select * from schedule_events where schedule_id = any($1::text[]) order by schedule_id, version",
            [queries.map((q) => q.obj.id)],
          );
          return queries.map((q) =>
            rows
              .filter((r) => r.schedule_id === q.obj.id)
              .map((r) => ({ version: r.version, type: r.type, at: r.recorded_at, data: r.data })),
          );
        },
      },
      ScheduleFiring: {
        task: async (queries: { obj: { taskId: string | null } }[]) => {
          const ids = queries.flatMap((q) => (q.obj.taskId ? [q.obj.taskId] : []));
          const tasks = await loadTasks(pool, [...new Set(ids)]);
          return queries.map((q) => (q.obj.taskId ? (tasks.get(q.obj.taskId) ?? null) : null));
        },
      },
    },
  };
}
