import { describe, expect, it } from "vitest";
import { status } from "@grpc/grpc-js";
import { announced, logState, until } from "../tests/support/signals.ts";
import type { TermEvents } from "./term.ts";
import { noTrace, useDispatcher } from "../tests/support/dispatcher-fixture.ts";
import { readyDepth } from "../tests/support/terms.ts";

describe("dispatcher on real Redis and etcd", () => {
  const fx = useDispatcher("disp");
  const historyOf = async (id: string) => (await fx.server.store.readTask(id)).map((e) => e.type);

  it("assigns a task to a matching worker and records start and success", async () => {
    const w = fx.worker();
    await w.register(["echo"]);
    const { id } = await fx.commands.submit({ type: "echo", payload: { n: 1 } }, noTrace);
    const assignment = await w.next("assignment");
    expect(assignment).toMatchObject({ taskId: id, attempt: 1, type: "echo", payloadJson: '{"n":1}' });
    w.send({ $case: "started", value: { taskId: id, attempt: 1 } });
    w.send({ $case: "completed", value: { taskId: id, attempt: 1, resultJson: '{"ok":true}' } });
    expect(await w.next("ack")).toMatchObject({ taskId: id, attempt: 1, accepted: true });
    const state = await fx.stateOf(id);
    expect(state.state).toBe("SUCCEEDED");
    expect(state.result).toEqual({ ok: true });
    expect(await historyOf(id)).toEqual(["TaskSubmitted", "TaskAssigned", "TaskStarted", "TaskSucceeded"]);
  });

  it("sends a task only to workers with its type and every required label", async () => {
    const cpu = fx.worker();
    await cpu.register(["render"], { labels: { gpu: "no" } });
    const { id } = await fx.commands.submit({ type: "render", requires: { gpu: "yes" } }, noTrace);
    await expect(cpu.next("assignment", 500)).rejects.toThrow(/no assignment/);
    const gpu = fx.worker();
    await gpu.register(["render"], { labels: { gpu: "yes", zone: "a" } });
    expect((await gpu.next("assignment")).taskId).toBe(id);
  });

  it("dispatches higher priorities first", async () => {
    const ids: Record<string, string> = {};
    for (const priority of [1, 9, 6])
      ids[priority] = (await fx.commands.submit({ type: "prio", priority }, noTrace)).id;
    // The dispatcher learns of submissions from the log: let it hold all three before a slot opens.
    const depth = () => readyDepth(fx.server.dispatcher!);
    const allReady = () => [1, 6, 9].every((priority) => (depth()[priority] ?? 0) >= 1);
    await until(fx.server.dispatcher!, "intake", allReady);
    const w = fx.worker();
    await w.register(["prio"], { slots: 1 });
    const order: string[] = [];
    for (let i = 0; i < 3; i++) {
      const a = await w.next("assignment");
      order.push(a.taskId);
      w.send({ $case: "completed", value: { taskId: a.taskId, attempt: a.attempt, resultJson: "" } });
    }
    expect(order).toEqual([ids[9], ids[6], ids[1]]);
  });

  it("retries a failed attempt and rejects a late result from the stale attempt", async () => {
    const w = fx.worker();
    await w.register(["flaky"]);
    const { id } = await fx.commands.submit(
      { type: "flaky", retry: { maxAttempts: 3, initialBackoffMs: 10 } },
      noTrace,
    );
    const first = await w.next("assignment");
    w.send({
      $case: "failed",
      value: {
        taskId: id,
        attempt: 1,
        message: "boom",
        errorType: "Boom",
        nonRetryable: false,
        cancelled: false,
      },
    });
    expect(await w.next("ack")).toMatchObject({ accepted: true });
    const second = await w.next("assignment");
    expect(second.attempt).toBe(2);
    w.send({ $case: "completed", value: { taskId: id, attempt: first.attempt, resultJson: '"late"' } });
    expect(await w.next("ack")).toMatchObject({ attempt: 1, accepted: false, reason: "STALE_ATTEMPT" });
    w.send({ $case: "completed", value: { taskId: id, attempt: 2, resultJson: '"fresh"' } });
    expect(await w.next("ack")).toMatchObject({ attempt: 2, accepted: true });
    const state = await fx.stateOf(id);
    expect(state.result).toBe("fresh");
    const history = await historyOf(id);
    expect(history.filter((t) => t === "TaskSucceeded")).toHaveLength(1);
    expect(history).toContain("TaskResultRejected");
  });

  it("dead-letters a task whose error is non-retryable", async () => {
    const w = fx.worker();
    await w.register(["fatal"]);
    const { id } = await fx.commands.submit({ type: "fatal" }, noTrace);
    await w.next("assignment");
    w.send({
      $case: "failed",
      value: {
        taskId: id,
        attempt: 1,
        message: "bad input",
        errorType: "Bad",
        nonRetryable: true,
        cancelled: false,
      },
    });
    await w.next("ack");
    const state = await fx.stateOf(id);
    expect(state.state).toBe("DEAD_LETTERED");
    expect(state.lastError).toMatchObject({ message: "bad input", nonRetryable: true });
  });

  it("retries the attempts of a worker that vanishes, on another worker", async () => {
    const doomed = fx.worker();
    await doomed.register(["vanish"]);
    const { id } = await fx.commands.submit({ type: "vanish", retry: { initialBackoffMs: 0 } }, noTrace);
    expect((await doomed.next("assignment")).attempt).toBe(1);
    doomed.close();
    const survivor = fx.worker();
    await survivor.register(["vanish"]);
    const retried = await survivor.next("assignment", 15_000);
    expect(retried).toMatchObject({ taskId: id, attempt: 2 });
    const state = await fx.stateOf(id);
    expect(state.lastError?.type).toBe("WORKER_LOST");
  });

  it("keeps a reconnecting worker's attempt instead of retrying it", async () => {
    const first = fx.worker();
    const workerId = await first.register(["resume"]);
    const { id } = await fx.commands.submit({ type: "resume" }, noTrace);
    const assignment = await first.next("assignment");
    first.close();
    const again = fx.worker();
    await again.register(["resume"], {
      workerId,
      resumeToken: first.resumeToken,
      active: [{ taskId: id, attempt: assignment.attempt }],
    });
    again.send({ $case: "completed", value: { taskId: id, attempt: assignment.attempt, resultJson: "1" } });
    expect(await again.next("ack")).toMatchObject({ accepted: true });
    expect((await fx.stateOf(id)).attempt).toBe(1);
  });

  it("pushes a cancel to the worker running a task, and cancels when it acknowledges", async () => {
    const w = fx.worker();
    await w.register(["long"]);
    const { id } = await fx.commands.submit({ type: "long" }, noTrace);
    await w.next("assignment");
    w.send({ $case: "started", value: { taskId: id, attempt: 1 } });
    await logState(fx.server.store, id, (state) => state.state === "RUNNING");
    await fx.commands.cancel(id, "user asked");
    expect(await w.next("cancel")).toMatchObject({ taskId: id, attempt: 1 });
    w.send({
      $case: "failed",
      value: {
        taskId: id,
        attempt: 1,
        message: "aborted",
        errorType: "AbortError",
        nonRetryable: false,
        cancelled: true,
      },
    });
    await w.next("ack");
    expect((await fx.stateOf(id)).state).toBe("CANCELLED");
  });

  it("gives a worker's slot to the next task once it reports a result, while the result is written", async () => {
    const w = fx.worker();
    const workerId = await w.register(["one-slot"], { slots: 1 });
    const first = (await fx.commands.submit({ type: "one-slot" }, noTrace)).id;
    const second = (await fx.commands.submit({ type: "one-slot" }, noTrace)).id;
    expect(await w.next("assignment")).toMatchObject({ taskId: first });
    const term = fx.server.dispatcher!.termFor(first)!;
    expect(term.sessions.get(workerId)?.freeSlots).toBe(0); // one slot, taken

    // Fault injection: the first task's result is held on its way to the log until the test lets it go.
    const store = fx.server.store;
    const append = store.append.bind(store);
    let letGo!: () => void;
    const held = new Promise<void>((resolve) => (letGo = resolve));
    store.append = async (taskId, version, events, options) => {
      if (taskId === first && events.some((e) => e.type === "TaskSucceeded")) await held;
      return append(taskId, version, events, options);
    };
    try {
      w.send({ $case: "completed", value: { taskId: first, attempt: 1, resultJson: "1" } });
      expect(await w.next("assignment")).toMatchObject({ taskId: second });
      // A sweep for attempts no live worker holds runs while the result is still held.
      await announced(term, "swept", (sweep: TermEvents["swept"][0]) => sweep.holdsChecked);
      expect(w.received.some((m) => m.msg?.$case === "ack")).toBe(false); // the result is not written yet
      letGo();
      expect(await w.next("ack")).toMatchObject({ taskId: first, accepted: true });
    } finally {
      letGo();
      store.append = append;
    }
    expect((await fx.stateOf(first)).state).toBe("SUCCEEDED");
    // Held by the worker while its result was being written: no attempt was taken for lost.
    expect(await historyOf(first)).toEqual(["TaskSubmitted", "TaskAssigned", "TaskStarted", "TaskSucceeded"]);
  });

  it("refuses a first message that is not register", async () => {
    const w = fx.worker();
    w.send({ $case: "heartbeat", value: { active: [] } });
    expect((await w.closed()).code).toBe(status.FAILED_PRECONDITION);
  });
});
