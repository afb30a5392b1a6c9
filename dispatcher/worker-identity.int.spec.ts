import { describe, expect, it } from "vitest";
import { status } from "@grpc/grpc-js";
import { noTrace, useDispatcher } from "../tests/support/dispatcher-fixture.ts";

/** Hostile workers: forged reports, stolen identities and bad Register fields change nothing. */
describe("worker identity and report ownership", () => {
  const fx = useDispatcher("identity", { maxWorkerSlots: 500, maxResultBytes: 4096 });

  it("refuses a completion from a stream the attempt was not assigned to, and records the refusal", async () => {
    const owner = fx.worker();
    const ownerId = await owner.register(["victim"]);
    const forger = fx.worker();
    const forgerId = await forger.register(["unrelated"]);
    const { id } = await fx.commands.submit({ type: "victim" }, noTrace);
    const assignment = await owner.next("assignment");

    forger.send({
      $case: "completed",
      value: { taskId: id, attempt: assignment.attempt, resultJson: '{"forged":true}' },
    });
    expect(await forger.next("ack")).toMatchObject({ taskId: id, accepted: false, reason: "WRONG_WORKER" });
    forger.send({
      $case: "failed",
      value: {
        taskId: id,
        attempt: assignment.attempt,
        message: "forged",
        errorType: "X",
        nonRetryable: true,
        cancelled: false,
      },
    });
    expect(await forger.next("ack")).toMatchObject({ accepted: false, reason: "WRONG_WORKER" });
    expect((await fx.stateOf(id)).state).toBe("ASSIGNED");

    owner.send({
      $case: "completed",
      value: { taskId: id, attempt: assignment.attempt, resultJson: '"real"' },
    });
    expect(await owner.next("ack")).toMatchObject({ accepted: true });
    const state = await fx.stateOf(id);
    expect(state.state).toBe("SUCCEEDED");
    expect(state.result).toBe("real");
    const rejections = (await fx.server.store.readTask(id)).filter((e) => e.type === "TaskResultRejected");
    expect(rejections.map((e) => e.data)).toEqual([
      expect.objectContaining({ reason: "WRONG_WORKER", workerId: forgerId }),
      expect.objectContaining({ reason: "WRONG_WORKER", workerId: forgerId }),
    ]);
    expect(forgerId).not.toBe(ownerId);
  });

  it("does not let a new stream adopt another worker's attempt by listing it as active", async () => {
    const owner = fx.worker();
    await owner.register(["adopt"]);
    const { id } = await fx.commands.submit({ type: "adopt" }, noTrace);
    const assignment = await owner.next("assignment");
    const thief = fx.worker();
    await thief.register(["adopt"], { active: [{ taskId: id, attempt: assignment.attempt }] });
    thief.send({ $case: "completed", value: { taskId: id, attempt: assignment.attempt, resultJson: "1" } });
    expect(await thief.next("ack")).toMatchObject({ accepted: false, reason: "WRONG_WORKER" });
    owner.send({ $case: "completed", value: { taskId: id, attempt: assignment.attempt, resultJson: "2" } });
    expect(await owner.next("ack")).toMatchObject({ accepted: true });
    expect((await fx.stateOf(id)).result).toBe(2);
  });

  it("lets only the holder of the resume token take up a worker identity", async () => {
    const owner = fx.worker();
    const ownerId = await owner.register(["ident"]);

    const noToken = fx.worker();
    noToken.send({
      $case: "register",
      value: {
        workerId: ownerId,
        resumeToken: "",
        name: "thief",
        types: ["ident"],
        labels: {},
        slots: 1,
        sdk: "x",
        active: [],
        acceptsBatches: false,
      },
    });
    const refused = await noToken.closed();
    expect(refused.code).toBe(status.PERMISSION_DENIED);
    expect(refused.details).toMatch(/resume_token.*does not prove worker/);

    const wrongToken = fx.worker();
    wrongToken.send({
      $case: "register",
      value: {
        workerId: ownerId,
        resumeToken: `${owner.resumeToken.slice(0, -2)}xx`,
        name: "thief",
        types: ["ident"],
        labels: {},
        slots: 1,
        sdk: "x",
        active: [],
        acceptsBatches: false,
      },
    });
    expect((await wrongToken.closed()).code).toBe(status.PERMISSION_DENIED);

    // The real worker was not evicted: it still receives its work.
    const { id } = await fx.commands.submit({ type: "ident", payload: { secret: 1 } }, noTrace);
    expect((await owner.next("assignment")).taskId).toBe(id);

    // With the token, the identity resumes (a reconnect).
    const resumed = fx.worker();
    expect(await resumed.register(["ident"], { workerId: ownerId, resumeToken: owner.resumeToken })).toBe(
      ownerId,
    );
  });

  it("refuses Register fields out of bounds, naming each", async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ slots: 0 }, /register\.slots: must be between 1 and 500/],
      [{ slots: -5 }, /register\.slots/],
      [{ slots: 2_000_000_000 }, /register\.slots/],
      [{ types: ["a\u0000b"] }, /register\.types\[0\]/],
      [{ types: [] }, /register\.types: must name 1 to/],
      [
        { labels: { zone: "eu\u0007" } },
        /register\.labels\["zone"\]\.value: must not contain control characters/,
      ],
      [{ name: "n".repeat(500) }, /register\.name: must be at most 128/],
      [{ workerId: "not-an-id" }, /register\.worker_id/],
    ];
    for (const [fields, expected] of cases) {
      const w = fx.worker();
      w.send({
        $case: "register",
        value: {
          workerId: "",
          resumeToken: "",
          name: "bad",
          types: ["ok"],
          labels: {},
          slots: 1,
          sdk: "x",
          active: [],
          acceptsBatches: false,
          ...fields,
        },
      });
      const ended = await w.closed();
      expect(ended.code, JSON.stringify(fields)).toBe(status.INVALID_ARGUMENT);
      expect(ended.details).toMatch(expected);
    }
  });

  it("fails an attempt whose result is too large or unstorable with a clear error, keeping the stream", async () => {
    const w = fx.worker();
    await w.register(["big"]);
    const { id: tooLarge } = await fx.commands.submit({ type: "big" }, noTrace);
    const first = await w.next("assignment");
    w.send({
      $case: "completed",
      value: { taskId: tooLarge, attempt: first.attempt, resultJson: JSON.stringify("x".repeat(5000)) },
    });
    expect(await w.next("ack")).toMatchObject({ taskId: tooLarge, accepted: true });
    const state = await fx.stateOf(tooLarge);
    expect(state.state).toBe("DEAD_LETTERED");
    expect(state.lastError).toMatchObject({ type: "RESULT_TOO_LARGE", nonRetryable: true });

    const { id: nul } = await fx.commands.submit({ type: "big" }, noTrace);
    const second = await w.next("assignment");
    w.send({
      $case: "completed",
      value: { taskId: nul, attempt: second.attempt, resultJson: '{"k":"a\\u0000"}' },
    });
    await w.next("ack");
    expect((await fx.stateOf(nul)).lastError).toMatchObject({ type: "INVALID_RESULT" });
    expect(w.ended).toBeNull();
  });
});
