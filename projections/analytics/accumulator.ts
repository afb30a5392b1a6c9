import type { TaskState } from "../../domain/task/index.ts";
import type { StoredEvent } from "../../event-store/stream-format.ts";
import { streamIdTime } from "../../event-store/stream-ids.ts";
import { bucketOf, emptyHistogram } from "./histogram.ts";

/** One `analytics_minutes` row's increments. */
export interface MinuteCounts {
  minute: number;
  taskType: string;
  submitted: number;
  started: number;
  succeeded: number;
  failed: number;
  retried: number;
  deadLettered: number;
  cancelled: number;
  scheduleToStart: number[];
  runTime: number[];
}

/** One `analytics_worker_minutes` row's increments. */
export interface WorkerMinute {
  minute: number;
  workerId: string;
  succeeded: number;
  failed: number;
  busyMs: number;
}

/** An attempt started and still running at the end of the batch. */
export interface OpenAttempt {
  taskId: string;
  attempt: number;
  workerId: string;
  startedAt: number;
}

/** An attempt that ended in this batch but started in an earlier one: its start is in the table. */
export interface EndedAttempt {
  taskId: string;
  attempt: number;
  taskType: string;
  /** The minute the end was recorded in (Unix ms, whole minute). */
  minute: number;
  endedAt: number;
  outcome: "succeeded" | "failed" | "abandoned";
}

const MINUTE = 60_000;

/**
 * Gathers a batch's analytics while the projector folds it: every applied event with its task's
 * state before and after. Pure bookkeeping; `analytics-table.ts` writes the result in the batch's
 * transaction. Counts go to the minute the log recorded the event in; latencies use the domain's
 * own times (when the task became due, when its attempt started and ended).
 */
export class AnalyticsAccumulator {
  private readonly minutes = new Map<string, MinuteCounts>();
  private readonly workers = new Map<string, WorkerMinute>();
  /** Attempts started in this batch, by task: ended ones are removed. */
  private readonly open = new Map<string, OpenAttempt>();
  /** Attempts that ended in this batch without their start in it, by task and attempt. */
  private readonly ended = new Map<string, EndedAttempt>();

  /** Called for each event the fold applies, in log order. */
  observe(event: StoredEvent, before: TaskState, after: TaskState): void {
    const taskType = after.spec?.type;
    if (taskType === undefined) return;
    const minute = Math.floor(streamIdTime(event.streamId) / MINUTE) * MINUTE;
    const row = this.minute(minute, taskType);
    switch (event.type) {
      case "TaskSubmitted":
        row.submitted++;
        break;
      case "TaskAssigned": {
        const due = before.availableAt ?? before.createdAt ?? event.data.assignedAt;
        row.scheduleToStart[bucketOf(event.data.assignedAt - due)]!++;
        break;
      }
      case "TaskStarted":
        row.started++;
        this.open.set(event.taskId, {
          taskId: event.taskId,
          attempt: event.data.attempt,
          workerId: event.data.workerId,
          startedAt: event.data.startedAt,
        });
        break;
      case "TaskSucceeded":
        row.succeeded++;
        this.end(event.taskId, event.data.attempt, taskType, minute, event.data.completedAt, "succeeded");
        break;
      case "TaskAttemptFailed":
        row.failed++;
        if (event.data.retryAt !== null) row.retried++;
        this.end(event.taskId, event.data.attempt, taskType, minute, event.data.failedAt, "failed");
        break;
      case "TaskDeadLettered":
        row.deadLettered++;
        this.end(event.taskId, event.data.attempt, taskType, minute, event.data.at, "abandoned");
        break;
      case "TaskCancelled":
        row.cancelled++;
        this.end(event.taskId, before.attempt, taskType, minute, event.data.at, "abandoned");
        break;
      case "TaskProgressRecorded":
      case "TaskCancelRequested":
      case "TaskRevived":
      case "TaskResultRejected":
        break;
      default: {
        const unknown: never = event;
        return unknown;
      }
    }
  }

  /** Records the run of an attempt whose start came from the table (or this batch). */
  recordRun(ended: EndedAttempt, start: OpenAttempt): void {
    if (ended.outcome === "abandoned" || start.attempt !== ended.attempt) return;
    const runMs = Math.max(0, ended.endedAt - start.startedAt);
    this.minute(ended.minute, ended.taskType).runTime[bucketOf(runMs)]!++;
    const worker = this.worker(ended.minute, start.workerId);
    worker[ended.outcome]++;
    worker.busyMs += runMs;
  }

  /** The rows to add to `analytics_minutes`, ordered by key (a fixed lock order). */
  minuteRows(): MinuteCounts[] {
    return [...this.minutes.values()].sort(
      (a, b) => a.minute - b.minute || (a.taskType < b.taskType ? -1 : a.taskType > b.taskType ? 1 : 0),
    );
  }

  /** The rows to add to `analytics_worker_minutes`, ordered by key. */
  workerRows(): WorkerMinute[] {
    return [...this.workers.values()].sort(
      (a, b) => a.minute - b.minute || (a.workerId < b.workerId ? -1 : a.workerId > b.workerId ? 1 : 0),
    );
  }

  /** Attempts still running at the batch's end (to remember) and ended ones started before it (to look up). */
  attempts(): { open: OpenAttempt[]; ended: EndedAttempt[] } {
    return { open: [...this.open.values()], ended: [...this.ended.values()] };
  }

  /** Every task whose open attempt, if the table holds one, is over after this batch. */
  closedTasks(): string[] {
    return [...this.closed];
  }

  private readonly closed = new Set<string>();

  private end(
    taskId: string,
    attempt: number,
    taskType: string,
    minute: number,
    endedAt: number,
    outcome: EndedAttempt["outcome"],
  ): void {
    this.closed.add(taskId);
    const started = this.open.get(taskId);
    const ended = { taskId, attempt, taskType, minute, endedAt, outcome };
    if (started) {
      this.open.delete(taskId);
      this.recordRun(ended, started);
    } else if (!this.ended.has(`${taskId}:${attempt}`)) {
      // A dead letter after a failed attempt must not hide that attempt's run: the first end counts.
      this.ended.set(`${taskId}:${attempt}`, ended);
    }
  }

  private minute(minute: number, taskType: string): MinuteCounts {
    const key = `${minute}\u0000${taskType}`;
    let row = this.minutes.get(key);
    if (!row) {
      row = {
        minute,
        taskType,
        submitted: 0,
        started: 0,
        succeeded: 0,
        failed: 0,
        retried: 0,
        deadLettered: 0,
        cancelled: 0,
        scheduleToStart: emptyHistogram(),
        runTime: emptyHistogram(),
      };
      this.minutes.set(key, row);
    }
    return row;
  }

  private worker(minute: number, workerId: string): WorkerMinute {
    const key = `${minute}\u0000${workerId}`;
    let row = this.workers.get(key);
    if (!row) {
      row = { minute, workerId, succeeded: 0, failed: 0, busyMs: 0 };
      this.workers.set(key, row);
    }
    return row;
  }
}
