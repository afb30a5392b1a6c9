import { describe, expect, it } from "vitest";
import { DEFAULT_RETRY, DEFAULT_TIMEOUTS, fold, type TaskCommand } from "../domain/task/index.ts";
import {
  START_TO_CLOSE_TIMEOUT,
  failureAtDeadline,
  parseJson,
  reportAck,
  reportCommand,
} from "./worker-reports.ts";

const limits = { maxResultBytes: 1024 };

describe("worker reports", () => {
  it("turns each attempt report into the decider's command, acknowledging results only", () => {
    const started = reportCommand("w1", { $case: "started", value: { taskId: "t", attempt: 2 } }, limits, 7);
    expect(started).toEqual({
      taskId: "t",
      attempt: 2,
      acknowledge: false,
      command: { type: "StartAttempt", data: { attempt: 2, workerId: "w1", now: 7 } },
    });
    const done = reportCommand(
      "w1",
      { $case: "completed", value: { taskId: "t", attempt: 2, resultJson: '{"a":1}' } },
      limits,
      8,
    );
    expect(done).toMatchObject({
      acknowledge: true,
      command: { type: "CompleteAttempt", data: { result: { a: 1 } } },
    });
    const failed = reportCommand(
      "w1",
      {
        $case: "failed",
        value: { taskId: "t", attempt: 2, message: "m", errorType: "", nonRetryable: true, cancelled: false },
      },
      limits,
    );
    expect(failed?.command).toMatchObject({
      type: "FailAttempt",
      data: { error: { message: "m", type: "Error", nonRetryable: true } },
    });
    expect(reportCommand("w1", { $case: "heartbeat", value: { active: [] } }, limits)).toBeNull();
  });

  it("carries the reporting worker's id on every report, so the decider can refuse other workers", () => {
    const progress = reportCommand(
      "w1",
      { $case: "progress", value: { taskId: "t", attempt: 1, detailsJson: '{"p":1}' } },
      limits,
    );
    expect(progress?.command).toMatchObject({ type: "RecordProgress", data: { workerId: "w1" } });
    const done = reportCommand(
      "w1",
      { $case: "completed", value: { taskId: "t", attempt: 1, resultJson: "1" } },
      limits,
    );
    expect(done?.command).toMatchObject({ type: "CompleteAttempt", data: { workerId: "w1" } });
  });

  it("turns a result that is too large or unstorable into a non-retryable failure naming why", () => {
    const big = reportCommand(
      "w1",
      {
        $case: "completed",
        value: { taskId: "t", attempt: 1, resultJson: JSON.stringify("x".repeat(2000)) },
      },
      limits,
    );
    expect(big).toMatchObject({
      acknowledge: true,
      command: {
        type: "FailAttempt",
        data: {
          error: { type: "RESULT_TOO_LARGE", nonRetryable: true },
        },
      },
    });
    expect(big?.command.type === "FailAttempt" && big.command.data.error.message).toContain("1024");
    const nul = reportCommand(
      "w1",
      { $case: "completed", value: { taskId: "t", attempt: 1, resultJson: '{"a":["\\u0000"]}' } },
      limits,
    );
    expect(nul?.command).toMatchObject({
      type: "FailAttempt",
      data: { error: { type: "INVALID_RESULT" } },
    });
    expect(nul?.command.type === "FailAttempt" && nul.command.data.error.message).toContain("result.a[0]");
    const surrogate = reportCommand(
      "w1",
      { $case: "completed", value: { taskId: "t", attempt: 1, resultJson: '"\\ud800"' } },
      limits,
    );
    expect(surrogate?.command).toMatchObject({ data: { error: { type: "INVALID_RESULT" } } });
    const deep = reportCommand(
      "w1",
      {
        $case: "completed",
        value: { taskId: "t", attempt: 1, resultJson: "[".repeat(5000) + "]".repeat(5000) },
      },
      { maxResultBytes: 1 << 20 },
    );
    expect(deep?.command).toMatchObject({ data: { error: { type: "INVALID_RESULT" } } });
  });

  it("drops progress whose details cannot be stored, and makes error messages storable", () => {
    const progress = reportCommand(
      "w1",
      { $case: "progress", value: { taskId: "t", attempt: 1, detailsJson: '"a\\u0000"' } },
      limits,
    );
    expect(progress).toBeNull();
    const failed = reportCommand(
      "w1",
      {
        $case: "failed",
        value: {
          taskId: "t",
          attempt: 1,
          message: "bad\u0000\ud800",
          errorType: "E\u0000",
          nonRetryable: false,
          cancelled: false,
        },
      },
      limits,
    );
    expect(failed?.command).toMatchObject({
      data: { error: { message: "bad\ufffd\ufffd", type: "E\ufffd" } },
    });
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

  describe("a failure reported at the attempt's deadline", () => {
    // Attempt 2 of a task, assigned at 1000 with a deadline at 2000.
    const state = fold([
      {
        type: "TaskSubmitted",
        data: {
          spec: {
            namespace: "default",
            type: "t",
            payload: null,
            priority: 5,
            requires: {},
            idempotencyKey: null,
            runAt: null,
            retry: DEFAULT_RETRY,
            timeouts: { ...DEFAULT_TIMEOUTS, startToCloseMs: 1000 },
            metadata: {},
            concurrency: null,
            traceparent: null,
            tracestate: null,
          },
          submittedAt: 0,
        },
      },
      { type: "TaskAssigned", data: { attempt: 1, workerId: "w1", assignedAt: 10, deadlineAt: 1010 } },
      {
        type: "TaskAttemptFailed",
        data: { attempt: 1, error: START_TO_CLOSE_TIMEOUT, failedAt: 1010, retryAt: 1000 },
      },
      { type: "TaskAssigned", data: { attempt: 2, workerId: "w1", assignedAt: 1000, deadlineAt: 2000 } },
    ]);
    const failure = (
      now: number,
      options: { attempt?: number; cancelled?: boolean; workerId?: string } = {},
    ) =>
      ({
        type: "FailAttempt",
        data: {
          attempt: options.attempt ?? 2,
          error: { message: "deadline passed", type: "DeadlineExceededError", nonRetryable: false },
          cancelled: options.cancelled ?? false,
          jitter: 0.5,
          now,
          workerId: "workerId" in options ? options.workerId : "w1",
        },
      }) as TaskCommand;

    it("is recorded as the dispatcher's START_TO_CLOSE_TIMEOUT, whatever error the handler ended with", () => {
      for (const now of [2000, 2500]) {
        expect(failureAtDeadline(failure(now), state)).toEqual({
          type: "FailAttempt",
          data: { ...failure(now).data, error: START_TO_CLOSE_TIMEOUT },
        });
      }
    });

    it("keeps the handler's error before the deadline, for a cancelled or stale attempt, and for the dispatcher's own verdicts", () => {
      for (const command of [
        failure(1999),
        failure(2500, { cancelled: true }),
        failure(2500, { attempt: 1 }),
        failure(2500, { workerId: undefined }),
      ])
        expect(failureAtDeadline(command, state)).toBe(command);
    });
  });
});
