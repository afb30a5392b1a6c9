import { describe, expect, it, vi } from "vitest";
import { WorkerStoppingError } from "../src/errors.ts";
import { waitFor } from "./fake-dispatcher.ts";
import { echo, fakeDispatcher, gate, worker } from "./harness.ts";

describe("Worker.stop", () => {
  it("waits for an in-flight handler, refuses new work meanwhile, then closes the stream", async () => {
    const fake = await fakeDispatcher();
    const release = gate();
    let signal: AbortSignal | undefined;
    const w = worker({
      addresses: [fake.address],
      handlers: {
        hold: async (_p, ctx) => {
          signal = ctx.signal;
          await release.promise;
          return "finished";
        },
      },
    });
    await w.start();
    const stream = await fake.stream();
    stream.assign({ taskId: "t1", type: "hold" });
    await stream.next("started");

    let stopped = false;
    const stopping = w.stop({ graceMs: 10_000 }).then(() => (stopped = true));
    stream.assign({ taskId: "t2", type: "hold" });
    expect(await stream.next("failed")).toMatchObject({
      taskId: "t2",
      errorType: "WORKER_STOPPING",
      nonRetryable: false,
    });
    expect(stopped).toBe(false);
    expect(stream.ended).toBe(false);

    release.open();
    expect(await stream.next("completed")).toEqual({ taskId: "t1", attempt: 1, resultJson: '"finished"' });
    await stopping;
    expect(signal?.aborted).toBe(false);
    await waitFor(() => stream.ended, 3000, "the stream to end");
    await expect(w.start()).rejects.toThrow(/stopped/);
  });

  it("aborts handlers still running after the grace period, lets them settle, then reports how they ended", async () => {
    const fake = await fakeDispatcher();
    let politeSignal: AbortSignal | undefined;
    const w = worker({
      addresses: [fake.address],
      handlers: {
        polite: (_p, ctx) =>
          new Promise((_resolve, reject) => {
            politeSignal = ctx.signal;
            ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason as Error));
          }),
        stubborn: () => new Promise(() => {}),
      },
    });
    await w.start();
    const stream = await fake.stream();
    stream.assign({ taskId: "p", type: "polite" });
    stream.assign({ taskId: "s", type: "stubborn" });
    await stream.next("started");
    await stream.next("started");
    const failed: string[] = [];
    w.on("failed", (failure) => failed.push(`${failure.taskId} ${failure.errorType}`));

    // The worker's clock from here on is the test's: the grace and settle periods pass when told.
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    try {
      let stopped = false;
      const stopping = w.stop({ graceMs: 5000, settleMs: 1000 }).then(() => (stopped = true));
      await vi.advanceTimersByTimeAsync(4999);
      expect(politeSignal?.aborted).toBe(false);
      expect(failed).toEqual([]);

      await vi.advanceTimersByTimeAsync(1); // the grace is over: every handler's signal aborts
      expect(politeSignal?.aborted).toBe(true);
      expect(failed).toEqual([`p ${new WorkerStoppingError().name}`]);

      await vi.advanceTimersByTimeAsync(999);
      expect(failed).toHaveLength(1);
      expect(stopped).toBe(false);
      await vi.advanceTimersByTimeAsync(1); // the settle time is over: the stubborn one is given up
      expect(failed).toEqual([`p ${new WorkerStoppingError().name}`, "s WORKER_STOPPING"]);
      await stopping;
    } finally {
      vi.useRealTimers();
    }
    const failures = stream.log.filter((m) => m.$case === "failed").map((m) => m.value);
    expect(failures).toEqual([
      expect.objectContaining({ taskId: "p", errorType: new WorkerStoppingError().name, cancelled: false }),
      expect.objectContaining({ taskId: "s", errorType: "WORKER_STOPPING", cancelled: false }),
    ]);
    await waitFor(() => stream.ended);
  });

  it("waits for the acks of the last results before closing, up to its flush time", async () => {
    const fake = await fakeDispatcher({ autoAck: false });
    const w = worker({ addresses: [fake.address], handlers: { echo } });
    await w.start();
    const stream = await fake.stream();
    stream.assign({ taskId: "t1", type: "echo" });
    await stream.next("completed");
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    try {
      let stopped = false;
      const stopping = w.stop({ graceMs: 1000, flushMs: 5000 }).then(() => (stopped = true));
      await vi.advanceTimersByTimeAsync(4999);
      expect(stopped).toBe(false);
      expect(stream.ended).toBe(false);
      stream.ack("t1");
      await stopping;
    } finally {
      vi.useRealTimers();
    }
    await waitFor(() => stream.ended);
  });

  it("rejects a pending start when stopped before any dispatcher accepted the worker", async () => {
    const standby = await fakeDispatcher({ refuse: "not leader" });
    const w = worker({ addresses: [standby.address], handlers: { echo } });
    const starting = w.start();
    await waitFor(() => standby.registers.length > 0);
    await w.stop();
    await expect(starting).rejects.toThrow(/stopped before it registered/);
  });
});
