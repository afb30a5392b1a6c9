import {
  jsonProblem,
  storableText,
  type Json,
  type TaskCommand,
  type TaskError,
  type TaskEvent,
  type TaskState,
} from "../domain/task/index.ts";
import type { ReportAck, WorkerMessage } from "../proto/gen/taskstream/v1/workers.ts";

/** A worker's report about one attempt, as the decider's command; `acknowledge` when the worker awaits an answer. */
export interface ReportCommand {
  taskId: string;
  attempt: number;
  command: TaskCommand;
  acknowledge: boolean;
}

/** What a worker may report: results and progress details are bounded JSON. */
export interface ReportLimits {
  maxResultBytes: number;
}

/** Longest error message and error type kept from a worker's failure report. */
export const MAX_ERROR_MESSAGE = 8192;
export const MAX_ERROR_TYPE = 128;

/**
 * Translates a worker's message into the command it asks of the task (null for messages that are
 * not about an attempt: register, heartbeat, or progress whose details cannot be stored). Time and
 * jitter are taken here, at the edge; the decider stays pure. A result that cannot be stored (too
 * large, not storable JSON) becomes a non-retryable failure saying why, so the task ends with a clear
 * error instead of an unprojectable event; error messages are made storable and bounded.
 */
export function reportCommand(
  workerId: string,
  message: WorkerMessage["msg"],
  limits: ReportLimits,
  now = Date.now(),
): ReportCommand | null {
  switch (message?.$case) {
    case "started": {
      const { taskId, attempt } = message.value;
      return {
        taskId,
        attempt,
        acknowledge: false,
        command: { type: "StartAttempt", data: { attempt, workerId, now } },
      };
    }
    case "progress": {
      const { taskId, attempt, detailsJson } = message.value;
      const details = checkedJson(detailsJson, limits.maxResultBytes);
      if (!details.ok) return null;
      const command: TaskCommand = {
        type: "RecordProgress",
        data: { attempt, details: details.value, now, workerId },
      };
      return { taskId, attempt, acknowledge: false, command };
    }
    case "completed": {
      const { taskId, attempt, resultJson } = message.value;
      const result = checkedJson(resultJson, limits.maxResultBytes);
      const command: TaskCommand = result.ok
        ? { type: "CompleteAttempt", data: { attempt, result: result.value, now, workerId } }
        : {
            type: "FailAttempt",
            data: { attempt, error: result.error, cancelled: false, jitter: Math.random(), now, workerId },
          };
      return { taskId, attempt, acknowledge: true, command };
    }
    case "failed": {
      const { taskId, attempt, message: text, errorType, nonRetryable, cancelled } = message.value;
      const error: TaskError = {
        message: storableText(text, MAX_ERROR_MESSAGE),
        type: storableText(errorType, MAX_ERROR_TYPE) || "Error",
        nonRetryable,
      };
      const command: TaskCommand = {
        type: "FailAttempt",
        data: { attempt, error, cancelled, jitter: Math.random(), now, workerId },
      };
      return { taskId, attempt, acknowledge: true, command };
    }
    case "register":
    case "heartbeat":
    case "batch": // unpacked by the Connect handler
    case undefined:
      return null;
  }
}

/** What the dispatcher records when an attempt runs past its start-to-close deadline. */
export const START_TO_CLOSE_TIMEOUT: TaskError = {
  type: "START_TO_CLOSE_TIMEOUT",
  message: "attempt exceeded its start-to-close timeout",
  nonRetryable: false,
};

/**
 * A worker's failure of the current attempt, reported at or after the attempt's deadline, is
 * recorded as the deadline's START_TO_CLOSE_TIMEOUT, exactly as the dispatcher's own timer records
 * it. At the deadline the SDK aborts the handler and the dispatcher's timer fires at about the same
 * moment; without this, whichever is written first would decide the task's last error, and the
 * handler's error there is its SDK's deadline error, named differently in every language. A report
 * of a cancelled attempt, and any report before the deadline, is left as it is.
 */
export function failureAtDeadline(command: TaskCommand, state: TaskState): TaskCommand {
  if (command.type !== "FailAttempt" || command.data.cancelled || command.data.workerId === undefined)
    return command;
  const { attempt, now } = command.data;
  if (state.deadlineAt === null || attempt !== state.attempt || now < state.deadlineAt) return command;
  return { type: "FailAttempt", data: { ...command.data, error: START_TO_CLOSE_TIMEOUT } };
}

/**
 * The answer to a completed/failed report, from the events it produced (null: the task is unknown).
 * Accepted when it changed the task; a repeat of an accepted report changes nothing and is DUPLICATE.
 */
export function reportAck(taskId: string, attempt: number, events: TaskEvent[] | null): ReportAck {
  if (events === null) return { taskId, attempt, accepted: false, reason: "NOT_FOUND" };
  const rejection = events.find((event) => event.type === "TaskResultRejected");
  if (rejection?.type === "TaskResultRejected")
    return { taskId, attempt, accepted: false, reason: rejection.data.reason };
  return events.length > 0
    ? { taskId, attempt, accepted: true, reason: "" }
    : { taskId, attempt, accepted: false, reason: "DUPLICATE" };
}

type Checked = { ok: true; value: Json } | { ok: false; error: TaskError };

/** A reported JSON text, parsed and checked against the limits and the storable-text rules. */
function checkedJson(text: string, maxBytes: number): Checked {
  const bytes = Buffer.byteLength(text);
  if (bytes > maxBytes) {
    const message = `result of ${bytes} bytes exceeds the limit of ${maxBytes} bytes`;
    return { ok: false, error: { type: "RESULT_TOO_LARGE", message, nonRetryable: true } };
  }
  const value = parseJson(text);
  const problem = jsonProblem(value);
  if (problem) {
    const message = `result${problem.path} ${problem.reason}`;
    return { ok: false, error: { type: "INVALID_RESULT", message, nonRetryable: true } };
  }
  return { ok: true, value };
}

/** A report's JSON text; empty means null, and text that is not JSON is kept as a string. */
export function parseJson(text: string): Json {
  if (text === "") return null;
  try {
    return JSON.parse(text) as Json;
  } catch {
    return text;
  }
}
