import { hasAttemptOut, type TaskState } from "../domain/task/index.ts";
import { TimerQueue, type Timer } from "./timer-queue.ts";

/** What the timers ask of the term when they fire. */
export interface TimerActions {
  /** A delayed task (runAt, retry backoff) is due: put it where its state says. */
  due(taskId: string, state: TaskState): void;
  /** A queued task waited past its schedule-to-start timeout. */
  expired(taskId: string): void;
  /** An attempt ran out of time (start-to-close) or went silent (heartbeat): end it with `type`. */
  timedOut(taskId: string, state: TaskState, type: string, message: string): void;
}

/**
 * Every deadline of the leader's tasks in one min-heap, checked every `tickMs`: when a delayed task
 * becomes due, when a queued task expires (schedule-to-start), when an attempt must have finished
 * (start-to-close) and when an attempt has been silent too long (heartbeat). A timer carries what it
 * was set for (the task's version or attempt) and does nothing if the task has moved on since.
 */
export class AttemptTimers {
  private readonly timers = new TimerQueue();
  private readonly stateOf: (taskId: string) => TaskState | undefined;
  private readonly actions: TimerActions;
  private interval: NodeJS.Timeout | null = null;

  constructor(stateOf: (taskId: string) => TaskState | undefined, actions: TimerActions) {
    this.stateOf = stateOf;
    this.actions = actions;
  }

  /** Starts checking every `tickMs`. */
  start(tickMs = 20): void {
    this.interval ??= setInterval(() => this.fireDue(Date.now()), tickMs);
  }

  close(): void {
    if (this.interval) clearInterval(this.interval);
    this.interval = null;
    this.timers.clear();
  }

  get size(): number {
    return this.timers.size;
  }

  /**
   * Sets the timers a QUEUED task needs: its expiry (schedule-to-start) and, when it is not due yet,
   * its due time. Returns whether it is due now.
   */
  armQueued(taskId: string, state: TaskState, now: number): boolean {
    const due = state.availableAt ?? 0;
    const limit = state.spec?.timeouts.scheduleToStartMs ?? null;
    if (limit !== null) this.timers.push({ at: due + limit, taskId, kind: "expire", token: state.attempt });
    if (due <= now) return true;
    this.timers.push({ at: due, taskId, kind: "due", token: state.version });
    return false;
  }

  /** Sets the timers of an attempt that is out: its deadline, and its heartbeat when the task has one. */
  armAttempt(taskId: string, state: TaskState, now: number): void {
    if (state.deadlineAt !== null)
      this.timers.push({ at: state.deadlineAt, taskId, kind: "deadline", token: state.attempt });
    // Each event of the attempt (assigned, started, progress) is a sign of life; silence ends it.
    const heartbeatMs = state.spec?.timeouts.heartbeatMs ?? null;
    if (heartbeatMs !== null)
      this.timers.push({
        at: (state.updatedAt ?? now) + heartbeatMs,
        taskId,
        kind: "heartbeat",
        token: state.version,
      });
  }

  /** Fires every timer due at `now` that still stands. */
  fireDue(now: number): void {
    for (const timer of this.timers.popDue(now)) {
      const state = this.stateOf(timer.taskId);
      if (state && isLive(timer, state)) this.fire(timer, state);
    }
  }

  /**
   * Drops stale timers once they outnumber the tasks by far: every attempt sets a start-to-close
   * deadline (5 minutes by default) that stays queued after the attempt ends, and at thousands of
   * tasks a second those would pile up in memory until they are due.
   */
  compact(tasks: number): void {
    if (this.timers.size > 4 * tasks + 10_000)
      this.timers.retain((timer) => {
        const state = this.stateOf(timer.taskId);
        return state !== undefined && isLive(timer, state);
      });
  }

  private fire(timer: Timer, state: TaskState): void {
    switch (timer.kind) {
      case "due":
        return this.actions.due(timer.taskId, state);
      case "expire":
        return this.actions.expired(timer.taskId);
      case "deadline":
        return this.actions.timedOut(
          timer.taskId,
          state,
          "START_TO_CLOSE_TIMEOUT",
          "attempt exceeded its start-to-close timeout",
        );
      case "heartbeat":
        return this.actions.timedOut(
          timer.taskId,
          state,
          "HEARTBEAT_TIMEOUT",
          `no heartbeat within ${state.spec?.timeouts.heartbeatMs} ms`,
        );
    }
  }
}

/** Whether a timer still stands for the task's current state (a stale one does nothing when it fires). */
function isLive(timer: Timer, state: TaskState): boolean {
  switch (timer.kind) {
    case "due":
      return state.state === "QUEUED" && state.version === timer.token;
    case "expire":
      return state.state === "QUEUED" && state.attempt === timer.token;
    case "deadline":
      return hasAttemptOut(state) && state.attempt === timer.token;
    case "heartbeat":
      return hasAttemptOut(state) && state.version === timer.token;
  }
}
