import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TasksProjector } from "../tasks-projector.ts";
import {
  createReadModelFixture,
  newTaskId,
  on,
  taskSpec,
  type ReadModelFixture,
} from "../testing/read-model-fixture.ts";
import { bucketOf } from "./histogram.ts";
import { verifyStateCounts } from "../state-counts.ts";

const T0 = Date.parse("2030-01-01T00:00:00.000Z");

interface Totals {
  submitted: number;
  started: number;
  succeeded: number;
  failed: number;
  retried: number;
  dead_lettered: number;
  cancelled: number;
  schedule_to_start: number[];
  run_time: number[];
}

describe("analytics, feed and state counts, written with the projector's batches", () => {
  let fx: ReadModelFixture;
  let projector: TasksProjector;
  const totals = async (type: string): Promise<Totals> => {
    const { rows } = await fx.pool.query<Totals>(
      `select sum(submitted)::int submitted, sum(started)::int started, sum(succeeded)::int succeeded,
              sum(failed)::int failed, sum(retried)::int retried, sum(dead_lettered)::int dead_lettered,
              sum(cancelled)::int cancelled,
              (select array_agg(s order by i) from (select i, sum(c)::int s from analytics_minutes m2,
                unnest(m2.schedule_to_start) with ordinality u(c, i) where m2.task_type = $1 group by i) a) schedule_to_start,
              (select array_agg(s order by i) from (select i, sum(c)::int s from analytics_minutes m2,
                unnest(m2.run_time) with ordinality u(c, i) where m2.task_type = $1 group by i) a) run_time
       from analytics_minutes where task_type = $1`,
      [type],
    );
    return rows[0]!;
  };
  const counts = async () =>
    Object.fromEntries(
      (
        await fx.pool.query<{ key: string; count: number }>(
          "select task_type || ':' || state as key, count::int from task_state_counts where count <> 0 order by 1",
        )
      ).rows.map((r) => [r.key, r.count]),
    );

  beforeAll(async () => {
    fx = await createReadModelFixture("analytics");
    projector = new TasksProjector({ store: fx.store, redis: fx.redis, pool: fx.pool });
  });
  afterAll(async () => fx.close());

  it("counts each outcome once, measures latencies across batches, and keeps the feed in log order", async () => {
    const spec = taskSpec({ type: "stats" });
    const [quick, retried, cancelled, dead] = [newTaskId(), newTaskId(), newTaskId(), newTaskId()];
    // Batch 1: a task runs through; one starts and stays running; one is cancelled while queued.
    await fx.store.append(quick, -1, [
      on.submitted(T0, spec),
      on.assigned(1, T0 + 100, "w-a"),
      on.started(1, T0 + 110, "w-a"),
      on.succeeded(1, T0 + 610, { ok: true }),
    ]);
    await fx.store.append(retried, -1, [
      on.submitted(T0, spec),
      on.assigned(1, T0 + 5000, "w-b"),
      on.started(1, T0 + 5000, "w-b"),
    ]);
    await fx.store.append(cancelled, -1, [
      on.submitted(T0, spec),
      { type: "TaskCancelled", data: { reason: "no", at: T0 + 1 } },
    ]);
    await projector.catchUp();
    expect(await counts()).toEqual({ "stats:CANCELLED": 1, "stats:RUNNING": 1, "stats:SUCCEEDED": 1 });
    const open = await fx.pool.query("select task_id, attempt from analytics_open_attempts");
    expect(open.rows).toEqual([{ task_id: retried, attempt: 1 }]);

    // Batch 2: the running attempt fails after 2 s and is retried; the retry succeeds; another task
    // fails for good and is dead-lettered.
    await fx.store.append(retried, 3, [
      on.failed(1, T0 + 7000, T0 + 8000),
      on.assigned(2, T0 + 8050, "w-a"),
      on.started(2, T0 + 8060, "w-a"),
      on.succeeded(2, T0 + 8360, { ok: 2 }),
    ]);
    await fx.store.append(dead, -1, [
      on.submitted(T0, spec),
      on.assigned(1, T0 + 1, "w-b"),
      on.started(1, T0 + 1, "w-b"),
      on.failed(1, T0 + 41, null),
      {
        type: "TaskDeadLettered",
        data: { attempt: 1, reason: "MAX_ATTEMPTS_EXHAUSTED", lastError: null, at: T0 + 41 },
      },
    ]);
    await projector.catchUp();

    const t = await totals("stats");
    expect(t).toMatchObject({
      submitted: 4,
      started: 4,
      succeeded: 2,
      failed: 2,
      retried: 1,
      dead_lettered: 1,
      cancelled: 1,
    });
    const expectedS2s = [100, 5000, 50, 1].map(bucketOf);
    const expectedRuns = [500, 2000, 300, 40].map(bucketOf);
    const spread = (values: number[]) => {
      const histogram = new Array<number>(56).fill(0);
      for (const j of values) histogram[j]!++;
      return histogram;
    };
    expect(t.schedule_to_start).toEqual(spread(expectedS2s));
    expect(t.run_time).toEqual(spread(expectedRuns));
    expect((await fx.pool.query("select * from analytics_open_attempts")).rowCount).toBe(0);

    const workers = await fx.pool.query<{
      worker_id: string;
      succeeded: number;
      failed: number;
      busy: number;
    }>(
      `select worker_id, sum(succeeded)::int succeeded, sum(failed)::int failed, sum(busy_ms)::int busy
       from analytics_worker_minutes group by worker_id order by worker_id`,
    );
    expect(workers.rows).toEqual([
      { worker_id: "w-a", succeeded: 2, failed: 0, busy: 800 },
      { worker_id: "w-b", succeeded: 0, failed: 2, busy: 2040 },
    ]);
    expect(await counts()).toEqual({ "stats:CANCELLED": 1, "stats:DEAD_LETTERED": 1, "stats:SUCCEEDED": 2 });
    expect(await verifyStateCounts(fx.pool)).toEqual([]);
    // A count that drifted from the rows is found.
    await fx.pool.query("update task_state_counts set count = count + 2 where state = 'SUCCEEDED'");
    expect(await verifyStateCounts(fx.pool)).toEqual([
      { taskType: "stats", state: "SUCCEEDED", kept: 4, rows: 2 },
    ]);
    await fx.pool.query("update task_state_counts set count = count - 2 where state = 'SUCCEEDED'");
    // The hourly rows add up to the same as the minutes.
    const byHour = await fx.pool.query(
      `select sum(submitted)::int submitted, sum(succeeded)::int succeeded, sum(retried)::int retried,
              (select sum(c)::int from analytics_hours, unnest(run_time) c) runs
       from analytics_hours where task_type = 'stats'`,
    );
    expect(byHour.rows[0]).toEqual({ submitted: 4, succeeded: 2, retried: 1, runs: 4 });
    const workerHours = await fx.pool.query(
      "select worker_id, succeeded, failed, busy_ms::int busy from analytics_worker_hours order by worker_id",
    );
    expect(workerHours.rows).toEqual([
      { worker_id: "w-a", succeeded: 2, failed: 0, busy: 800 },
      { worker_id: "w-b", succeeded: 0, failed: 2, busy: 2040 },
    ]);

    // The feed: one entry per event, each task's in version order, with the state after it.
    const feed = await fx.pool.query<{ task_id: string; version: number; event_type: string; state: string }>(
      "select task_id, version, event_type, state from task_feed order by seq",
    );
    expect(feed.rowCount).toBe(4 + 7 + 2 + 5);
    const ofRetried = feed.rows.filter((r) => r.task_id === retried);
    expect(ofRetried.map((r) => r.version)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(ofRetried.map((r) => r.state)).toEqual([
      "QUEUED",
      "ASSIGNED",
      "RUNNING",
      "QUEUED",
      "ASSIGNED",
      "RUNNING",
      "SUCCEEDED",
    ]);
  });

  it("changes nothing when the log is projected again from the start", async () => {
    const before = await totals("stats");
    const feedBefore = (await fx.pool.query("select count(*)::int n from task_feed")).rows[0] as {
      n: number;
    };
    await fx.pool.query("update projection_checkpoints set stream_id = '0-0' where projector = $1", [
      projector.checkpointKey,
    ]);
    const other = new TasksProjector({ store: fx.store, redis: fx.redis, pool: fx.pool });
    await other.catchUp();
    expect(await totals("stats")).toEqual(before);
    expect((await fx.pool.query("select count(*)::int n from task_feed")).rows[0]).toEqual(feedBefore);
  });
});
