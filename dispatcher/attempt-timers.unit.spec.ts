import { describe, expect, it } from "vitest";
import { DEFAULT_TIMEOUTS, fold, type TaskEvent, type TaskState } from "../domain/task/index.ts";
import { taskEvents as on, taskSpec } from "../domain/testing/task-events.ts";
import { AttemptTimers } from "./attempt-timers.ts";

const T0 = Date.parse("2030-01-01T00:00:00.000Z");

/** Timers over a table of task states the test moves on, with every action they asked for. */
function timersOver() {
  const states = new Map<string, TaskState>();
  const fired: string[] = [];
  const timers = new AttemptTimers((taskId) => states.get(taskId), {
    due: (taskId) => void fired.push(`due ${taskId}`),
    expired: (taskId) => void fired.push(`expired ${taskId}`),
    timedOut: (taskId, _state, type) => void fired.push(`${type} ${taskId}`),
  });
  /** The task's state becomes the fold of `events`. */
  const becomes = (taskId: string, events: TaskEvent[]) => {
    const state = fold(events);
    states.set(taskId, state);
    return state;
  };
  return { timers, states, fired, becomes };
}

const timeouts = (overrides: Partial<typeof DEFAULT_TIMEOUTS>) =>
  taskSpec({ timeouts: { ...DEFAULT_TIMEOUTS, ...overrides } });

describe("AttemptTimers", () => {
  it("makes a delayed task due at its time, not before, and only while it still waits at that version", () => {
    const { timers, fired, becomes } = timersOver();
    const waiting = becomes("later", [on.submitted(T0, taskSpec({ runAt: T0 + 1000 }))]);
    const moved = becomes("moved", [on.submitted(T0, taskSpec({ runAt: T0 + 1000 }))]);

    expect(timers.armQueued("later", waiting, T0)).toBe(false);
    expect(timers.armQueued("moved", moved, T0)).toBe(false);
    // Still QUEUED, at a newer version: whoever moved it set the timers that version needs.
    becomes("moved", [on.submitted(T0, taskSpec({ runAt: T0 + 1000 })), on.cancelRequested(T0 + 10)]);

    timers.fireDue(T0 + 999);
    expect(fired).toEqual([]);
    timers.fireDue(T0 + 1000);
    expect(fired).toEqual(["due later"]);
  });

  it("says a task due now is due, with no timer unless it can expire", () => {
    const { timers, becomes } = timersOver();
    expect(timers.armQueued("now", becomes("now", [on.submitted(T0)]), T0)).toBe(true);
    expect(timers.size).toBe(0);
  });

  it("expires a task still queued past its schedule-to-start timeout, and not one that got its attempt", () => {
    const { timers, fired, becomes } = timersOver();
    const spec = timeouts({ scheduleToStartMs: 500 });
    timers.armQueued("waits", becomes("waits", [on.submitted(T0, spec)]), T0);
    timers.armQueued("taken", becomes("taken", [on.submitted(T0, spec)]), T0);
    becomes("taken", [on.submitted(T0, spec), on.assigned(1, T0 + 100)]);

    timers.fireDue(T0 + 499);
    expect(fired).toEqual([]);
    timers.fireDue(T0 + 500);
    expect(fired).toEqual(["expired waits"]);
  });

  it("times out an attempt at its start-to-close deadline, but not a later attempt of the task", () => {
    const { timers, fired, becomes } = timersOver();
    const first = [on.submitted(T0), on.assigned(1, T0)]; // deadline T0 + 300 s
    timers.armAttempt("stuck", becomes("stuck", first), T0);
    timers.armAttempt("retried", becomes("retried", first), T0);
    becomes("retried", [...first, on.failed(1, T0 + 10, T0 + 20), on.assigned(2, T0 + 20)]);

    timers.fireDue(T0 + 299_999);
    expect(fired).toEqual([]);
    timers.fireDue(T0 + 300_000);
    expect(fired).toEqual(["START_TO_CLOSE_TIMEOUT stuck"]);
  });

  it("times out a silent attempt after its heartbeat timeout; a sign of life makes the old timer stale", () => {
    const { timers, fired, becomes } = timersOver();
    const spec = timeouts({ heartbeatMs: 1000 });
    const assigned = [on.submitted(T0, spec), on.assigned(1, T0)];
    timers.armAttempt("silent", becomes("silent", assigned), T0);
    timers.armAttempt("alive", becomes("alive", assigned), T0);
    const progressed = becomes("alive", [...assigned, on.started(1, T0 + 800)]);
    timers.armAttempt("alive", progressed, T0 + 800);

    timers.fireDue(T0 + 1000);
    expect(fired).toEqual(["HEARTBEAT_TIMEOUT silent"]);
    timers.fireDue(T0 + 1800);
    expect(fired).toEqual(["HEARTBEAT_TIMEOUT silent", "HEARTBEAT_TIMEOUT alive"]);
  });

  it("does nothing for a timer whose task is gone", () => {
    const { timers, states, fired, becomes } = timersOver();
    timers.armAttempt("gone", becomes("gone", [on.submitted(T0), on.assigned(1, T0)]), T0);
    states.delete("gone");
    timers.fireDue(T0 + 300_000);
    expect(fired).toEqual([]);
    expect(timers.size).toBe(0);
  });

  it("drops stale timers once they far outnumber the tasks, and keeps the ones that still stand", () => {
    const { timers, fired, becomes } = timersOver();
    const first = [on.submitted(T0), on.assigned(1, T0)];
    for (let i = 0; i < 10_001; i++) timers.armAttempt(`done-${i}`, becomes(`done-${i}`, first), T0);
    for (let i = 0; i < 10_001; i++) becomes(`done-${i}`, [...first, on.succeeded(1, T0 + 1, null)]);
    timers.armAttempt("running", becomes("running", first), T0);

    timers.compact(10); // 10,002 timers for 10 tasks: not more than 4 x 10 + 10,000
    expect(timers.size).toBe(10_002);
    timers.compact(0);
    expect(timers.size).toBe(1);
    timers.fireDue(T0 + 300_000);
    expect(fired).toEqual(["START_TO_CLOSE_TIMEOUT running"]);
  });
});
