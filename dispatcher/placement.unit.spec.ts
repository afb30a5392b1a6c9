import { afterEach, describe, expect, it, vi } from "vitest";
import type { TaskSpec } from "../domain/task/index.ts";
import type { MemoryEventLog } from "../event-store/memory-event-log.ts";
import { LiveTasks } from "./live-tasks.ts";
import { Placement } from "./placement.ts";
import {
  FakeSessionStream,
  FixedSettings,
  memoryLog,
  registerMessage,
  submitTask,
  turn,
  unitMetrics,
} from "./testing/term-doubles.ts";
import { WorkerSessions } from "./worker-sessions.ts";

const T0 = Date.parse("2030-01-01T00:00:00.000Z");
const placements: Placement[] = [];
afterEach(() => {
  for (const placement of placements.splice(0)) placement.close();
  vi.useRealTimers();
});

/** A few event-loop turns: a matching pass, its writes to the in-memory log and the sessions' flushes. */
async function turns(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await turn();
}

/** Placement over live tasks on an in-memory log, with sessions registered as the term registers them. */
function scene(settings = new FixedSettings(), store: MemoryEventLog = memoryLog()) {
  const live = new LiveTasks(store, 1, () => undefined);
  const sessions = new WorkerSessions();
  const settled: string[] = [];
  const placement = new Placement({
    partition: 0,
    passed: () => undefined,
    live,
    sessions,
    settings,
    metrics: unitMetrics(),
    agingBound: new Array<number>(10).fill(20),
    accepting: () => true,
    settled: (taskId) => void settled.push(taskId),
  });
  placements.push(placement);
  const worker = (slots: number, types = ["echo"]) => {
    const stream = new FakeSessionStream();
    const register = registerMessage({ slots, types });
    const { session } = sessions.register(register, stream, (id) => live.states.get(id), Date.now());
    placement.schedule();
    return { session, stream };
  };
  /** A task submitted and folded, put in the ready queue as the term does. */
  const ready = async (spec: Partial<TaskSpec> = {}) => {
    const { id, state } = await submitTask(store, live, spec);
    placement.enqueue(id, state!);
    return id;
  };
  const assignmentsIn = async (id: string) =>
    (await store.readTask(id)).filter((event) => event.type === "TaskAssigned").length;
  return { store, live, sessions, placement, settled, worker, ready, assignmentsIn };
}

describe("Placement", () => {
  it("hands a ready task to a session with a free slot and its type, and records the assignment", async () => {
    const { live, placement, settled, worker, ready } = scene();
    const other = worker(4, ["resize"]);
    const { session, stream } = worker(1);
    const id = await ready();

    expect(await stream.next("assignment")).toMatchObject({ taskId: id, attempt: 1, type: "echo" });
    expect(live.states.get(id)).toMatchObject({ state: "ASSIGNED", workerId: session.id, attempt: 1 });
    expect(session.attempts.get(id)).toBe(1);
    expect(session.freeSlots).toBe(0);
    expect(placement.assignedAt(id)).toBeTypeOf("number");
    expect(settled).toEqual([id]);
    expect(other.stream.received).toEqual([]);
  });

  it("gives a session at most half its slots per pass, the rest one pass later", async () => {
    const { placement, sessions, worker, ready } = scene();
    for (let i = 0; i < 4; i++) await ready();
    await turn(); // a pass with no worker yet
    const { session } = worker(4);

    await turn();
    expect(session.attempts.size).toBe(2);
    expect(placement.ready.size).toBe(2);
    await turn();
    expect(session.attempts.size).toBe(4);
    expect(placement.ready.size).toBe(0);
    expect([...sessions.values()]).toHaveLength(1);
  });

  it("holds back a rate-limited queue and places its next task when the bucket refills", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"], now: T0 });
    const { placement, worker, ready } = scene(
      new FixedSettings({ metered: { ratePerSecond: 10, burst: 1 } }),
    );
    const { stream } = worker(4, ["metered"]);
    const first = await ready({ type: "metered" });
    const second = await ready({ type: "metered" });
    expect((await stream.next("assignment")).taskId).toBe(first);

    await vi.advanceTimersByTimeAsync(99); // one token per 100 ms
    await turns();
    expect(stream.all("assignment")).toHaveLength(1);
    expect(placement.ready.size).toBe(1);

    await vi.advanceTimersByTimeAsync(1);
    expect((await stream.next("assignment")).taskId).toBe(second);
  });

  it("does not hand a task twice while its assignment is being written", async () => {
    const store = memoryLog();
    let release!: () => void;
    const written = new Promise<void>((resolve) => (release = resolve));
    const append = store.append.bind(store);
    store.append = async (id, version, events, options) => {
      if (options?.epoch !== undefined) await written; // the leader's write is slow
      return append(id, version, events, options);
    };
    const { live, placement, sessions, worker, ready, assignmentsIn } = scene(new FixedSettings(), store);
    const first = worker(1);
    const id = await ready();
    await turns();
    expect(placement.isAssigning(id)).toBe(true);

    // The same state offered again (the intake re-delivers it, or a reconcile): a second worker is free.
    const second = worker(1);
    placement.enqueue(id, live.states.get(id)!);
    await turns();
    expect(sessions.holderOf(id)).toBe(first.session);
    expect(second.session.attempts.size).toBe(0);

    release();
    expect((await first.stream.next("assignment")).taskId).toBe(id);
    await turns();
    expect(second.stream.all("assignment")).toEqual([]);
    expect(await assignmentsIn(id)).toBe(1);
  });

  it("gives the next task to a worker whose attempt ended, once released", async () => {
    const { live, placement, worker, ready } = scene();
    const { session, stream } = worker(1);
    const first = await ready();
    const second = await ready();
    expect((await stream.next("assignment")).taskId).toBe(first);
    await turns();
    expect(placement.ready.size).toBe(1);

    await live.execute(first, () => ({
      type: "CompleteAttempt",
      data: { attempt: 1, result: null, now: Date.now(), workerId: session.id },
    }));
    placement.release(first);

    expect((await stream.next("assignment")).taskId).toBe(second);
    expect(session.attempts.has(first)).toBe(false);
  });

  it("holds a concurrency key's slot until the task holding it is released", async () => {
    const { placement, worker, ready } = scene();
    const { stream } = worker(4);
    const limited = { concurrency: { key: "tenant-a", limit: 1 } };
    const first = await ready(limited);
    const second = await ready(limited);
    expect((await stream.next("assignment")).taskId).toBe(first);
    await turns();
    expect(stream.all("assignment")).toHaveLength(1);

    placement.release(first);
    expect((await stream.next("assignment")).taskId).toBe(second);
  });
});
