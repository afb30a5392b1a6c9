import { afterEach, describe, expect, it, vi } from "vitest";
import type { EventLog } from "../event-store/event-log.ts";
import type { TaskEvent } from "../domain/task/index.ts";
import { on } from "../projections/testing/read-model-fixture.ts";
import { LiveTasks } from "./live-tasks.ts";

const T0 = Date.parse("2030-01-01T00:00:00.000Z");

/** Folds `events` into the table as the tail would deliver them. */
function feed(table: LiveTasks, taskId: string, events: TaskEvent[], from = 1): void {
  events.forEach((event, i) => {
    const stored = { ...event, taskId, version: from + i, streamId: `${T0}-${from + i}`, partition: 0 };
    table.apply(stored);
  });
}

describe("LiveTasks", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  // Only apply() and purgeTerminal() are used: the table never touches the store for them.
  const newTable = () => new LiveTasks({} as EventLog, 1, () => undefined);

  it("files each task by state as its events arrive", () => {
    const table = newTable();
    feed(table, "queued", [on.submitted(T0)]);
    feed(table, "assigned", [on.submitted(T0), on.assigned(1, T0 + 1)]);
    feed(table, "running", [on.submitted(T0), on.assigned(1, T0 + 1), on.started(1, T0 + 2)]);
    feed(table, "done", [on.submitted(T0), on.assigned(1, T0 + 1), on.started(1, T0 + 2)]);
    feed(table, "done", [on.succeeded(1, T0 + 3, null)], 4);

    expect([...table.queued]).toEqual(["queued"]);
    expect([...table.active].sort()).toEqual(["assigned", "running"]);
    expect(table.states.get("done")?.state).toBe("SUCCEEDED");
  });

  it("forgets terminal tasks oldest first, only those that ended before the cut, and nothing else", () => {
    vi.useFakeTimers();
    const table = newTable();
    const finish = (taskId: string) =>
      feed(table, taskId, [
        on.submitted(T0),
        on.assigned(1, T0),
        on.started(1, T0),
        on.succeeded(1, T0, null),
      ]);
    vi.setSystemTime(T0);
    finish("first");
    feed(table, "waiting", [on.submitted(T0)]);
    vi.setSystemTime(T0 + 1000);
    finish("second");

    table.purgeTerminal(T0 + 500);
    expect([...table.states.keys()].sort()).toEqual(["second", "waiting"]);

    table.purgeTerminal(Number.POSITIVE_INFINITY);
    expect([...table.states.keys()]).toEqual(["waiting"]);
    expect([...table.queued]).toEqual(["waiting"]);
  });
});
