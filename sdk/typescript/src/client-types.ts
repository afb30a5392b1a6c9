import type { Task, TaskEvent, TaskSpec } from "@taskstream/protocol/tasks";
import { parseJson, toJson } from "./json.ts";

/** Retry policy of a task; the server's defaults apply to what is left out. */
export interface RetryOptions {
  maxAttempts?: number;
  initialBackoffMs?: number;
  backoffMultiplier?: number;
  maxBackoffMs?: number;
}

/** Timeouts of a task; the server's defaults apply to what is left out. */
export interface TimeoutOptions {
  scheduleToStartMs?: number;
  startToCloseMs?: number;
  heartbeatMs?: number;
}

/** A task to submit. Only `type` is required. */
export interface SubmitSpec {
  /** The tenant: one of the API key's namespaces; absent: the key's only one, else `default`. */
  namespace?: string;
  type: string;
  /** Any JSON value; absent means null. */
  payload?: unknown;
  /** 0-9, 9 most urgent; 5 when absent. */
  priority?: number;
  /** Labels a worker must carry to run the task. */
  requires?: Record<string, string>;
  /** A second submission with the same key inside the dedup window answers the first task's id. */
  idempotencyKey?: string;
  /** Not dispatched before this time (a Date or an RFC 3339 string). */
  runAt?: Date | string;
  /** Alternative to runAt: not dispatched sooner than this many ms after submission. */
  delayMs?: number;
  /** Tasks sharing this key run at most `concurrencyLimit` (default 1) at a time. */
  concurrencyKey?: string;
  concurrencyLimit?: number;
  retry?: RetryOptions;
  timeouts?: TimeoutOptions;
  metadata?: Record<string, string>;
}

/** The answer to a submission. */
export interface SubmitResult {
  id: string;
  /** True when the idempotency key matched an earlier task, whose id this is; nothing was written. */
  deduplicated: boolean;
  /**
   * From `submitMany` only: the key was first used for a request with other fields; nothing was
   * written and `id` is that request's task. (`submit` rejects with ALREADY_EXISTS instead.)
   */
  conflict?: boolean;
}

/** A task's current state, with payload and result parsed from JSON. */
export interface TaskInfo {
  id: string;
  /** The tenant the task belongs to. */
  namespace: string;
  type: string;
  /** QUEUED, ASSIGNED, RUNNING, SUCCEEDED, DEAD_LETTERED or CANCELLED. */
  state: string;
  priority: number;
  attempt: number;
  maxAttempts: number;
  payload: unknown;
  /** The handler's result once SUCCEEDED; null before. */
  result: unknown;
  lastError: { message: string; type: string; nonRetryable: boolean } | null;
  idempotencyKey: string;
  requires: Record<string, string>;
  metadata: Record<string, string>;
  createdAt: string;
  updatedAt: string;
  availableAt: string;
  cancelRequested: boolean;
  version: number;
  workerId: string;
}

/** One recorded event of a task, its data parsed from JSON. */
export interface TaskHistoryEvent {
  version: number;
  type: string;
  at: string;
  data: unknown;
  /** Who caused it (`k:<key id>`, `w:<worker>/<host>`, `d:<epoch>`, …); empty when not recorded. */
  actor: string;
}

/** The wire form of a `SubmitSpec`. */
export function toTaskSpec(spec: SubmitSpec): TaskSpec {
  const { retry, timeouts, runAt } = spec;
  return {
    namespace: spec.namespace ?? "",
    type: spec.type,
    payloadJson: spec.payload === undefined ? "" : toJson(spec.payload),
    priority: spec.priority,
    requires: { ...spec.requires },
    idempotencyKey: spec.idempotencyKey ?? "",
    runAt: runAt instanceof Date ? runAt.toISOString() : (runAt ?? ""),
    delayMs: spec.delayMs,
    concurrencyKey: spec.concurrencyKey ?? "",
    concurrencyLimit: spec.concurrencyLimit,
    // Copied field by field so nothing but the contract's fields reaches the encoder.
    retry: retry && {
      maxAttempts: retry.maxAttempts,
      initialBackoffMs: retry.initialBackoffMs,
      backoffMultiplier: retry.backoffMultiplier,
      maxBackoffMs: retry.maxBackoffMs,
    },
    timeouts: timeouts && {
      scheduleToStartMs: timeouts.scheduleToStartMs,
      startToCloseMs: timeouts.startToCloseMs,
      heartbeatMs: timeouts.heartbeatMs,
    },
    metadata: { ...spec.metadata },
  };
}

/** A task as the client returns it. */
export function fromTask(task: Task): TaskInfo {
  const { payloadJson, resultJson, lastError, ...rest } = task;
  return {
    ...rest,
    payload: lenientJson(payloadJson),
    result: lenientJson(resultJson),
    lastError: lastError
      ? { message: lastError.message, type: lastError.type, nonRetryable: lastError.nonRetryable }
      : null,
  };
}

/** A history event as the client returns it. */
export function fromEvent(event: TaskEvent): TaskHistoryEvent {
  return {
    version: event.version,
    type: event.type,
    at: event.at,
    data: lenientJson(event.dataJson),
    actor: event.actor,
  };
}

// The server only stores valid JSON, but a read must not fail over a display detail: raw text then.
function lenientJson(text: string): unknown {
  try {
    return parseJson(text);
  } catch {
    return text;
  }
}
