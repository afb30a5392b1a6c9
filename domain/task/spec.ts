/** What a producer asked for: immutable once submitted. Times are Unix milliseconds. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface RetryPolicy {
  /** Attempts in all, the first included; at least 1. */
  maxAttempts: number;
  initialBackoffMs: number;
  backoffMultiplier: number;
  maxBackoffMs: number;
}

export interface Timeouts {
  /** From submission (or runAt) to the first start; null waits forever. */
  scheduleToStartMs: number | null;
  /** From an attempt's assignment to its result. */
  startToCloseMs: number | null;
  /** Longest silence allowed between an attempt's heartbeats; null uses the worker's liveness only. */
  heartbeatMs: number | null;
}

export interface TaskSpec {
  /** The tenant the task belongs to (namespace.ts): `default` when none was given. */
  namespace: string;
  type: string;
  payload: Json;
  /** 0-9, 9 most urgent. */
  priority: number;
  requires: Record<string, string>;
  idempotencyKey: string | null;
  runAt: number | null;
  retry: RetryPolicy;
  timeouts: Timeouts;
  metadata: Record<string, string>;
  /** At most `limit` tasks sharing `key` run at once (e.g. per tenant); null when unconstrained. */
  concurrency: { key: string; limit: number } | null;
  /** W3C trace context of the submission, carried to the worker's handler. */
  traceparent: string | null;
  tracestate: string | null;
}

export interface TaskError {
  message: string;
  type: string;
  nonRetryable: boolean;
}

export const MIN_PRIORITY = 0;
export const MAX_PRIORITY = 9;
export const DEFAULT_PRIORITY = 5;

export const DEFAULT_RETRY: RetryPolicy = {
  maxAttempts: 5,
  initialBackoffMs: 1_000,
  backoffMultiplier: 2,
  maxBackoffMs: 60_000,
};

export const DEFAULT_TIMEOUTS: Timeouts = {
  scheduleToStartMs: null,
  startToCloseMs: 300_000,
  heartbeatMs: null,
};
