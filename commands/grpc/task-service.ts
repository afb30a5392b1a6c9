import type { ServerUnaryCall, sendUnaryData, UntypedHandleCall } from "@grpc/grpc-js";
import { ValidationError } from "../../domain/task/index.ts";
import type { Task, TaskServiceServer } from "../../proto/gen/taskstream/v1/tasks.ts";
import { withSubmissionSpan } from "../../observability/trace-context.ts";
import type { TaskCommands } from "../task-commands.ts";
import type { TaskView } from "../task-view.ts";
import { toServiceError } from "./status.ts";
import { submissionFromMessage } from "./task-spec-message.ts";
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
