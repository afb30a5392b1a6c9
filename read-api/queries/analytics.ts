import type pg from "pg";
import { BUCKETS, quantile } from "../../projections/analytics/histogram.ts";

/** A window of analytics: [from, to), whole minutes. */
export interface StatsWindow {
  from: Date;
  to: Date;
  minutes: number;
}

/** Counters over a window (of one type, or of all). */
export interface Counters {
  submitted: number;
  started: number;
  succeeded: number;
  failed: number;
  retried: number;
  deadLettered: number;
  cancelled: number;
}

export interface TypeAnalytics extends Counters {
  type: string;
  scheduleToStart: number[];
  runTime: number[];
}

const COUNTER_SQL = `sum(submitted)::float8 submitted, sum(started)::float8 started, sum(succeeded)::float8 succeeded,
  sum(failed)::float8 failed, sum(retried)::float8 retried, sum(dead_lettered)::float8 dead_lettered,
  sum(cancelled)::float8 cancelled`;

interface CounterRecord {
  submitted: number;
  started: number;
  succeeded: number;
  failed: number;
  retried: number;
  dead_lettered: number;
  cancelled: number;
}

const counters = (r: CounterRecord): Counters => ({
  submitted: r.submitted,
  started: r.started,
  succeeded: r.succeeded,
  failed: r.failed,
  retried: r.retried,
  deadLettered: r.dead_lettered,
  cancelled: r.cancelled,
});

const HOUR = 3_600_000;

/**
 * The rows a window reads: its whole hours from `analytics_hours`, its ragged ends (and any window
 * shorter than an hour) from `analytics_minutes`. As SQL text over parameters $1 from, $2 first
 * whole hour, $3 end of the last whole hour, $4 to; `extra` narrows both (e.g. to one type).
 */
function windowRows(
  window: StatsWindow,
  table: "counters" | "workers",
  extra = "",
): { sql: string; params: unknown[] } {
  const from = window.from.getTime();
  const to = window.to.getTime();
  let h1 = Math.ceil(from / HOUR) * HOUR;
  let h2 = Math.floor(to / HOUR) * HOUR;
  if (h1 >= h2) h1 = h2 = to;
  const [minutes, hours] =
    table === "counters"
      ? ["analytics_minutes", "analytics_hours"]
      : ["analytics_worker_minutes", "analytics_worker_hours"];
  const columns =
    table === "counters"
      ? "task_type, submitted, started, succeeded, failed, retried, dead_lettered, cancelled, schedule_to_start, run_time"
      : "worker_id, succeeded, failed, busy_ms";
  return {
    // Three plain ranges (not one OR): each is an index range scan on its table's primary key.
    sql: `(select ${columns} from ${minutes} where minute >= $1 and minute < $2 ${extra}
          union all
          select ${columns} from ${minutes} where minute >= $3 and minute < $4 ${extra}
          union all
          select ${columns} from ${hours} where hour >= $2 and hour < $3 ${extra})`,
    params: [window.from, new Date(h1), new Date(h2), window.to],
  };
}

/**
 * Counters and summed latency histograms per task type over the window: whole hours from
 * `analytics_hours`, the ends from `analytics_minutes` (index range scans on their primary keys).
 * The cost grows with hours and types in the window, not with tasks.
 */
export async function analyticsByType(
  pool: pg.Pool,
  window: StatsWindow,
  type: string | null,
): Promise<TypeAnalytics[]> {
  const { sql, params } = windowRows(window, "counters", type === null ? "" : "and task_type = $5");
  if (type !== null) params.push(type);
  const [totals, histograms] = await Promise.all([
    pool.query<CounterRecord & { task_type: string }>(
      `select task_type, ${COUNTER_SQL} from ${sql} w group by task_type`,
      params,
    ),
    pool.query<{ task_type: string; metric: "s" | "r"; i: number; c: number }>(
      `with w as materialized ${sql}
       select task_type, 's' as metric, i::int, sum(c)::float8 c
         from w, unnest(schedule_to_start) with ordinality u(c, i) where c > 0 group by task_type, i
       union all
       select task_type, 'r', i::int, sum(c)::float8
         from w, unnest(run_time) with ordinality u(c, i) where c > 0 group by task_type, i`,
      params,
    ),
  ]);
  const types = new Map<string, TypeAnalytics>();
  for (const r of totals.rows)
    types.set(r.task_type, {
      type: r.task_type,
      ...counters(r),
      scheduleToStart: new Array<number>(BUCKETS).fill(0),
      runTime: new Array<number>(BUCKETS).fill(0),
    });
  for (const h of histograms.rows) {
    const row = types.get(h.task_type);
    if (!row) continue;
    (h.metric === "s" ? row.scheduleToStart : row.runTime)[h.i - 1] = h.c;
  }
  return [...types.values()];
}

/** Every type's analytics added up. */
export function combine(rows: TypeAnalytics[], type = "*"): TypeAnalytics {
  const total: TypeAnalytics = {
    type,
    submitted: 0,
    started: 0,
    succeeded: 0,
    failed: 0,
    retried: 0,
    deadLettered: 0,
    cancelled: 0,
    scheduleToStart: new Array<number>(BUCKETS).fill(0),
    runTime: new Array<number>(BUCKETS).fill(0),
  };
  for (const row of rows) {
    for (const key of [
      "submitted",
      "started",
      "succeeded",
      "failed",
      "retried",
      "deadLettered",
      "cancelled",
    ] as const)
      total[key] += row[key];
    for (let j = 0; j < BUCKETS; j++) {
      total.scheduleToStart[j]! += row.scheduleToStart[j] ?? 0;
      total.runTime[j]! += row.runTime[j] ?? 0;
    }
  }
  return total;
}

/** p50/p95/p99 estimated from a summed histogram, and how many durations it counts. */
export function percentiles(histogram: number[]) {
  return {
    count: histogram.reduce((sum, c) => sum + c, 0),
    p50: quantile(histogram, 0.5),
    p95: quantile(histogram, 0.95),
    p99: quantile(histogram, 0.99),
  };
}

/** One point of the series: the counters of `stepMinutes` minutes from `at`, and their latencies. */
export type SeriesPoint = Counters & {
  at: Date;
  scheduleToStart: ReturnType<typeof percentiles>;
  runTime: ReturnType<typeof percentiles>;
};

/**
 * Counters and latencies per step over the window, every step present (zeros where nothing
 * happened). Steps of whole hours read `analytics_hours` and start at the hour; shorter steps read
 * `analytics_minutes` from the window's start.
 */
export async function analyticsSeries(
  pool: pg.Pool,
  window: StatsWindow,
  type: string | null,
  stepMinutes: number,
): Promise<SeriesPoint[]> {
  const hourly = stepMinutes % 60 === 0;
  const [table, column] = hourly ? ["analytics_hours", "hour"] : ["analytics_minutes", "minute"];
  const from = hourly ? new Date(Math.floor(window.from.getTime() / HOUR) * HOUR) : window.from;
  const params: unknown[] = [from, window.to, `${stepMinutes} minutes`];
  const byType = type === null ? "" : `and task_type = $${params.push(type)}`;
  const range = `${column} >= $1 and ${column} < $2 ${byType}`;
  const bin = `date_bin($3::interval, ${column}, $1)`;
  const [{ rows }, histograms] = await Promise.all([
    pool.query<CounterRecord & { at: Date }>(
      `select ${bin} as at, ${COUNTER_SQL} from ${table} where ${range} group by 1 order by 1`,
      params,
    ),
    pool.query<{ at: Date; metric: "s" | "r"; i: number; c: number }>(
      `select ${bin} as at, 's' as metric, i::int, sum(c)::float8 c
         from ${table}, unnest(schedule_to_start) with ordinality u(c, i)
         where ${range} and c > 0 group by 1, i
       union all
       select ${bin}, 'r', i::int, sum(c)::float8
         from ${table}, unnest(run_time) with ordinality u(c, i)
         where ${range} and c > 0 group by 1, i`,
      params,
    ),
  ]);
  const found = new Map(rows.map((r) => [r.at.getTime(), r]));
  const buckets = new Map<string, number[]>();
  for (const h of histograms.rows) {
    const key = `${h.at.getTime()}:${h.metric}`;
    const histogram = buckets.get(key) ?? new Array<number>(BUCKETS).fill(0);
    histogram[h.i - 1] = h.c;
    buckets.set(key, histogram);
  }
  const empty = new Array<number>(BUCKETS).fill(0);
  const points: SeriesPoint[] = [];
  const step = stepMinutes * 60_000;
  for (let at = from.getTime(); at < window.to.getTime(); at += step) {
    const r = found.get(at);
    points.push({
      at: new Date(at),
      ...(r
        ? counters(r)
        : { submitted: 0, started: 0, succeeded: 0, failed: 0, retried: 0, deadLettered: 0, cancelled: 0 }),
      scheduleToStart: percentiles(buckets.get(`${at}:s`) ?? empty),
      runTime: percentiles(buckets.get(`${at}:r`) ?? empty),
    });
  }
  return points;
}

/** The workers that ran the most (by time spent running attempts) in the window. */
export async function busiestWorkers(pool: pg.Pool, window: StatsWindow, first: number) {
  const { sql, params } = windowRows(window, "workers");
  const { rows } = await pool.query<{
    worker_id: string;
    succeeded: number;
    failed: number;
    busy_ms: number;
  }>(
    `select worker_id, sum(succeeded)::float8 succeeded, sum(failed)::float8 failed, sum(busy_ms)::float8 busy_ms
     from ${sql} w group by worker_id order by sum(busy_ms) desc, worker_id limit $5`,
    [...params, first],
  );
  return rows.map((r) => ({
    workerId: r.worker_id,
    succeeded: r.succeeded,
    failed: r.failed,
    busyMs: r.busy_ms,
  }));
}

/** Tasks per state, from the counts the projector keeps (no scan of `tasks`). */
export async function countsByState(pool: pg.Pool, type: string | null): Promise<Map<string, number>> {
  const { rows } = await pool.query<{ state: string; count: number }>(
    `select state, sum(count)::float8 as count from task_state_counts
     ${type === null ? "" : "where task_type = $1"} group by state`,
    type === null ? [] : [type],
  );
  return new Map(rows.map((r) => [r.state, r.count]));
}
