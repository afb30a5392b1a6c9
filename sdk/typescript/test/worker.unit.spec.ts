import { describe, expect, it } from "vitest";
import { NonRetryableError } from "../src/errors.ts";
import type { TaskContext } from "../src/types.ts";
import { fakeDispatcher, worker } from "./harness.ts";

class QuotaError extends Error {}

describe("Worker: one attempt over the stream", () => {
  it("registers, runs an assignment and reports started then completed with the result", async () => {
    const fake = await fakeDispatcher();
    let seen: { payload: unknown; ctx: TaskContext } | undefined;
    const w = worker({
      addresses: [fake.address],
      name: "w1",
      slots: 4,
      labels: { region: "eu" },
      handlers: {
        echo: (payload, ctx) => {
          seen = { payload, ctx };
          return Promise.resolve({ echoed: payload });
        },
      },
    });
    const registered = new Promise((resolve) => w.once("registered", resolve));
    await w.start();
    await expect(registered).resolves.toMatchObject({ workerId: "w-1", address: fake.address });
    expect(w.id).toBe("w-1");
    expect(fake.registers[0]).toEqual({
      workerId: "",
      name: "w1",
      types: ["echo"],
      labels: { region: "eu" },
      slots: 4,
      sdk: "typescript/0.1.0",
      active: [],
    });

    const stream = await fake.stream();
    const deadline = Date.now() + 60_000;
    stream.assign({
      taskId: "t1",
      attempt: 2,
      type: "echo",
      payloadJson: '{"n":1}',
      idempotencyKey: "k1",
      priority: 7,
      deadlineUnixMs: deadline,
      metadata: { tenant: "a" },
      lastDetailsJson: '{"step":3}',
      maxAttempts: 5,
    });
    expect(await stream.next("started")).toEqual({ taskId: "t1", attempt: 2 });
    expect(await stream.next("completed")).toEqual({
      taskId: "t1",
      attempt: 2,
      resultJson: '{"echoed":{"n":1}}',
    });
    expect(stream.log.map((m) => m.$case)).toEqual(["started", "completed"]);
    const ctx = seen!.ctx;
    expect(seen!.payload).toEqual({ n: 1 });
    expect({ ...ctx, signal: undefined, heartbeat: undefined }).toMatchObject({
      taskId: "t1",
      attempt: 2,
      maxAttempts: 5,
      idempotencyKey: "k1",
      priority: 7,
      metadata: { tenant: "a" },
      deadline: new Date(deadline),
      lastDetails: { step: 3 },
      traceparent: null,
    });
    expect(ctx.signal.aborted).toBe(false);
  });

  it("passes an empty payload as null and reports an undefined result as null", async () => {
    const fake = await fakeDispatcher();
    const payloads: unknown[] = [];
    const w = worker({
      addresses: [fake.address],
      handlers: { noop: (p) => Promise.resolve(void payloads.push(p)) },
    });
    await w.start();
    const stream = await fake.stream();
    stream.assign({ taskId: "t1", type: "noop" });
    expect((await stream.next("completed")).resultJson).toBe("null");
    expect(payloads).toEqual([null]);
  });

  it("reports a thrown error as failed with its message and type", async () => {
    const fake = await fakeDispatcher();
    const w = worker({
      addresses: [fake.address],
      handlers: {
        plain: () => Promise.reject(new TypeError("bad input")),
        custom: () => Promise.reject(new QuotaError("over quota")),
        sync: () => {
          throw new RangeError("thrown synchronously");
        },
      },
    });
    await w.start();
    const stream = await fake.stream();
    stream.assign({ taskId: "a", type: "plain" });
    expect(await stream.next("failed")).toEqual({
      taskId: "a",
      attempt: 1,
      message: "bad input",
      errorType: "TypeError",
      nonRetryable: false,
      cancelled: false,
    });
    stream.assign({ taskId: "b", type: "custom" });
    expect(await stream.next("failed")).toMatchObject({
      taskId: "b",
      message: "over quota",
      errorType: "QuotaError",
    });
    stream.assign({ taskId: "c", type: "sync" });
    expect(await stream.next("failed")).toMatchObject({ taskId: "c", errorType: "RangeError" });
  });

  it("marks NonRetryableError and any error with nonRetryable = true as non-retryable", async () => {
    const fake = await fakeDispatcher();
    const w = worker({
      addresses: [fake.address],
      handlers: {
        typed: () => Promise.reject(new NonRetryableError("no image")),
        flagged: () => Promise.reject(Object.assign(new Error("gone"), { nonRetryable: true })),
      },
    });
    await w.start();
    const stream = await fake.stream();
    stream.assign({ taskId: "a", type: "typed" });
    expect(await stream.next("failed")).toMatchObject({ errorType: "NonRetryableError", nonRetryable: true });
    stream.assign({ taskId: "b", type: "flagged" });
    expect(await stream.next("failed")).toMatchObject({
      errorType: "Error",
      message: "gone",
      nonRetryable: true,
    });
  });

  it("fails invalid payload JSON and unknown task types without running a handler", async () => {
    const fake = await fakeDispatcher();
    let runs = 0;
    const w = worker({ addresses: [fake.address], handlers: { echo: (p) => Promise.resolve((runs++, p)) } });
    await w.start();
    const stream = await fake.stream();
    stream.assign({ taskId: "a", type: "echo", payloadJson: "{nope" });
    expect(await stream.next("failed")).toMatchObject({
      taskId: "a",
      errorType: "INVALID_PAYLOAD",
      nonRetryable: true,
    });
    stream.assign({ taskId: "b", type: "toString" });
    expect(await stream.next("failed")).toMatchObject({ taskId: "b", errorType: "UNKNOWN_TASK_TYPE" });
    expect(runs).toBe(0);
  });
});
