import { describe, expect, it } from "vitest";
import { parseJson, reportAck, reportCommand } from "./worker-reports.ts";

describe("worker reports", () => {
  it("turns each attempt report into the decider's command, acknowledging results only", () => {
    const started = reportCommand("w1", { $case: "started", value: { taskId: "t", attempt: 2 } }, 7);
    expect(started).toEqual({
      taskId: "t",
      attempt: 2,
      acknowledge: false,
      command: { type: "StartAttempt", data: { attempt: 2, workerId: "w1", now: 7 } },
    });
    const done = reportCommand(
      "w1",
      { $case: "completed", value: { taskId: "t", attempt: 2, resultJson: '{"a":1}' } },
      8,
    );
    expect(done).toMatchObject({
      acknowledge: true,
      command: { type: "CompleteAttempt", data: { result: { a: 1 } } },
    });
    const failed = reportCommand("w1", {
      $case: "failed",
      value: { taskId: "t", attempt: 2, message: "m", errorType: "", nonRetryable: true, cancelled: false },
    });
    expect(failed?.command).toMatchObject({
      type: "FailAttempt",
      data: { error: { message: "m", type: "Error", nonRetryable: true } },
    });
    expect(reportCommand("w1", { $case: "heartbeat", value: { active: [] } })).toBeNull();
  });

  it("answers accepted, stale, duplicate or unknown", () => {
    expect(
      reportAck("t", 1, [{ type: "TaskSucceeded", data: { attempt: 1, result: null, completedAt: 1 } }])
        .accepted,
    ).toBe(true);
    expect(
      reportAck("t", 1, [
        {
          type: "TaskResultRejected",
          data: { attempt: 1, currentAttempt: 2, reason: "STALE_ATTEMPT", at: 1 },
        },
      ]),
    ).toMatchObject({
      accepted: false,
      reason: "STALE_ATTEMPT",
    });
    expect(reportAck("t", 1, [])).toMatchObject({ accepted: false, reason: "DUPLICATE" });
    expect(reportAck("t", 1, null)).toMatchObject({ accepted: false, reason: "NOT_FOUND" });
  });

  it("reads empty JSON as null and keeps text that is not JSON", () => {
    expect(parseJson("")).toBeNull();
    expect(parseJson("[1]")).toEqual([1]);
    expect(parseJson("not json")).toBe("not json");
  });
});
