import type { Queryable } from "../task-table.ts";
import type { AnalyticsAccumulator, OpenAttempt } from "./accumulator.ts";

const COUNTERS = [
  ["submitted", "submitted"],
  ["started", "started"],
  ["succeeded", "succeeded"],
  ["failed", "failed"],
  ["retried", "retried"],
  ["dead_lettered", "deadLettered"],
  ["cancelled", "cancelled"],
] as const;

// Rows go in key order (the accumulator sorts them): concurrent projector instances writing the same
// minute take the row locks in one order and cannot deadlock.
const UPSERT_MINUTES = `
  insert into analytics_minutes as m (minute, task_type, ${COUNTERS.map(([c]) => c).join(", ")},
                                      schedule_to_start, run_time)
  select to_timestamp(x.minute / 1000.0), x.task_type, ${COUNTERS.map(([c]) => `x.${c}`).join(", ")},
         x.schedule_to_start, x.run_time
  from rows from (json_to_recordset($1::json) as (minute double precision, task_type text,
       ${COUNTERS.map(([c]) => `${c} int`).join(", ")}, schedule_to_start int[], run_time int[]))
    with ordinality as x(minute, task_type, ${COUNTERS.map(([c]) => c).join(", ")}, schedule_to_start, run_time, n)
  order by x.n
  on conflict (minute, task_type) do update set
    ${COUNTERS.map(([c]) => `${c} = m.${c} + excluded.${c}`).join(", ")},
    schedule_to_start = analytics_add_buckets(m.schedule_to_start, excluded.schedule_to_start),
    run_time = analytics_add_buckets(m.run_time, excluded.run_time)`;

const UPSERT_WORKERS = `
  insert into analytics_worker_minutes as w (minute, worker_id, succeeded, failed, busy_ms)
  select to_timestamp(x.minute / 1000.0), x.worker_id, x.succeeded, x.failed, x.busy_ms
  from rows from (json_to_recordset($1::json)
         as (minute double precision, worker_id text, succeeded int, failed int, busy_ms bigint))
    with ordinality as x(minute, worker_id, succeeded, failed, busy_ms, n)
  order by x.n
  on conflict (minute, worker_id) do update set
    succeeded = w.succeeded + excluded.succeeded, failed = w.failed + excluded.failed,
    busy_ms = w.busy_ms + excluded.busy_ms`;

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
    const json = JSON.stringify(
      minutes.map((m) => ({
        minute: m.minute,
        task_type: m.taskType,
        ...Object.fromEntries(COUNTERS.map(([column, field]) => [column, m[field]])),
        schedule_to_start: m.scheduleToStart,
        run_time: m.runTime,
      })),
    );
    await db.query({ name: "analytics-minutes", text: UPSERT_MINUTES, values: [json] });
  }
  const workers = analytics.workerRows();
  if (workers.length > 0) {
    const json = JSON.stringify(
      workers.map((w) => ({
        minute: w.minute,
        worker_id: w.workerId,
        succeeded: w.succeeded,
        failed: w.failed,
        busy_ms: w.busyMs,
      })),
    );
    await db.query({ name: "analytics-workers", text: UPSERT_WORKERS, values: [json] });
  }
}

function openRecord(attempt: OpenAttempt) {
  return {
    task_id: attempt.taskId,
    attempt: attempt.attempt,
    worker_id: attempt.workerId,
    started_at: attempt.startedAt,
  };
}
