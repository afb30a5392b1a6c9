import { describe, expect, it } from "vitest";
import { NonRetryableError } from "../src/errors.ts";
import type { TaskContext } from "../src/types.ts";
import { fakeDispatcher, gate, worker } from "./harness.ts";

class QuotaError extends Error {}

describe("Worker: one attempt over the stream", () => {
  it("fails an attempt whose result exceeds the dispatcher's limit instead of sending it", async () => {
    const fake = await fakeDispatcher({ maxResultBytes: 100 });
    const w = worker({ addresses: [fake.address], handlers: { big: async () => "x".repeat(500) } });
    await w.start();
    const stream = await fake.stream();
    stream.assign({ taskId: "t1", type: "big" });
    expect(await stream.next("failed")).toMatchObject({
      taskId: "t1",
      errorType: "RESULT_TOO_LARGE",
      nonRetryable: true,
    });
    const failed = stream.log.find((m) => m.$case === "failed");
    expect(failed?.$case === "failed" && failed.value.message).toContain("exceeds the limit of 100 bytes");
    expect(stream.log.some((m) => m.$case === "completed")).toBe(false);
  });

  it("registers, runs an assignment and reports started then completed with the result", async () => {
    const fake = await fakeDispatcher();
    let seen: { payload: unknown; ctx: TaskContext } | undefined;
    // Held until the start has been seen: a result in the same turn as its start replaces it.
    const held = gate();
    const w = worker({
      addresses: [fake.address],
      name: "w1",
      slots: 4,
      labels: { region: "eu" },
      handlers: {
        echo: async (payload, ctx) => {
          seen = { payload, ctx };
          await held.promise;
          return { echoed: payload };
        },
      },
    });
    const registered = new Promise((resolve) => w.once("registered", resolve));
    await w.start();
    await expect(registered).resolves.toMatchObject({ workerId: "w-1", address: fake.address });
    expect(w.id).toBe("w-1");
    expect(fake.registers[0]).toEqual({
      workerId: "",
      resumeToken: "",
      name: "w1",
      types: ["echo"],
      labels: { region: "eu" },
      slots: 4,
      sdk: "typescript/0.2.0",
      active: [],
      acceptsBatches: true,
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
    held.open();
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

describe("Worker: batched reports", () => {
  it("sends one turn's reports as one WorkerBatch, leaving out starts whose result is in it", async () => {
    const fake = await fakeDispatcher();
    const w = worker({ addresses: [fake.address], slots: 10, handlers: { noop: () => Promise.resolve(1) } });
    await w.start();
    const stream = await fake.stream();
    stream.send({
      $case: "batch",
      value: {
        messages: ["a", "b", "c"].map((taskId) => ({
          msg: {
            $case: "assignment" as const,
            value: {
              taskId,
              attempt: 1,
              type: "noop",
              payloadJson: "",
              idempotencyKey: "",
              priority: 5,
              deadlineUnixMs: 0,
              metadata: {},
              traceparent: "",
              tracestate: "",
              lastDetailsJson: "",
              maxAttempts: 3,
              heartbeatTimeoutMs: 0,
            },
          },
        })),
      },
    });
    for (const taskId of ["a", "b", "c"]) expect((await stream.next("completed")).taskId).toBe(taskId);
    const reports = stream.wire.filter((m) => m.msg?.$case !== "register");
    expect(reports).toHaveLength(1);
    const batch = reports[0]!.msg;
    expect(batch?.$case).toBe("batch");
    if (batch?.$case !== "batch") return;
    expect(batch.value.messages.map((m) => m.msg?.$case)).toEqual(["completed", "completed", "completed"]);
    expect(stream.log.map((m) => m.$case)).toEqual(["completed", "completed", "completed"]);
  });

  it("sends reports one by one, starts included, to a dispatcher that does not accept batches", async () => {
    const fake = await fakeDispatcher({ acceptsBatches: false });
    const w = worker({ addresses: [fake.address], slots: 10, handlers: { noop: () => Promise.resolve(1) } });
    await w.start();
    const stream = await fake.stream();
    for (const taskId of ["a", "b"]) stream.assign({ taskId, type: "noop" });
    for (const taskId of ["a", "b"]) expect((await stream.next("completed")).taskId).toBe(taskId);
    const cases = stream.wire.map((m) => m.msg?.$case).filter((c) => c !== "register");
    expect(cases).not.toContain("batch");
    expect(cases.filter((c) => c === "started")).toHaveLength(2);
  });

  it("sends a report alone, not batched, when it is the only one of its turn", async () => {
    const fake = await fakeDispatcher();
    const held = gate();
    const w = worker({ addresses: [fake.address], handlers: { slow: () => held.promise } });
    await w.start();
    const stream = await fake.stream();
    stream.assign({ taskId: "t", type: "slow" });
    await stream.next("started");
    held.open();
    await stream.next("completed");
    expect(stream.wire.map((m) => m.msg?.$case)).toEqual(["register", "started", "completed"]);
  });
});
