import { describe, expect, it } from "vitest";
import { logState } from "../tests/support/signals.ts";
import { noTrace, useDispatcher } from "../tests/support/dispatcher-fixture.ts";

describe("timeouts, delays, retries and revival", () => {
  const fx = useDispatcher("timeouts");

  it("ends a silent attempt at its heartbeat timeout, tells the worker, and hands the next attempt the last details", async () => {
    const w = fx.worker();
    await w.register(["beats"]);
    const { id } = await fx.commands.submit(
      { type: "beats", timeouts: { heartbeatMs: 400 }, retry: { initialBackoffMs: 0 } },
      noTrace,
    );
    const first = await w.next("assignment");
    w.send({ $case: "started", value: { taskId: id, attempt: 1 } });
    w.send({ $case: "progress", value: { taskId: id, attempt: 1, detailsJson: '{"page":3}' } });
    expect(await w.next("cancel", 5000)).toMatchObject({ taskId: id, attempt: first.attempt });
    const second = await w.next("assignment", 5000);
    expect(second).toMatchObject({ taskId: id, attempt: 2, lastDetailsJson: '{"page":3}' });
    expect((await fx.stateOf(id)).lastError?.type).toBe("HEARTBEAT_TIMEOUT");
  });

  it("ends an attempt at its start-to-close timeout, retries it, and cancels it a second later", async () => {
    const w = fx.worker();
    await w.register(["slow"]);
    const { id } = await fx.commands.submit(
      { type: "slow", timeouts: { startToCloseMs: 300 }, retry: { initialBackoffMs: 0 } },
      noTrace,
    );
    const { deadlineUnixMs } = await w.next("assignment");
    w.send({ $case: "started", value: { taskId: id, attempt: 1 } });
    // The retry goes out at the deadline; the cancel only after the worker's own deadline had time to act.
    expect((await w.next("assignment", 5000)).attempt).toBe(2);
    expect((await fx.stateOf(id)).lastError?.type).toBe("START_TO_CLOSE_TIMEOUT");
    expect(await w.next("cancel", 5000)).toMatchObject({ taskId: id, attempt: 1 });
    expect(Date.now()).toBeGreaterThanOrEqual(Number(deadlineUnixMs) + 1000);
  });

  it("records a worker's failure reported at the deadline as the start-to-close timeout", async () => {
    const w = fx.worker();
    await w.register(["late"]);
    const { id } = await fx.commands.submit(
      { type: "late", timeouts: { startToCloseMs: 300 }, retry: { maxAttempts: 1 } },
      noTrace,
    );
    const { deadlineUnixMs } = await w.next("assignment");
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, Number(deadlineUnixMs) - Date.now())));
    w.send({
      $case: "failed",
      value: {
        taskId: id,
        attempt: 1,
        message: "deadline exceeded",
        errorType: "DeadlineExceededError",
        nonRetryable: false,
        cancelled: false,
      },
    });
    await w.next("ack", 5000);
    const state = await fx.stateOf(id);
    expect(state.state).toBe("DEAD_LETTERED");
    expect(state.lastError?.type).toBe("START_TO_CLOSE_TIMEOUT");
  });

  it("dead-letters a task no worker started within its schedule-to-start timeout", async () => {
    const { id } = await fx.commands.submit(
      { type: "nobody-runs-this", timeouts: { scheduleToStartMs: 300 } },
      noTrace,
    );
    const state = await logState(fx.server.store, id, (s) => s.state === "DEAD_LETTERED", 5000);
    expect(state.deadLetterReason).toBe("SCHEDULE_TO_START_TIMEOUT");
  });

  it("holds a delayed task until its time, and cancels a delayed task at once", async () => {
    const w = fx.worker();
    await w.register(["later"]);
    const submittedAt = Date.now();
    const { id } = await fx.commands.submit({ type: "later", delayMs: 600 }, noTrace);
    const cancelled = await fx.commands.submit({ type: "later", delayMs: 60_000 }, noTrace);
    expect((await fx.commands.cancel(cancelled.id, "not needed")).state).toBe("CANCELLED");
    const assignment = await w.next("assignment", 5000);
    expect(assignment.taskId).toBe(id);
    expect(Date.now() - submittedAt).toBeGreaterThanOrEqual(600);
  });

  it("applies a queue's retry defaults and revives a dead-lettered task with RetryTask", async () => {
    await fx.server.http.inject({
      method: "PUT",
      url: "/v1/queues/fragile",
      payload: { retry: { maxAttempts: 2, initialBackoffMs: 0 } },
    });
    const w = fx.worker();
    await w.register(["fragile"]);
    const { id } = (
      await fx.server.http.inject({ method: "POST", url: "/v1/tasks", payload: { type: "fragile" } })
    ).json<{ id: string }>();
    for (const attempt of [1, 2]) {
      await w.next("assignment");
      w.send({
        $case: "failed",
        value: { taskId: id, attempt, message: "no", errorType: "E", nonRetryable: false, cancelled: false },
      });
      await w.next("ack");
    }
    expect((await fx.stateOf(id)).state).toBe("DEAD_LETTERED");
    const conflict = await fx.server.http.inject({
      method: "POST",
      url: `/v1/tasks/${id}/retry`,
      payload: {},
    });
    expect(conflict.statusCode).toBe(200);
    expect(conflict.json()).toMatchObject({ state: "QUEUED", maxAttempts: 4 });
    const revived = await w.next("assignment");
    expect(revived.attempt).toBe(3);
    w.send({ $case: "completed", value: { taskId: id, attempt: 3, resultJson: '"ok"' } });
    await w.next("ack");
    expect((await fx.stateOf(id)).state).toBe("SUCCEEDED");
    const again = await fx.server.http.inject({ method: "POST", url: `/v1/tasks/${id}/retry`, payload: {} });
    expect(again.statusCode).toBe(409);
  });
});
