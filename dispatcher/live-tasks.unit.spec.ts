import { afterEach, describe, expect, it, vi } from "vitest";
import { v7 as uuidv7 } from "uuid";
import type { EventLog } from "../event-store/event-log.ts";
import type { MemoryEventLog } from "../event-store/memory-event-log.ts";
import {
  ConcurrencyError,
  NotFoundError,
  StaleEpochError,
  type TaskCommand,
  type TaskEvent,
} from "../domain/task/index.ts";
import { taskEvents as on } from "../domain/testing/task-events.ts";
import { LiveTasks } from "./live-tasks.ts";
import { memoryLog } from "./testing/term-doubles.ts";

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

describe("LiveTasks over the in-memory log", () => {
  type Change = { taskId: string; version: number; events: string[] };
  const tableOver = (store: MemoryEventLog, epoch = 1) => {
    const changes: Change[] = [];
    const waiters: (() => void)[] = [];
    const table = new LiveTasks(store, epoch, (taskId, state, events) => {
      changes.push({ taskId, version: state.version, events: events.map((e) => e.type) });
      for (const wake of waiters.splice(0)) wake();
    });
    /** Resolves once `count` changes have been announced in all. */
    const announced = async (count: number) => {
      while (changes.length < count) await new Promise<void>((resolve) => waiters.push(resolve));
    };
    return { table, changes, announced };
  };
  /** Appends a history unfenced (as the command API writes) and returns the task's id. */
  const history = async (store: MemoryEventLog, events: TaskEvent[]) => {
    const id = uuidv7();
    await store.append(id, 0, events);
    return id;
  };
  const typesIn = async (store: MemoryEventLog, id: string) => (await store.readTask(id)).map((e) => e.type);
  const assign: TaskCommand = { type: "AssignTask", data: { workerId: "worker-1", now: T0 + 1 } };
  const complete: TaskCommand = {
    type: "CompleteAttempt",
    data: { attempt: 1, result: { ok: true }, now: T0 + 5, workerId: "worker-1" },
  };

  it("decides a command against the log's state, appends it, folds it and announces the change", async () => {
    const store = memoryLog();
    const id = await history(store, [on.submitted(T0)]);
    const { table, changes } = tableOver(store);

    const { state, events } = await table.execute(id, () => assign);

    expect(events.map((e) => e.type)).toEqual(["TaskAssigned"]);
    expect(state).toMatchObject({ state: "ASSIGNED", attempt: 1, workerId: "worker-1", version: 2 });
    expect(await typesIn(store, id)).toEqual(["TaskSubmitted", "TaskAssigned"]);
    expect(table.states.get(id)?.version).toBe(2);
    expect([...table.active]).toEqual([id]);
    expect(changes).toEqual([{ taskId: id, version: 2, events: ["TaskAssigned"] }]);
  });

  it("retries a write that lost a race with another writer, deciding again on the state it lost to", async () => {
    const store = memoryLog();
    const id = await history(store, [on.submitted(T0), on.assigned(1, T0 + 1)]);
    const { table } = tableOver(store);
    for (const event of await store.readTask(id)) table.apply(event);
    // The command API records a cancel request the table has not seen yet.
    await store.append(id, 2, [on.cancelRequested(T0 + 2)]);

    const seen: { version: number; cancelRequested: boolean }[] = [];
    const { state } = await table.execute(id, (current) => {
      seen.push({ version: current.version, cancelRequested: current.cancelRequested });
      return complete;
    });

    expect(seen).toEqual([
      { version: 2, cancelRequested: false },
      { version: 3, cancelRequested: true },
    ]);
    expect(state).toMatchObject({ state: "SUCCEEDED", version: 4, cancelRequested: true });
    expect(await typesIn(store, id)).toEqual([
      "TaskSubmitted",
      "TaskAssigned",
      "TaskCancelRequested",
      "TaskSucceeded",
    ]);
  });

  it("gives up with the ConcurrencyError after four tries against a log that always moves first", async () => {
    const store = memoryLog();
    const id = await history(store, [on.submitted(T0), on.assigned(1, T0 + 1)]);
    const originalAppend = store.append.bind(store);
    // Another writer appends progress just before each of the table's writes.
    store.append = async (taskId, version, events, options) => {
      if (options?.epoch !== undefined)
        await originalAppend(taskId, -1, [on.progress(1, T0 + 2, { step: 1 })]);
      return originalAppend(taskId, version, events, options);
    };
    const { table, changes } = tableOver(store);
    let tries = 0;

    await expect(table.execute(id, () => (tries++, complete))).rejects.toBeInstanceOf(ConcurrencyError);
    expect(tries).toBe(4);
    expect(await typesIn(store, id)).not.toContain("TaskSucceeded");
    expect(changes).toEqual([]);
  });

  it("rejects a write fenced by a newer epoch, and changes nothing", async () => {
    const store = memoryLog();
    const id = await history(store, [on.submitted(T0)]);
    const { table, changes } = tableOver(store, 1);
    for (const event of await store.readTask(id)) table.apply(event);
    await store.fence(2); // a newer leader took over

    await expect(table.execute(id, () => assign)).rejects.toBeInstanceOf(StaleEpochError);
    expect(await typesIn(store, id)).toEqual(["TaskSubmitted"]);
    expect(table.states.get(id)).toMatchObject({ state: "QUEUED", version: 1 });
    expect(changes.filter((c) => c.events.length > 0 && c.version > 1)).toEqual([]);
  });

  it("answers NotFoundError for a task the log does not hold", async () => {
    const { table } = tableOver(memoryLog());
    await expect(table.execute(uuidv7(), () => assign)).rejects.toBeInstanceOf(NotFoundError);
  });

  it("reloads a task from the log when an event arrives after a gap, and announces the new state", async () => {
    const store = memoryLog();
    const id = await history(store, [on.submitted(T0), on.assigned(1, T0 + 1), on.started(1, T0 + 2)]);
    const [submitted, , started] = await store.readTask(id);
    const { table, changes, announced } = tableOver(store);
    expect(table.apply(submitted!)).toBe(true);

    expect(table.apply(started!)).toBe(false); // version 3 after version 1: not folded as it is
    await announced(2); // the reload's announcement

    expect(table.states.get(id)).toMatchObject({ state: "RUNNING", version: 3 });
    expect(changes.at(-1)).toEqual({ taskId: id, version: 3, events: [] });
    expect(table.apply(started!)).toBe(false); // a version it holds is ignored
  });
});
