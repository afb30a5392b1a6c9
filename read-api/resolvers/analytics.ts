import { GraphQLError } from "graphql";
import type { RedisClient } from "../../event-store/redis-client.ts";
import type pg from "pg";
import { partitionKeys } from "../../event-store/keys.ts";
import { streamIdTime } from "../../event-store/stream-ids.ts";
import { TASK_STATES } from "../queries/task-list.ts";
import {
  analyticsByType,
  analyticsSeries,
  busiestWorkers,
  combine,
  countsByState,
  percentiles,
  type StatsWindow,
  type TypeAnalytics,
} from "../queries/analytics.ts";
import { readDispatchStats } from "../../queues/dispatch-stats.ts";

const MAX_WINDOW_MINUTES = 31 * 24 * 60;
const MAX_POINTS = 1440;
const UNITS = { m: 1, h: 60, d: 1440 } as const;

const badInput = (argument: string, message: string) =>
  new GraphQLError(`${argument}: ${message}`, { extensions: { code: "BAD_USER_INPUT", argument } });

/** Parses `window` ("15m", "1h", "7d") into whole minutes ending with the current one. */
export function parseWindow(text: string, now = Date.now()): StatsWindow {
  const match = /^(\d{1,6})([mhd])$/.exec(text.trim());
  const minutes = match ? Number(match[1]) * UNITS[match[2] as keyof typeof UNITS] : Number.NaN;
  if (!(minutes >= 1 && minutes <= MAX_WINDOW_MINUTES))
    throw badInput("window", `must be a number and m, h or d (15m, 1h, 7d), at most 31d; got "${text}"`);
  const to = new Date(Math.floor(now / 60_000) * 60_000 + 60_000);
  return { from: new Date(to.getTime() - minutes * 60_000), to, minutes };
}

/** A Stats object as resolved: its arguments, and its analytics read once however many fields ask. */
interface StatsParent {
  window: StatsWindow;
  type: string | null;
  analytics: () => Promise<TypeAnalytics[]>;
}

const checkFirst = (first: number) => {
  if (!Number.isInteger(first) || first < 1 || first > 500)
    throw badInput("first", `must be between 1 and 500, got ${first}`);
};

function typeStats(row: TypeAnalytics) {
  const finished = row.succeeded + row.failed;
  return {
    ...row,
    failureRate: finished === 0 ? null : row.failed / finished,
    retryRate: row.started === 0 ? null : row.retried / row.started,
    scheduleToStart: percentiles(row.scheduleToStart),
    runTime: percentiles(row.runTime),
  };
}

/**
 * Query.stats and the analytics fields of Stats (read-api/analytics.graphql): counts by state from
 * `task_state_counts`, everything else from the per-minute analytics tables; the projection's lag
 * from the log's heads and the checkpoints.
 */
export function analyticsResolvers(deps: {
  pool: pg.Pool;
  redis: RedisClient;
  prefix: string;
  partitions: number;
}) {
  const { pool, redis, prefix, partitions } = deps;
  return {
    Query: {
      stats: async (
        _root: unknown,
        args: { window?: string | null; namespace?: string | null; type?: string | null },
      ) => {
        const window = parseWindow(args.window ?? "1h");
        const type = args.type ?? null;
        const counts = await countsByState(pool, type);
        const byState = TASK_STATES.map((state) => ({ state, count: counts.get(state) ?? 0 }));
        let analytics: Promise<TypeAnalytics[]> | undefined;
        const parent: StatsParent & Record<string, unknown> = {
          window,
          type,
          analytics: () => (analytics ??= analyticsByType(pool, window, type)),
          byState,
          total: byState.reduce((sum, s) => sum + s.count, 0),
        };
        return parent;
      },
    },
    Stats: {
      window: (parent: StatsParent) => parent.window,
      totals: async (parent: StatsParent) => typeStats(combine(await parent.analytics(), parent.type ?? "*")),
      byType: async (parent: StatsParent, { first }: { first: number }) => {
        checkFirst(first);
        const rows = await parent.analytics();
        rows.sort(
          (a, b) => b.submitted - a.submitted || b.started - a.started || a.type.localeCompare(b.type),
        );
        return rows.slice(0, first).map(typeStats);
      },
      series: async (parent: StatsParent, { stepMinutes }: { stepMinutes?: number | null }) => {
        // About 60 points; windows of 12 hours or more in whole hours (read from analytics_hours).
        const minutes = parent.window.minutes;
        const step =
          stepMinutes ??
          (minutes >= 720 ? 60 * Math.ceil(minutes / 3600) : Math.max(1, Math.ceil(minutes / 60)));
        if (!Number.isInteger(step) || step < 1 || parent.window.minutes / step > MAX_POINTS)
          throw badInput(
            "stepMinutes",
            `must be a whole number of minutes giving at most ${MAX_POINTS} points`,
          );
        return analyticsSeries(pool, parent.window, parent.type, step);
      },
      busiestWorkers: async (parent: StatsParent, { first }: { first: number }) => {
        checkFirst(first);
        const [rows, dispatch] = await Promise.all([
          busiestWorkers(pool, parent.window, first),
          readDispatchStats(redis, prefix, partitions),
        ]);
        const live = new Map((dispatch?.workers ?? []).map((w) => [w.id, w]));
        return rows.map((row) => ({
          ...row,
          name: live.get(row.workerId)?.name ?? null,
          connected: live.get(row.workerId)?.connected ?? false,
        }));
      },
      projection: () => projectionStatus(pool, redis, prefix, partitions),
    },
  };
}

/** The age of the oldest event each partition has not projected yet, from the checkpoints and the log. */
async function projectionStatus(pool: pg.Pool, redis: RedisClient, prefix: string, partitions: number) {
  const { rows } = await pool.query<{ partition: number; stream_id: string }>(
    "select partition, stream_id from projection_checkpoints where projector = $1",
    [`${prefix}:tasks`],
  );
  const checkpoints = new Map(rows.map((r) => [r.partition, r.stream_id]));
  // One command per partition, not one pipeline: on a Redis Cluster the partitions are different
  // slots, which a pipeline cannot mix (the connection autopipelines them where it can).
  const results = await Promise.all(
    Array.from({ length: partitions }, (_, p) =>
      redis.xrange(partitionKeys(p, prefix).events, `(${checkpoints.get(p) ?? "0-0"}`, "+", "COUNT", 1),
    ),
  );
  const now = Date.now();
  let lagMs = 0;
  let partitionsBehind = 0;
  for (const entries of results) {
    // The first entry after the checkpoint (the range excludes it): the oldest not projected.
    const next = entries[0];
    if (!next) continue;
    partitionsBehind++;
    lagMs = Math.max(lagMs, now - streamIdTime(next[0]));
  }
  return { lagMs, partitionsBehind };
}
