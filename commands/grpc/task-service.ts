import type { ServerUnaryCall, sendUnaryData, UntypedHandleCall } from "@grpc/grpc-js";
import { ValidationError, type Json } from "../../domain/task/index.ts";
import type {
  Task,
  TaskServiceServer,
  TaskSpec as TaskSpecMessage,
} from "../../proto/gen/taskstream/v1/tasks.ts";
import { withSubmissionSpan } from "../../observability/trace-context.ts";
import type { TaskCommands } from "../task-commands.ts";
import type { TaskView } from "../task-view.ts";
import { toServiceError } from "./status.ts";
import { mapAllOrFail } from "../validation/collect.ts";

/** gRPC TaskService over the same command layer as REST. */
export function taskService(commands: TaskCommands): TaskServiceServer & Record<string, UntypedHandleCall> {
  return {
    submitTask: unary(async (call) => {
      const input = submissionFromMessage(call.request.task, "task.");
      return withSubmissionSpan("taskstream.submit", traceHeaders(call), (trace) =>
        commands.submit(input, trace),
      );
    }),
    submitTasks: unary(async (call) => {
      const tasks = call.request.tasks;
      if (tasks.length === 0 || tasks.length > 1000)
        throw new ValidationError([{ field: "tasks", reason: "must hold 1 to 1000 tasks" }]);
      await commands.refreshSettings();
      const results = await withSubmissionSpan("taskstream.submit_batch", traceHeaders(call), (trace) => {
        const specs = mapAllOrFail(tasks, (task, i) =>
          commands.validate(submissionFromMessage(task, `tasks[${i}].`), trace, `tasks[${i}].`),
        );
        return commands.submitValidated(specs);
      });
      return { results };
    }),
    getTask: unary(async (call) => taskMessage(await commands.get(call.request.id))),
    cancelTask: unary(async (call) => ({
      task: taskMessage(await commands.cancel(call.request.id, call.request.reason)),
    })),
    retryTask: unary(async (call) => ({
      task: taskMessage(await commands.retry(call.request.id, null, "")),
    })),
    getTaskHistory: unary(async (call) => ({
      events: (await commands.history(call.request.id)).map((event) => ({
        version: event.version,
        type: event.type,
        at: new Date(Number(event.streamId.split("-")[0])).toISOString(),
        dataJson: JSON.stringify(event.data),
      })),
    })),
  };
}

function unary<Req, Res>(handler: (call: ServerUnaryCall<Req, Res>) => Promise<Res>) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    handler(call).then(
      (response) => callback(null, response),
      (error: unknown) => callback(toServiceError(error)),
    );
  };
}

function traceHeaders(call: ServerUnaryCall<unknown, unknown>): Record<string, unknown> {
  const [traceparent] = call.metadata.get("traceparent");
  const [tracestate] = call.metadata.get("tracestate");
  return { traceparent, tracestate };
}

/** Maps the proto message to the submission shape the validator reads; unset optionals stay absent. */
function submissionFromMessage(
  message: TaskSpecMessage | undefined,
  prefix: string,
): Record<string, unknown> {
  if (!message) throw new ValidationError([{ field: prefix.slice(0, -1), reason: "is required" }]);
  const out: Record<string, unknown> = { type: message.type };
  if (message.payloadJson !== "") out.payload = parseJson(message.payloadJson, `${prefix}payload_json`);
  if (message.priority !== undefined) out.priority = message.priority;
  if (Object.keys(message.requires).length > 0) out.requires = message.requires;
  if (message.idempotencyKey !== "") out.idempotencyKey = message.idempotencyKey;
  if (message.runAt !== "") out.runAt = message.runAt;
  if (message.retry) out.retry = definedOnly(message.retry);
  if (message.timeouts) out.timeouts = definedOnly(message.timeouts);
  if (Object.keys(message.metadata).length > 0) out.metadata = message.metadata;
  if (message.delayMs !== undefined) out.delayMs = message.delayMs;
  if (message.concurrencyKey !== "") out.concurrencyKey = message.concurrencyKey;
  if (message.concurrencyLimit !== undefined) out.concurrencyLimit = message.concurrencyLimit;
  return out;
}

function definedOnly(object: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined));
}

function parseJson(text: string, field: string): Json {
  try {
    return JSON.parse(text) as Json;
  } catch {
    throw new ValidationError([{ field, reason: "is not valid JSON" }]);
  }
}

/** The gRPC Task message for a task view. */
export function taskMessage(view: TaskView): Task {
  return {
    id: view.id,
    type: view.type,
    state: view.state,
    priority: view.priority,
    attempt: view.attempt,
    maxAttempts: view.maxAttempts,
    payloadJson: JSON.stringify(view.payload),
    resultJson: view.result === null ? "" : JSON.stringify(view.result),
    lastError: view.lastError ?? undefined,
    idempotencyKey: view.idempotencyKey ?? "",
    requires: view.requires,
    metadata: view.metadata,
    createdAt: view.createdAt,
    updatedAt: view.updatedAt,
    availableAt: view.availableAt ?? "",
    cancelRequested: view.cancelRequested,
    version: view.version,
    workerId: view.workerId ?? "",
  };
}
