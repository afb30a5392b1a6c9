import type { Queryable } from "../task-table.ts";
import type { AnalyticsAccumulator, MinuteCounts, OpenAttempt, WorkerMinute } from "./accumulator.ts";

const COUNTERS = [
  ["submitted", "submitted"],
  ["started", "started"],
  ["succeeded", "succeeded"],
  ["failed", "failed"],
  ["retried", "retried"],
  ["dead_lettered", "deadLettered"],
  ["cancelled", "cancelled"],
] as const;

/**
 * Adds rows to a table of per-period counters (`analytics_minutes` / `analytics_hours`, keyed by the
 * period's start and the task type). Rows go in key order (the accumulator sorts them): concurrent
 * projector instances writing the same period take the row locks in one order and cannot deadlock.
 */
const upsertCounters = (table: string, period: string) => `
  insert into ${table} as m (${period}, task_type, ${COUNTERS.map(([c]) => c).join(", ")},
                             schedule_to_start, run_time)
  select to_timestamp(x.period / 1000.0), x.task_type, ${COUNTERS.map(([c]) => `x.${c}`).join(", ")},
         x.schedule_to_start, x.run_time
  from rows from (json_to_recordset($1::json) as (period double precision, task_type text,
       ${COUNTERS.map(([c]) => `${c} int`).join(", ")}, schedule_to_start int[], run_time int[]))
    with ordinality as x(period, task_type, ${COUNTERS.map(([c]) => c).join(", ")}, schedule_to_start, run_time, n)
  order by x.n
  on conflict (${period}, task_type) do update set
    ${COUNTERS.map(([c]) => `${c} = m.${c} + excluded.${c}`).join(", ")},
    schedule_to_start = analytics_add_buckets(m.schedule_to_start, excluded.schedule_to_start),
    run_time = analytics_add_buckets(m.run_time, excluded.run_time)`;

/** The same for the per-worker tables. */
const upsertWorkers = (table: string, period: string) => `
  insert into ${table} as w (${period}, worker_id, succeeded, failed, busy_ms)
  select to_timestamp(x.period / 1000.0), x.worker_id, x.succeeded, x.failed, x.busy_ms
  from rows from (json_to_recordset($1::json)
         as (period double precision, worker_id text, succeeded int, failed int, busy_ms bigint))
    with ordinality as x(period, worker_id, succeeded, failed, busy_ms, n)
  order by x.n
  on conflict (${period}, worker_id) do update set
    succeeded = w.succeeded + excluded.succeeded, failed = w.failed + excluded.failed,
    busy_ms = w.busy_ms + excluded.busy_ms`;

const UPSERT = {
  minutes: upsertCounters("analytics_minutes", "minute"),
  hours: upsertCounters("analytics_hours", "hour"),
  workerMinutes: upsertWorkers("analytics_worker_minutes", "minute"),
  workerHours: upsertWorkers("analytics_worker_hours", "hour"),
};

const UPSERT_OPEN = `
  insert into analytics_open_attempts (task_id, attempt, worker_id, started_at)
  select x.task_id, x.attempt, x.worker_id, to_timestamp(x.started_at / 1000.0)
  from json_to_recordset($1::json) as x(task_id text, attempt int, worker_id text, started_at double precision)
  on conflict (task_id) do update set
    attempt = excluded.attempt, worker_id = excluded.worker_id, started_at = excluded.started_at`;

/**
 * Writes a batch's analytics inside the batch's transaction: the run times of attempts that started
 * in an earlier batch (their start is taken out of `analytics_open_attempts`), the attempts still
 * running (kept there for the batch that ends them), and the per-minute counters and histograms
 * added to what the rows hold.
 */
export async function writeAnalytics(db: Queryable, analytics: AnalyticsAccumulator): Promise<void> {
  const closed = analytics.closedTasks();
  const { open, ended } = analytics.attempts();
  if (closed.length > 0) {
    const { rows } = await db.query<{
      task_id: string;
      attempt: number;
      worker_id: string;
      started_at: Date;
    }>({
      name: "analytics-close-attempts",
      text: "delete from analytics_open_attempts where task_id = any($1::text[]) returning *",
      values: [closed],
    });
    const starts = new Map<string, OpenAttempt>(
      rows.map((r) => [
        r.task_id,
        { taskId: r.task_id, attempt: r.attempt, workerId: r.worker_id, startedAt: r.started_at.getTime() },
      ]),
    );
    for (const end of ended) {
      const start = starts.get(end.taskId);
      if (start) analytics.recordRun(end, start);
    }
  }
  if (open.length > 0)
    await db.query({
      name: "analytics-open-attempts",
      text: UPSERT_OPEN,
      values: [JSON.stringify(open.map(openRecord))],
    });
  const minutes = analytics.minuteRows();
  if (minutes.length > 0) {
    const json = (rows: MinuteCounts[]) =>
      JSON.stringify(
        rows.map((m) => ({
          period: m.minute,
          task_type: m.taskType,
          ...Object.fromEntries(COUNTERS.map(([column, field]) => [column, m[field]])),
          schedule_to_start: m.scheduleToStart,
          run_time: m.runTime,
        })),
      );
    await db.query({ name: "analytics-minutes", text: UPSERT.minutes, values: [json(minutes)] });
    await db.query({ name: "analytics-hours", text: UPSERT.hours, values: [json(rollUpCounters(minutes))] });
  }
  const workers = analytics.workerRows();
  if (workers.length > 0) {
    const json = (rows: WorkerMinute[]) =>
      JSON.stringify(
        rows.map((w) => ({
          period: w.minute,
          worker_id: w.workerId,
          succeeded: w.succeeded,
          failed: w.failed,
          busy_ms: w.busyMs,
        })),
      );
    await db.query({ name: "analytics-worker-minutes", text: UPSERT.workerMinutes, values: [json(workers)] });
    await db.query({
      name: "analytics-worker-hours",
      text: UPSERT.workerHours,
      values: [json(rollUpWorkers(workers))],
    });
  }
}

const HOUR = 3_600_000;

/** Minute rows added up per hour (still in key order: minutes are sorted, hours follow them). */
function rollUpCounters(minutes: MinuteCounts[]): MinuteCounts[] {
  const hours = new Map<string, MinuteCounts>();
  for (const m of minutes) {
    const hour = Math.floor(m.minute / HOUR) * HOUR;
    const key = `${hour}\u0000${m.taskType}`;
    const known = hours.get(key);
    if (!known) {
      hours.set(key, {
        ...m,
        minute: hour,
        scheduleToStart: [...m.scheduleToStart],
        runTime: [...m.runTime],
      });
      continue;
    }
    for (const [, field] of COUNTERS) known[field] += m[field];
    m.scheduleToStart.forEach((c, j) => (known.scheduleToStart[j]! += c));
    m.runTime.forEach((c, j) => (known.runTime[j]! += c));
  }
  return [...hours.values()].sort(
    (a, b) => a.minute - b.minute || (a.taskType < b.taskType ? -1 : a.taskType > b.taskType ? 1 : 0),
  );
}

function rollUpWorkers(minutes: WorkerMinute[]): WorkerMinute[] {
  const hours = new Map<string, WorkerMinute>();
  for (const w of minutes) {
    const hour = Math.floor(w.minute / HOUR) * HOUR;
    const key = `${hour}\u0000${w.workerId}`;
    const known = hours.get(key);
    if (!known) hours.set(key, { ...w, minute: hour });
    else {
      known.succeeded += w.succeeded;
      known.failed += w.failed;
      known.busyMs += w.busyMs;
    }
  }
  return [...hours.values()].sort(
    (a, b) => a.minute - b.minute || (a.workerId < b.workerId ? -1 : a.workerId > b.workerId ? 1 : 0),
  );
}

function openRecord(attempt: OpenAttempt) {
  return {
    task_id: attempt.taskId,
    attempt: attempt.attempt,
    worker_id: attempt.workerId,
    started_at: attempt.startedAt,
  };
}
