import { describe, expect, it } from "vitest";
import type { TaskContext } from "../src/types.ts";
import { waitFor } from "./fake-dispatcher.ts";
import { fakeDispatcher, gate, worker } from "./harness.ts";

describe("Worker: signals, progress, heartbeats and slots", () => {
  it("aborts the signal on cancel and reports the handler's failure as cancelled", async () => {
    const fake = await fakeDispatcher();
    let reason: unknown;
    const w = worker({
      addresses: [fake.address],
      handlers: {
        wait: (_p, ctx) =>
          new Promise((_resolve, reject) =>
            ctx.signal.addEventListener("abort", () => reject((reason = ctx.signal.reason as Error))),
          ),
      },
    });
    await w.start();
    const stream = await fake.stream();
    stream.assign({ taskId: "t1", type: "wait", attempt: 3 });
    await stream.next("started");
    stream.send({ $case: "cancel", value: { taskId: "t1", attempt: 2, reason: "stale attempt: ignored" } });
    stream.send({ $case: "cancel", value: { taskId: "t1", attempt: 3, reason: "user asked" } });
    expect(await stream.next("failed")).toEqual({
      taskId: "t1",
      attempt: 3,
      message: "cancelled: user asked",
      errorType: "CancelledError",
      nonRetryable: false,
      cancelled: true,
    });
    expect(reason).toBeInstanceOf(Error);
  });

  it("aborts the signal at the deadline, reported as a retryable START_TO_CLOSE_TIMEOUT", async () => {
    const fake = await fakeDispatcher();
    const w = worker({
      addresses: [fake.address],
      handlers: {
        slow: (_p, ctx) =>
          new Promise((_resolve, reject) =>
            ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason as Error)),
          ),
      },
    });
    await w.start();
    const stream = await fake.stream();
    stream.assign({ taskId: "t1", type: "slow", deadlineUnixMs: Date.now() + 50 });
    // The type the dispatcher records when its own deadline timer wins the race.
    expect(await stream.next("failed")).toMatchObject({
      errorType: "START_TO_CLOSE_TIMEOUT",
      nonRetryable: false,
      cancelled: false,
    });
  });

  it("sends the first ctx.heartbeat at once, throttles the rest, and ignores it after the attempt ended", async () => {
    const fake = await fakeDispatcher();
    let late: TaskContext | undefined;
    const w = worker({
      addresses: [fake.address],
      handlers: {
        steps: (_p, ctx) => {
          ctx.heartbeat({ step: 1 });
          ctx.heartbeat();
          late = ctx;
          return Promise.resolve("done");
        },
      },
    });
    await w.start();
    const stream = await fake.stream();
    stream.assign({ taskId: "t1", type: "steps" });
    await stream.next("completed");
    late!.heartbeat({ step: 99 });
    // The second heartbeat fell in the first's window and the attempt succeeded: no one reads it.
    expect(stream.log.map((m) => m.$case)).toEqual(["started", "progress", "completed"]);
    expect(await stream.next("progress")).toEqual({ taskId: "t1", attempt: 1, detailsJson: '{"step":1}' });
  });

  it("sends held-back details before a failure, so the next attempt starts from the latest", async () => {
    const fake = await fakeDispatcher();
    const w = worker({
      addresses: [fake.address],
      handlers: {
        steps: async (_p, ctx) => {
          for (let step = 1; step <= 50; step++) ctx.heartbeat({ step });
          throw new Error("boom");
        },
      },
    });
    await w.start();
    const stream = await fake.stream();
    stream.assign({ taskId: "t1", type: "steps", heartbeatTimeoutMs: 10_000 });
    await stream.next("failed");
    const progress = stream.log.filter((m) => m.$case === "progress").map((m) => m.value.detailsJson);
    expect(progress).toEqual(['{"step":1}', '{"step":50}']);
    expect(stream.log.map((m) => m.$case).at(-1)).toBe("failed");
  });

  it("heartbeats at the interval with the attempts it holds", async () => {
    const fake = await fakeDispatcher({ heartbeatIntervalMs: 30 });
    const release = gate();
    const w = worker({ addresses: [fake.address], handlers: { hold: () => release.promise } });
    await w.start();
    const stream = await fake.stream();
    expect(await stream.next("heartbeat")).toEqual({ active: [] });
    stream.assign({ taskId: "t1", type: "hold" });
    await stream.next("started");
    const active = await waitFor(() =>
      stream.received.find((m) => m.$case === "heartbeat" && m.value.active.length > 0),
    );
    expect(active.value).toEqual({ active: [{ taskId: "t1", attempt: 1 }] });
    release.open();
    await stream.next("completed");
  });

  it("never runs more handlers than slots and fails an extra assignment with NO_SLOT", async () => {
    const fake = await fakeDispatcher();
    const release = gate();
    let running = 0;
    let peak = 0;
    const w = worker({
      addresses: [fake.address],
      slots: 2,
      handlers: {
        hold: async () => {
          peak = Math.max(peak, ++running);
          await release.promise;
          running--;
        },
      },
    });
    await w.start();
    const stream = await fake.stream();
    for (const id of ["a", "b", "c"]) stream.assign({ taskId: id, type: "hold" });
    expect(await stream.next("failed")).toEqual({
      taskId: "c",
      attempt: 1,
      message: "worker has no free slot",
      errorType: "NO_SLOT",
      nonRetryable: false,
      cancelled: false,
    });
    expect(w.activeCount).toBe(2);
    release.open();
    await stream.next("completed");
    await stream.next("completed");
    // A freed slot takes work again.
    stream.assign({ taskId: "d", type: "hold" });
    expect((await stream.next("completed")).taskId).toBe("d");
    expect(peak).toBe(2);
  });
});
