import {
  Metadata,
  status as grpcStatus,
  type CallOptions,
  type ClientUnaryCall,
  type ServiceError,
} from "@grpc/grpc-js";
import { callMetadata, channelCredentials, checkApiKey, type ConnectOptions } from "./credentials.ts";
import type { RetryTaskResponse } from "@taskstream/protocol/tasks";
import {
  TaskServiceClient,
  type CancelTaskResponse,
  type GetTaskHistoryResponse,
  type ListTasksResponse,
  type SubmitTaskResponse,
  type SubmitTasksResponse,
  type Task,
  type TaskSpec,
} from "@taskstream/protocol/tasks";
import {
  fromEvent,
  fromTask,
  toTaskSpec,
  type SubmitResult,
  type SubmitSpec,
  type TaskHistoryEvent,
  type TaskInfo,
} from "./client-types.ts";
import { traceHeaders } from "./tracing.ts";
import { SubmitCoalescer } from "./submit-coalescer.ts";

/** A failed call: the gRPC status `code` (e.g. 5 NOT_FOUND), its name in `status`, and `details`. */
export class TaskstreamError extends Error {
  readonly code: number;
  readonly status: string;
  readonly details: string;

  constructor(error: ServiceError) {
    super(error.details || error.message, { cause: error });
    this.name = "TaskstreamError";
    this.code = error.code;
    this.status = (grpcStatus as unknown as Record<number, string>)[error.code] ?? "UNKNOWN";
    this.details = error.details;
  }
}

/** The error a single submission gets when its idempotency key was first used for another request. */
function conflictError(key: string, taskId: string): TaskstreamError {
  const details = `idempotencyKey "${key}" was used for a different request (task ${taskId}); use a new key for a new request`;
  return new TaskstreamError(
    Object.assign(new Error(details), { code: grpcStatus.ALREADY_EXISTS, details, metadata: new Metadata() }),
  );
}

/** Options of a `TaskstreamClient`; `apiKey`, `tls` and `credentials` say how it connects (ConnectOptions). */
export interface ClientOptions extends ConnectOptions {
  /** host:port of any Taskstream API process. */
  address: string;
  /** Deadline of each call (default 30 s). */
  timeoutMs?: number;
  /**
   * Coalesce concurrent `submit()` calls into SubmitTasks calls (default true): under load one call
   * carries many tasks, each still validated, deduplicated and answered on its own. Submissions
   * made inside an active trace are always sent alone, with their trace context.
   */
  coalesce?: boolean;
}

type Callback<Res> = (error: ServiceError | null, response: Res) => void;
type Invoke<Res> = (
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: Callback<Res>,
) => ClientUnaryCall;

/**
 * Submits, reads and cancels tasks over gRPC (TaskService). Payloads and results are plain JSON
 * values; the active OpenTelemetry trace context travels as `traceparent` metadata, so the task's
 * handler continues the caller's trace.
 */
export class TaskstreamClient {
  private readonly client: TaskServiceClient;
  private readonly timeoutMs: number;
  private readonly apiKey: string | undefined;
  private readonly coalescer: SubmitCoalescer<SubmitResult> | null;

  constructor(options: ClientOptions) {
    checkApiKey(options.apiKey);
    this.apiKey = options.apiKey;
    this.client = new TaskServiceClient(options.address, channelCredentials(options));
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.coalescer =
      options.coalesce === false
        ? null
        : new SubmitCoalescer({
            one: (task) => this.submitOne(task),
            many: (tasks) => this.submitTasks(tasks),
            isInvalid: (error) =>
              error instanceof TaskstreamError && error.code === Number(grpcStatus.INVALID_ARGUMENT),
          });
  }

  /** Submits one task (concurrent calls may share one SubmitTasks call: see `coalesce`). */
  async submit(spec: SubmitSpec): Promise<SubmitResult> {
    const task = toTaskSpec(spec);
    if (this.coalescer === null || Object.keys(traceHeaders()).length > 0) return this.submitOne(task);
    const result = await this.coalescer.submit(task);
    // Sent in a batch, a reused key comes back flagged; alone it is ALREADY_EXISTS: the same to callers.
    if (result.conflict) throw conflictError(task.idempotencyKey, result.id);
    return { id: result.id, deduplicated: result.deduplicated };
  }

  /** Submits many tasks in one call: all are validated before any is written. */
  async submitMany(specs: SubmitSpec[]): Promise<SubmitResult[]> {
    return this.submitTasks(specs.map(toTaskSpec));
  }

  private async submitOne(task: TaskSpec): Promise<SubmitResult> {
    const { id, deduplicated } = await this.unary<SubmitTaskResponse>((md, o, cb) =>
      this.client.submitTask({ task }, md, o, cb),
    );
    return { id, deduplicated };
  }

  private async submitTasks(tasks: TaskSpec[]): Promise<SubmitResult[]> {
    const { results } = await this.unary<SubmitTasksResponse>((md, o, cb) =>
      this.client.submitTasks({ tasks }, md, o, cb),
    );
    return results.map(({ id, deduplicated, conflict }) =>
      conflict ? { id, deduplicated, conflict } : { id, deduplicated },
    );
  }

  /** A task's current state; rejects with code NOT_FOUND when unknown. */
  async get(id: string): Promise<TaskInfo> {
    return fromTask(await this.unary<Task>((md, o, cb) => this.client.getTask({ id }, md, o, cb)));
  }

  /** Cancels a task (at once when waiting, through its worker when running); returns its state. */
  async cancel(id: string, reason = ""): Promise<TaskInfo> {
    const { task } = await this.unary<CancelTaskResponse>((md, o, cb) =>
      this.client.cancelTask({ id, reason }, md, o, cb),
    );
    if (!task) throw new Error(`cancel of ${id} answered without the task`);
    return fromTask(task);
  }

  /** Revives a dead-lettered task with fresh attempts; returns its state. */
  async retry(id: string): Promise<TaskInfo> {
    const { task } = await this.unary<RetryTaskResponse>((md, o, cb) =>
      this.client.retryTask({ id }, md, o, cb),
    );
    if (!task) throw new Error(`retry of ${id} answered without the task`);
    return fromTask(task);
  }

  /**
   * One page of tasks from the read model, oldest first: filter by `state` and `type`, at most
   * `pageSize` (1-500, default 100); pass the answer's `nextPageToken` for the next page ("" at the end).
   */
  async list(
    query: { namespace?: string; state?: string; type?: string; pageSize?: number; pageToken?: string } = {},
  ): Promise<{ tasks: TaskInfo[]; nextPageToken: string }> {
    const request = {
      namespace: query.namespace ?? "",
      state: query.state ?? "",
      type: query.type ?? "",
      pageSize: query.pageSize ?? 0,
      pageToken: query.pageToken ?? "",
    };
    const { tasks, nextPageToken } = await this.unary<ListTasksResponse>((md, o, cb) =>
      this.client.listTasks(request, md, o, cb),
    );
    return { tasks: tasks.map(fromTask), nextPageToken };
  }

  /** Every event recorded for a task, in order. */
  async history(id: string): Promise<TaskHistoryEvent[]> {
    const { events } = await this.unary<GetTaskHistoryResponse>((md, o, cb) =>
      this.client.getTaskHistory({ id }, md, o, cb),
    );
    return events.map(fromEvent);
  }

  /** Closes the channel. */
  close(): void {
    this.client.close();
  }

  private unary<Res>(invoke: Invoke<Res>): Promise<Res> {
    const metadata = callMetadata(this.apiKey);
    for (const [key, value] of Object.entries(traceHeaders())) metadata.set(key, value);
    return new Promise<Res>((resolve, reject) => {
      invoke(metadata, { deadline: Date.now() + this.timeoutMs }, (error, response) =>
        error ? reject(new TaskstreamError(error)) : resolve(response),
      );
    });
  }
}
