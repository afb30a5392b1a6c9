import { describe, expect, it } from "vitest";
import { evolve, initialState, type TaskEvent, type TaskState } from "../../domain/task/index.ts";
import type { StoredEvent } from "../../event-store/stream-format.ts";
import { on, taskSpec } from "../testing/read-model-fixture.ts";
import { AnalyticsAccumulator } from "./accumulator.ts";
import { bucketOf } from "./histogram.ts";

const MINUTE = Date.parse("2030-01-01T10:00:00.000Z");

/** Folds events of one task through the accumulator, as the projector's fold would (log time = `at`). */
function observe(
  analytics: AnalyticsAccumulator,
  taskId: string,
  events: [TaskEvent, number][],
  from = initialState(),
) {
  let state: TaskState = from;
  for (const [event, at] of events) {
    const stored = {
      ...event,
      taskId,
      version: state.version + 1,
      streamId: `${at}-0`,
      partition: 0,
    } as StoredEvent;
    const next = evolve(state, stored);
    analytics.observe(stored, state, next);
    state = next;
  }
  return state;
}

describe("AnalyticsAccumulator", () => {
  it("counts outcomes in the minute the log recorded them and measures runs started in the batch", () => {
    const analytics = new AnalyticsAccumulator();
    observe(analytics, "a", [
      [on.submitted(MINUTE, taskSpec({ type: "img" })), MINUTE],
      [on.assigned(1, MINUTE + 250), MINUTE + 250],
      [on.started(1, MINUTE + 260), MINUTE + 260],
      [on.failed(1, MINUTE + 1260, MINUTE + 2000), MINUTE + 61_000],
    ]);
    const [first, second] = analytics.minuteRows();
    expect(first).toMatchObject({ minute: MINUTE, taskType: "img", submitted: 1, started: 1, failed: 0 });
    expect(first!.scheduleToStart[bucketOf(250)]).toBe(1);
    // The failure was recorded a minute later: it and its run time count there.
    expect(second).toMatchObject({ minute: MINUTE + 60_000, failed: 1, retried: 1 });
    expect(second!.runTime[bucketOf(1000)]).toBe(1);
    expect(analytics.workerRows()).toEqual([
      { minute: MINUTE + 60_000, workerId: "worker-1", succeeded: 0, failed: 1, busyMs: 1000 },
    ]);
    expect(analytics.attempts()).toEqual({ open: [], ended: [] });
  });

  it("keeps an attempt still running for a later batch, and asks the table for one started earlier", () => {
    const analytics = new AnalyticsAccumulator();
    observe(analytics, "running", [
      [on.submitted(MINUTE), MINUTE],
      [on.assigned(1, MINUTE + 1), MINUTE + 1],
      [on.started(1, MINUTE + 2), MINUTE + 2],
    ]);
    const earlier = observe(new AnalyticsAccumulator(), "ended", [
      [on.submitted(MINUTE), MINUTE],
      [on.assigned(1, MINUTE + 1), MINUTE + 1],
      [on.started(1, MINUTE + 2), MINUTE + 2],
    ]);
    observe(analytics, "ended", [[on.succeeded(1, MINUTE + 502, null), MINUTE + 502]], earlier);
    const { open, ended } = analytics.attempts();
    expect(open).toEqual([{ taskId: "running", attempt: 1, workerId: "worker-1", startedAt: MINUTE + 2 }]);
    expect(ended).toMatchObject([{ taskId: "ended", attempt: 1, outcome: "succeeded" }]);
    expect(analytics.closedTasks()).toEqual(["ended"]);
    // The table answers the start: the run is measured then.
    analytics.recordRun(ended[0]!, { taskId: "ended", attempt: 1, workerId: "w-9", startedAt: MINUTE + 2 });
    const row = analytics.minuteRows().find((r) => r.succeeded === 1)!;
    expect(row.runTime[bucketOf(500)]).toBe(1);
    expect(analytics.workerRows()).toEqual([
      { minute: MINUTE, workerId: "w-9", succeeded: 1, failed: 0, busyMs: 500 },
    ]);
  });
});
