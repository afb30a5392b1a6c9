import type { ConnectOptions } from "./credentials.ts";

/** What a handler receives besides its payload: the attempt's identity, limits and controls. */
export interface TaskContext {
  readonly taskId: string;
  /** 1 for the first attempt; also the fencing token the dispatcher checks on every report. */
  readonly attempt: number;
  readonly maxAttempts: number;
  /** The key the task was submitted with ("" when none); use it to make side effects idempotent. */
  readonly idempotencyKey: string;
  readonly priority: number;
  readonly metadata: Readonly<Record<string, string>>;
  /** When the attempt must finish; null when unbounded. The signal aborts at this time. */
  readonly deadline: Date | null;
  /** Aborted on cancellation, at the deadline, and when the worker stops after its grace period. */
  readonly signal: AbortSignal;
  /** W3C traceparent of the handler's span (or of the submission when tracing is off); null when none. */
  readonly traceparent: string | null;
  /** Details the previous attempt recorded with `heartbeat`; undefined when there are none. */
  readonly lastDetails: unknown;
  /** Records progress details (any JSON value); the next attempt sees them as `lastDetails`. */
  heartbeat(details?: unknown): void;
}

/** Runs one attempt of a task type: resolves with the result (any JSON value) or throws. */
export type Handler = (payload: unknown, ctx: TaskContext) => Promise<unknown>;

/** Where the SDK writes its own diagnostics; `console` fits, as does a small adapter to pino. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** Options of a `Worker`; `apiKey`, `tls` and `credentials` say how it connects (ConnectOptions). */
export interface WorkerOptions extends ConnectOptions {
  /** Dispatcher addresses (host:port); the worker tries them round-robin until one leads. */
  addresses: string[];
  /** A human-readable name shown in the dispatcher's worker list; defaults to `ts-worker-<pid>`. */
  name?: string;
  /** How many attempts run at once (default 10). */
  slots?: number;
  /** Labels matched against the tasks' `requires`. */
  labels?: Record<string, string>;
  /** One handler per task type; the worker registers for exactly these types. */
  handlers: Record<string, Handler>;
  /** Overrides the heartbeat interval the dispatcher asks for. */
  heartbeatIntervalMs?: number;
  /** Defaults to silence for debug/info and `console` for warnings and errors. */
  logger?: Logger;
  /**
   * gRPC keepalive: a ping after `timeMs` without traffic, the connection given up on when it is not
   * answered within `timeoutMs` (default 10 s and 5 s). A dispatcher frozen or cut off without
   * closing the connection is noticed within their sum, and the worker moves to another address.
   */
  keepalive?: { timeMs: number; timeoutMs: number };
}

/** Options of `Worker.stop`. */
export interface StopOptions {
  /** How long in-flight handlers may keep running before their signals are aborted (default 30 s). */
  graceMs?: number;
  /** How long aborted handlers then get to settle before they are reported as WORKER_STOPPING (default 1 s). */
  settleMs?: number;
  /** How long to wait for the dispatcher to acknowledge the last results (default 5 s). */
  flushMs?: number;
}

/** How an attempt ended, as reported to the dispatcher. */
export interface AttemptFailure {
  taskId: string;
  attempt: number;
  message: string;
  errorType: string;
  nonRetryable: boolean;
  cancelled: boolean;
}

/** The events a `Worker` emits (for tests, metrics and logs). */
export interface WorkerEvents {
  registered: [info: { workerId: string; address: string; heartbeatIntervalMs: number }];
  assignment: [info: { taskId: string; attempt: number; type: string }];
  completed: [info: { taskId: string; attempt: number; result: unknown }];
  failed: [info: AttemptFailure];
  ack: [info: { taskId: string; attempt: number; accepted: boolean; reason: string }];
  disconnected: [info: { address: string; code: number | null; details: string }];
  /** The dispatcher refused the worker for good (bad Register, no valid key, not allowed): it stops. */
  refused: [info: { address: string; code: number | null; details: string }];
}
