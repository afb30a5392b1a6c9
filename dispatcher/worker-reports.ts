import type { Json, TaskCommand, TaskError, TaskEvent } from "../domain/task/index.ts";
import type { ReportAck, WorkerMessage } from "../proto/gen/taskstream/v1/workers.ts";

/** A worker's report about one attempt, as the decider's command; `acknowledge` when the worker awaits an answer. */
export interface ReportCommand {
  taskId: string;
  attempt: number;
  command: TaskCommand;
  acknowledge: boolean;
}

/**
 * Translates a worker's message into the command it asks of the task (null for messages that are
 * not about an attempt: register, heartbeat). Time and jitter are taken here, at the edge; the
 * decider stays pure.
 */
export function reportCommand(
  workerId: string,
  message: WorkerMessage["msg"],
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
      const command: TaskCommand = {
        type: "RecordProgress",
        data: { attempt, details: parseJson(detailsJson), now },
      };
      return { taskId, attempt, acknowledge: false, command };
    }
    case "completed": {
      const { taskId, attempt, resultJson } = message.value;
      const command: TaskCommand = {
        type: "CompleteAttempt",
        data: { attempt, result: parseJson(resultJson), now },
      };
      return { taskId, attempt, acknowledge: true, command };
    }
    case "failed": {
      const { taskId, attempt, message: text, errorType, nonRetryable, cancelled } = message.value;
      const error: TaskError = { message: text, type: errorType || "Error", nonRetryable };
      const command: TaskCommand = {
        type: "FailAttempt",
        data: { attempt, error, cancelled, jitter: Math.random(), now },
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

/** A report's JSON text; empty means null, and text that is not JSON is kept as a string. */
export function parseJson(text: string): Json {
  if (text === "") return null;
  try {
    return JSON.parse(text) as Json;
  } catch {
    return text;
  }
}
