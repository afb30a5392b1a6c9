import { GraphQLError } from "graphql";
import type { RedisClient } from "../../event-store/redis-client.ts";
import type pg from "pg";
import { HTTP_STATUS, TaskstreamError, ValidationError } from "../../domain/task/index.ts";
import { nextFireTime } from "../../domain/schedule/cron.ts";
import type { QueueSettings, QueueSettingsStore } from "../../queues/queue-settings.ts";
import { TASK_STATES } from "../queries/task-list.ts";
import { readDispatchStats } from "../../queues/dispatch-stats.ts";
import type { ScheduleNode } from "./schedules.ts";

const defaults = (type: string): QueueSettings => ({
  type,
  ratePerSecond: 0,
  burst: 0,
  maxBacklog: 0,
  retry: null,
});

/** A command-side error as a GraphQL error with the same code (and `fields` for validation). */
function asGraphQLError(error: unknown): unknown {
  if (!(error instanceof TaskstreamError)) return error;
  const fields = error instanceof ValidationError ? error.fields : undefined;
  return new GraphQLError(error.message, {
    extensions: { code: error.code, status: HTTP_STATUS[error.code], fields },
  });
}

/**
 * Queues and concurrency limits over GraphQL (read-api/queues.graphql), through the same settings
 * store as REST; changing them needs the api role (`settings` given with `writable`). Also
 * Schedule.upcoming (read-api/schedule-upcoming.graphql).
 */
export function queueResolvers(deps: {
  pool: pg.Pool;
  redis: RedisClient;
  prefix: string;
  settings?: QueueSettingsStore;
  writable: boolean;
  /** The log's partition count: the dispatch stats are kept per partition. */
  partitions: number;
}) {
  const { pool, redis, prefix, settings, partitions } = deps;
  const counts = async (types: string[] | null) => {
    const { rows } = await pool.query<{ task_type: string; state: string; count: number }>(
      `select task_type, state, count::float8 as count from task_state_counts
       where count > 0 ${types ? "and task_type = any($1::text[])" : ""}`,
      types ? [types] : [],
    );
    const byType = new Map<string, Map<string, number>>();
    for (const r of rows) {
      const states = byType.get(r.task_type) ?? new Map<string, number>();
      states.set(r.state, r.count);
      byType.set(r.task_type, states);
    }
    return byType;
  };
  const queues = async (only: string[] | null) => {
    await settings?.refresh();
    const [byType, dispatch] = await Promise.all([
      counts(only),
      readDispatchStats(redis, prefix, partitions),
    ]);
    const types = new Set(only ?? []);
    if (!only) {
      for (const q of settings?.listQueues() ?? []) types.add(q.type);
      for (const type of Object.keys(dispatch?.backlogByType ?? {})) types.add(type);
      for (const type of byType.keys()) types.add(type);
    }
    return [...types].sort().map((type) => ({
      ...(settings?.queue(type) ?? defaults(type)),
      waiting: dispatch ? (dispatch.backlogByType[type] ?? 0) : null,
      byState: TASK_STATES.map((state) => ({ state, count: byType.get(type)?.get(state) ?? 0 })),
    }));
  };
  const writer = () => {
    if (!settings || !deps.writable)
      throw new GraphQLError("this instance does not run the api role: mutations are unavailable");
    return settings;
  };
  return {
    Query: {
      queues: () => queues(null),
      queue: async (_root: unknown, { type }: { type: string }) => (await queues([type]))[0] ?? null,
      concurrencyLimits: async () => {
        await settings?.refresh();
        return settings?.listConcurrency() ?? [];
      },
    },
    Mutation: {
      setQueue: async (_root: unknown, args: { type: string; settings: Record<string, unknown> }) => {
        const patch = Object.fromEntries(Object.entries(args.settings).filter(([, v]) => v !== undefined));
        try {
          await writer().setQueue(args.type, patch);
        } catch (error) {
          throw asGraphQLError(error);
        }
        return (await queues([args.type]))[0];
      },
      setConcurrencyLimit: async (_root: unknown, args: { key: string; maxRunning: number }) => {
        try {
          return await writer().setConcurrencyLimit(args.key, { maxRunning: args.maxRunning });
        } catch (error) {
          throw asGraphQLError(error);
        }
      },
    },
    Schedule: {
      upcoming: (schedule: ScheduleNode, { first }: { first: number }) => {
        if (!Number.isInteger(first) || first < 1 || first > 100)
          throw new GraphQLError(`first: must be between 1 and 100, got ${first}`, {
            extensions: { code: "BAD_USER_INPUT", argument: "first" },
          });
        if (schedule.status !== "ACTIVE") return [];
        const times: number[] = [];
        for (let after = Date.now(); times.length < first;) {
          const next = nextFireTime(schedule.cron, schedule.timeZone, after);
          if (next === null) break;
          times.push(next);
          after = next;
        }
        return times;
      },
    },
  };
}
