import type { AttemptRef, WorkerMessage } from "@taskstream/protocol/workers";

type Msg = NonNullable<WorkerMessage["msg"]>;
type Final = Extract<Msg, { $case: "completed" | "failed" }>;
type Transient = Extract<Msg, { $case: "started" | "progress" }>;

/** The key of one attempt: a task id and its attempt number. */
export function attemptKey(taskId: string, attempt: number): string {
  return `${taskId}#${attempt}`;
}

/**
 * The reports the dispatcher has not confirmed. A completed or failed report is kept until its ack
 * arrives and re-sent after every reconnect, so a result survives a stream that breaks between
 * completion and ack (the dispatcher deduplicates a report it already recorded). Started and
 * progress reports are not acknowledged; only those that could not be written at all (while
 * disconnected) are kept, and only the latest progress of each attempt.
 */
export class ReportBuffer {
  private readonly finals = new Map<string, Final>();
  private readonly transient = new Map<string, Transient>();
  private emptyWaiters: (() => void)[] = [];

  /** Keeps a completed or failed report until `acknowledge`. */
  keep(report: Final): void {
    this.finals.set(attemptKey(report.value.taskId, report.value.attempt), report);
  }

  /** Keeps a started or progress report that could not be written, for the next connection. */
  defer(report: Transient): void {
    const { taskId, attempt } = report.value;
    this.transient.set(`${attemptKey(taskId, attempt)}#${report.$case}`, report);
  }

  /** Forgets an acknowledged report; false when none was kept (a duplicate ack). */
  acknowledge(taskId: string, attempt: number): boolean {
    const removed = this.finals.delete(attemptKey(taskId, attempt));
    if (this.finals.size === 0) this.wakeEmpty();
    return removed;
  }

  /**
   * Everything to send on a fresh stream, in order: deferred started/progress reports first (each
   * attempt's start before its result), then every unacknowledged result. Deferred reports are
   * handed over once; results stay until acknowledged.
   */
  drain(): Msg[] {
    const messages: Msg[] = [...this.transient.values(), ...this.finals.values()];
    this.transient.clear();
    return messages;
  }

  /** Whether a result of this attempt awaits an ack. */
  holds(taskId: string, attempt: number): boolean {
    return this.finals.has(attemptKey(taskId, attempt));
  }

  /** Attempts whose result awaits an ack; the worker still holds them as far as the dispatcher knows. */
  unacknowledged(): AttemptRef[] {
    return [...this.finals.values()].map(({ value }) => ({ taskId: value.taskId, attempt: value.attempt }));
  }

  /** How many results await an ack. */
  get size(): number {
    return this.finals.size;
  }

  /** Resolves true once every result is acknowledged, or false after `timeoutMs`. */
  async whenEmpty(timeoutMs: number): Promise<boolean> {
    if (this.finals.size === 0) return true;
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.emptyWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  private wakeEmpty(): void {
    const waiters = this.emptyWaiters;
    this.emptyWaiters = [];
    for (const wake of waiters) wake();
  }
}
