import { describe, expect, it } from "vitest";
import type { DispatcherMessage, WorkerMessage } from "../proto/gen/taskstream/v1/workers.ts";
import { noTrace, useDispatcher } from "../tests/support/dispatcher-fixture.ts";

type Msg = NonNullable<WorkerMessage["msg"]>;

const started = (taskId: string): Msg => ({ $case: "started", value: { taskId, attempt: 1 } });
const completed = (taskId: string): Msg => ({
  $case: "completed",
  value: { taskId, attempt: 1, resultJson: `"${taskId}"` },
});
const batch = (...messages: Msg[]): Msg => ({
  $case: "batch",
  value: { messages: messages.map((msg) => ({ msg })) },
});
const isBatch = (m: DispatcherMessage) => m.msg?.$case === "batch";

describe("batched worker protocol", () => {
  const fx = useDispatcher("batching");
  const historyOf = async (id: string) => (await fx.server.store.readTask(id)).map((e) => e.type);

  it("handles a WorkerBatch's reports in order, recording the start a result implies", async () => {
    const w = fx.worker();
    await w.register(["batched"], { slots: 10, acceptsBatches: true });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await fx.commands.submit({ type: "batched" }, noTrace)).id);
    const assigned = new Set<string>();
    for (let i = 0; i < 5; i++) assigned.add((await w.next("assignment")).taskId);
    expect(assigned).toEqual(new Set(ids));
    const [a, b, c, noStart, nested] = ids as [string, string, string, string, string];

    w.send(
      batch(
        started(a),
        completed(a),
        started(b),
        started(c),
        completed(c),
        completed(b),
        completed(noStart),
        // A batch inside a batch is ignored.
        batch(started(nested), completed(nested)),
      ),
    );
    const acks = new Map<string, boolean>();
    for (let i = 0; i < 4; i++) {
      const ack = await w.next("ack");
      acks.set(ack.taskId, ack.accepted);
    }
    expect(acks).toEqual(new Map([a, b, c, noStart].map((id) => [id, true])));
    for (const id of [a, b, c, noStart]) {
      const state = await fx.stateOf(id);
      expect(state.state).toBe("SUCCEEDED");
      expect(state.result).toBe(id);
      expect(await historyOf(id)).toEqual(["TaskSubmitted", "TaskAssigned", "TaskStarted", "TaskSucceeded"]);
    }
    await expect(w.next("ack", 300)).rejects.toThrow(/no ack/);
    expect((await fx.stateOf(nested)).state).toBe("ASSIGNED");
  });

  it("records the implied start before a failure reported without one", async () => {
    const w = fx.worker();
    await w.register(["batched-fail"], { acceptsBatches: true });
    const { id } = await fx.commands.submit({ type: "batched-fail", retry: { maxAttempts: 1 } }, noTrace);
    await w.next("assignment");
    w.send({
      $case: "failed",
      value: { taskId: id, attempt: 1, message: "m", errorType: "E", nonRetryable: true, cancelled: false },
    });
    expect(await w.next("ack")).toMatchObject({ taskId: id, accepted: true });
    expect(await historyOf(id)).toEqual([
      "TaskSubmitted",
      "TaskAssigned",
      "TaskStarted",
      "TaskAttemptFailed",
      "TaskDeadLettered",
    ]);
  });

  it("sends single messages only to a worker that did not ask for batches", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) ids.push((await fx.commands.submit({ type: "unbatched" }, noTrace)).id);
    const w = fx.worker();
    await w.register(["unbatched"], { slots: 8, acceptsBatches: false });
    for (let i = 0; i < 8; i++) await w.next("assignment");
    w.send(batch(...ids.map(completed)));
    for (let i = 0; i < 8; i++) expect((await w.next("ack")).accepted).toBe(true);
    expect(w.wire).toHaveLength(1 + 8 + 8);
    expect(w.wire.filter(isBatch)).toEqual([]);
  });

  it("sends several messages of one turn as one DispatcherBatch to a worker that asked for them", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) ids.push((await fx.commands.submit({ type: "batch-ok" }, noTrace)).id);
    const w = fx.worker();
    await w.register(["batch-ok"], { slots: 8, acceptsBatches: true });
    for (let i = 0; i < 8; i++) await w.next("assignment");
    w.send(batch(...ids.map(completed)));
    for (let i = 0; i < 8; i++) expect((await w.next("ack")).accepted).toBe(true);
    // 17 messages (registered, 8 assignments, 8 acks) in fewer stream messages.
    expect(w.wire.some(isBatch)).toBe(true);
    expect(w.wire.length).toBeLessThan(17);
  });
});
