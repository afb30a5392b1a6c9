import type { ServerUnaryCall, UntypedHandleCall } from "@grpc/grpc-js";
import { actorOf, TaskstreamError, ValidationError } from "../../domain/task/index.ts";
import type { TaskRow } from "../../projections/task-row.ts";
import type { Task, TaskServiceServer } from "../../proto/gen/taskstream/v1/tasks.ts";
import { withSubmissionSpan } from "../../observability/trace-context.ts";
import type { TaskCommands } from "../task-commands.ts";
import type { TaskView } from "../../domain/task/view.ts";
import { authenticatedUnary, type GrpcAuthenticate } from "./unary.ts";
import { requireScope, visibleNamespaces } from "../../auth/principal.ts";
import { submissionFromMessage } from "./task-spec-message.ts";
import { mapAllOrFail } from "../validation/collect.ts";

/** A page of the read model's task listing (read-api/queries/task-list.ts), as the API role is given it. */
export type ListTasks = (query: {
  namespaces: string[] | null;
  state: string | null;
  type: string | null;
  afterId: string | null;
  first: number;
}) => Promise<{ rows: TaskRow[]; hasNextPage: boolean }>;

/**
 * gRPC TaskService over the same command layer as REST. `listTasks` reads the read model; without
 * it (a process with no PostgreSQL) ListTasks answers UNIMPLEMENTED.
 */
export function taskService(
  commands: TaskCommands,
  authenticate: GrpcAuthenticate,
  listTasks?: ListTasks,
): TaskServiceServer & Record<string, UntypedHandleCall> {
  const unary = authenticatedUnary(authenticate);
  return {
    listTasks: unary(async (call, principal) => {
      requireScope(principal, "read");
      if (!listTasks) throw new TaskstreamError("UNIMPLEMENTED", "this process does not serve listings");
      const { state, type, pageSize, pageToken } = call.request;
      const afterId = pageToken === "" ? null : decodePageToken(pageToken);
      const page = await listTasks({
        namespaces: visibleNamespaces(principal, call.request.namespace || null),
        state: state === "" ? null : state,
        type: type === "" ? null : type,
        afterId,
        first: pageSize === 0 ? 100 : pageSize,
      });
      const last = page.rows.at(-1);
      return {
        tasks: page.rows.map((row) => taskMessage(viewOfRow(row))),
        nextPageToken: page.hasNextPage && last ? Buffer.from(last.id).toString("base64url") : "",
      };
    }),
    submitTask: unary(async (call, principal) => {
      const input = submissionFromMessage(call.request.task, "task.");
      const { id, deduplicated } = await withSubmissionSpan(
        "taskstream.submit",
        traceHeaders(call),
        (trace) => commands.submit(input, trace, principal),
      );
      return { id, deduplicated, conflict: false };
    }),
    submitTasks: unary(async (call, principal) => {
      requireScope(principal, "submit");
      const tasks = call.request.tasks;
      if (tasks.length === 0 || tasks.length > 1000)
        throw new ValidationError([{ field: "tasks", reason: "must hold 1 to 1000 tasks" }]);
      await commands.refreshSettings();
      const results = await withSubmissionSpan("taskstream.submit_batch", traceHeaders(call), (trace) => {
        const specs = mapAllOrFail(tasks, (task, i) =>
          commands.validate(submissionFromMessage(task, `tasks[${i}].`), trace, principal, `tasks[${i}].`),
        );
        return commands.submitValidated(specs, principal);
      });
      return {
        results: results.map(({ id, deduplicated, conflict }) => ({
          id,
          deduplicated,
          conflict: conflict ?? false,
        })),
      };
    }),
    getTask: unary(async (call, principal) => taskMessage(await commands.get(call.request.id, principal))),
    cancelTask: unary(async (call, principal) => ({
      task: taskMessage(await commands.cancel(call.request.id, call.request.reason, principal)),
    })),
    retryTask: unary(async (call, principal) => ({
      task: taskMessage(await commands.retry(call.request.id, null, "", principal)),
    })),
    getTaskHistory: unary(async (call, principal) => ({
      events: (await commands.history(call.request.id, principal)).map((event) => ({
        version: event.version,
        type: event.type,
        at: new Date(Number(event.streamId.split("-")[0])).toISOString(),
        dataJson: JSON.stringify(event.data),
        actor: actorOf(event) ?? "",
      })),
    })),
  };
}

function traceHeaders(call: ServerUnaryCall<unknown, unknown>): Record<string, unknown> {
  const [traceparent] = call.metadata.get("traceparent");
  const [tracestate] = call.metadata.get("tracestate");
  return { traceparent, tracestate };
}

function decodePageToken(token: string): string {
  const id = Buffer.from(token, "base64url").toString("utf8");
  if (!/^[0-9a-f-]{36}$/.test(id) || !/^[\w-]+$/.test(token))
    throw new ValidationError([{ field: "page_token", reason: "not a next_page_token from this API" }]);
  return id;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function viewOfRow(row: TaskRow): TaskView {
  return {
    ...row,
    createdAt: iso(row.createdAt)!,
    updatedAt: iso(row.updatedAt)!,
    availableAt: row.state === "QUEUED" ? iso(row.availableAt) : null,
  };
}

/** The gRPC Task message for a task view. */
export function taskMessage(view: TaskView): Task {
  return {
    id: view.id,
    namespace: view.namespace,
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
