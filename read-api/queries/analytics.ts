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

/**
 * Counters and summed latency histograms per task type over the window, from `analytics_minutes`
 * (two index range scans on its primary key; the cost is per minute and type, not per task).
 */
export async function analyticsByType(
  pool: pg.Pool,
  window: StatsWindow,
  type: string | null,
): Promise<TypeAnalytics[]> {
  const params: unknown[] = [window.from, window.to];
  const byType = type === null ? "" : `and task_type = $${params.push(type)}`;
  const range = `minute >= $1 and minute < $2 ${byType}`;
  const [totals, histograms] = await Promise.all([
    pool.query<CounterRecord & { task_type: string }>(
      `select task_type, ${COUNTER_SQL} from analytics_minutes where ${range} group by task_type`,
      params,
    ),
    pool.query<{ task_type: string; metric: "s" | "r"; i: number; c: number }>(
      `select task_type, 's' as metric, i::int, sum(c)::float8 c
         from analytics_minutes, unnest(schedule_to_start) with ordinality u(c, i)
         where ${range} and c > 0 group by task_type, i
       union all
       select task_type, 'r', i::int, sum(c)::float8
         from analytics_minutes, unnest(run_time) with ordinality u(c, i)
         where ${range} and c > 0 group by task_type, i`,
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

/** Counters per step over the window, every step present (zeros where nothing happened). */
export async function analyticsSeries(
  pool: pg.Pool,
  window: StatsWindow,
  type: string | null,
  stepMinutes: number,
): Promise<SeriesPoint[]> {
  const params: unknown[] = [window.from, window.to, `${stepMinutes} minutes`];
  const byType = type === null ? "" : `and task_type = $${params.push(type)}`;
  const range = `minute >= $1 and minute < $2 ${byType}`;
  const [{ rows }, histograms] = await Promise.all([
    pool.query<CounterRecord & { at: Date }>(
      `select date_bin($3::interval, minute, $1) as at, ${COUNTER_SQL}
       from analytics_minutes where ${range} group by 1 order by 1`,
      params,
    ),
    pool.query<{ at: Date; metric: "s" | "r"; i: number; c: number }>(
      `select date_bin($3::interval, minute, $1) as at, 's' as metric, i::int, sum(c)::float8 c
         from analytics_minutes, unnest(schedule_to_start) with ordinality u(c, i)
         where ${range} and c > 0 group by 1, i
       union all
       select date_bin($3::interval, minute, $1), 'r', i::int, sum(c)::float8
         from analytics_minutes, unnest(run_time) with ordinality u(c, i)
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
  for (let at = window.from.getTime(); at < window.to.getTime(); at += step) {
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
  const { rows } = await pool.query<{
    worker_id: string;
    succeeded: number;
    failed: number;
    busy_ms: number;
  }>(
    `select worker_id, sum(succeeded)::float8 succeeded, sum(failed)::float8 failed, sum(busy_ms)::float8 busy_ms
     from analytics_worker_minutes where minute >= $1 and minute < $2
     group by worker_id order by sum(busy_ms) desc, worker_id limit $3`,
    [window.from, window.to, first],
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
