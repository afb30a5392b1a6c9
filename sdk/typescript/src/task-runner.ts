import type { Assignment } from "@taskstream/protocol/workers";
import { CancelledError, DeadlineExceededError, describeError } from "./errors.ts";
import { parseJson, toJson } from "./json.ts";
import { withTaskSpan } from "./tracing.ts";
import { HeartbeatThrottle } from "./heartbeat-throttle.ts";
import type { AttemptFailure, Handler, TaskContext } from "./types.ts";

/** How an attempt ended: a result to report as completed, or a failure. */
export type Outcome =
  { kind: "completed"; result: unknown; resultJson: string } | { kind: "failed"; failure: AttemptFailure };

// setTimeout fires at once for delays above 2^31-1 ms; farther deadlines are re-armed in steps.
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * One attempt of a task running in this worker: it builds the handler's context, owns the abort
 * controller behind `ctx.signal` (cancel, deadline, shutdown) and turns whatever the handler does
 * into an `Outcome`. It never rejects: every way a handler can end becomes a report.
 */
export class AttemptRun {
  readonly taskId: string;
  readonly attempt: number;
  private readonly assignment: Assignment;
  private readonly handler: Handler;
  private readonly heartbeats: HeartbeatThrottle;
  private readonly controller = new AbortController();
  private deadlineTimer: NodeJS.Timeout | null = null;
  private cancelRequested = false;
  private settled = false;
  /** The attempt's outcome once `start` has been called. */
  done: Promise<Outcome> | null = null;

  constructor(assignment: Assignment, handler: Handler, onProgress: (detailsJson: string) => void) {
    this.assignment = assignment;
    this.taskId = assignment.taskId;
    this.attempt = assignment.attempt;
    this.handler = handler;
    this.heartbeats = new HeartbeatThrottle(assignment.heartbeatTimeoutMs, onProgress);
  }

  /** Aborts the signal because the dispatcher cancelled the attempt; a later throw reports cancelled. */
  cancel(reason: string): void {
    this.cancelRequested = true;
    this.abort(new CancelledError(reason));
  }

  /** Aborts the signal with `reason` (deadline, shutdown); the handler decides how to end. */
  abort(reason: Error): void {
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }

  /** Starts the handler (once); resolves with the outcome. */
  start(): Promise<Outcome> {
    this.done ??= this.execute();
    return this.done;
  }

  private async execute(): Promise<Outcome> {
    const a = this.assignment;
    let payload: unknown;
    try {
      payload = parseJson(a.payloadJson);
    } catch (error) {
      // The same bytes would fail on every attempt: not retryable.
      return this.failed({
        message: `payload is not valid JSON: ${describeError(error).message}`,
        errorType: "INVALID_PAYLOAD",
        nonRetryable: true,
      });
    }
    this.armDeadline();
    try {
      const span = {
        type: a.type,
        taskId: a.taskId,
        attempt: a.attempt,
        traceparent: a.traceparent,
        tracestate: a.tracestate,
      };
      const result = await withTaskSpan(span, (traceparent) =>
        this.handler(payload, this.context(traceparent)),
      );
      try {
        const completed: Outcome = { kind: "completed", result, resultJson: toJson(result) };
        this.heartbeats.cancel();
        return completed;
      } catch (error) {
        const message = `result is not JSON-serializable: ${describeError(error).message}`;
        return this.failed({ message, errorType: "INVALID_RESULT", nonRetryable: true });
      }
    } catch (error) {
      return this.failed(describeError(error));
    } finally {
      this.settled = true;
      if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    }
  }

  private failed(error: { message: string; errorType: string; nonRetryable: boolean }): Outcome {
    // The latest progress goes out before the failure: the next attempt starts from it.
    this.heartbeats.flush();
    // Cancelled only when the dispatcher asked: a deadline or shutdown abort is an ordinary failure
    // to retry, whereas cancelled = true ends a task whose cancellation was requested.
    const failure = { taskId: this.taskId, attempt: this.attempt, ...error, cancelled: this.cancelRequested };
    // Stopped by its deadline: the type the dispatcher records when its own timer fires first, so
    // the outcome does not depend on which of the two reaches the log first.
    if (!this.cancelRequested && this.controller.signal.reason instanceof DeadlineExceededError)
      failure.errorType = "START_TO_CLOSE_TIMEOUT";
    return { kind: "failed", failure };
  }

  private armDeadline(): void {
    const deadlineMs = this.assignment.deadlineUnixMs;
    if (deadlineMs <= 0) return;
    const left = deadlineMs - Date.now();
    if (left <= 0) return this.abort(new DeadlineExceededError(new Date(deadlineMs)));
    this.deadlineTimer = setTimeout(() => this.armDeadline(), Math.min(left, MAX_TIMER_MS));
  }

  private context(traceparent: string | null): TaskContext {
    const a = this.assignment;
    let lastDetails: unknown;
    try {
      lastDetails = parseJson(a.lastDetailsJson, undefined);
    } catch {
      lastDetails = a.lastDetailsJson;
    }
    return {
      taskId: a.taskId,
      attempt: a.attempt,
      maxAttempts: a.maxAttempts,
      idempotencyKey: a.idempotencyKey,
      priority: a.priority,
      metadata: { ...a.metadata },
      deadline: a.deadlineUnixMs > 0 ? new Date(a.deadlineUnixMs) : null,
      signal: this.controller.signal,
      traceparent,
      lastDetails,
      heartbeat: (details?: unknown) => {
        // A report about a finished attempt would only be rejected as stale.
        if (!this.settled) this.heartbeats.beat(toJson(details));
      },
    };
  }
}
