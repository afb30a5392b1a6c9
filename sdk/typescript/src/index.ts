// The public API of @taskstream/sdk: a worker that runs task handlers, and a client that submits tasks.
export { Worker } from "./worker.ts";
export { TaskstreamClient, TaskstreamError, type ClientOptions } from "./client.ts";
export type {
  SubmitSpec,
  SubmitResult,
  TaskInfo,
  TaskHistoryEvent,
  RetryOptions,
  TimeoutOptions,
} from "./client-types.ts";
export {
  NonRetryableError,
  CancelledError,
  DeadlineExceededError,
  WorkerStoppingError,
  RegistrationError,
} from "./errors.ts";
export type {
  Handler,
  TaskContext,
  WorkerOptions,
  StopOptions,
  Logger,
  WorkerEvents,
  AttemptFailure,
} from "./types.ts";
export type { ConnectOptions, TlsOptions } from "./credentials.ts";
export { SDK_VERSION } from "./version.ts";
