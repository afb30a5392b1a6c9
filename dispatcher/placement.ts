import { IllegalStateError, type TaskState } from "../domain/task/index.ts";
import type { DispatcherMetrics } from "../observability/metrics.ts";
import type { QueueSettingsSource } from "../queues/queue-settings.ts";
import { assignmentMessage } from "./assignment.ts";
import { DispatchLimits } from "./limits.ts";
import type { LiveTasks } from "./live-tasks.ts";
import { matchPass } from "./matching.ts";
import { ReadyQueue, type ReadyTask } from "./ready-queue.ts";
import type { WorkerSession } from "./worker-session.ts";
import type { WorkerSessions } from "./worker-sessions.ts";

export interface PlacementOptions {
  live: LiveTasks;
  sessions: WorkerSessions;
  settings: QueueSettingsSource;
  metrics: DispatcherMetrics;
  /** K_p per priority: dispatches of more urgent work after which a waiting level is served. */
  agingBound: number[];
  /** Whether the term still accepts work (a closed term places nothing). */
  accepting: () => boolean;
  /** After an assignment settled (written or not): put the task where its state now says. */
  settled: (taskId: string, state: TaskState) => void;
  /** An assignment was sent to a worker (the term times its first one). */
  dispatched?: () => void;
}

/**
 * Puts ready tasks on workers. Holds the ready queue (priorities with aging, docs/scheduling.md),
 * the dispatch limits (rate per queue, concurrency per key) and the tasks whose assignment is being
 * written; runs matching passes when something changed — a task became ready, a slot freed.
 */
export class Placement {
  readonly ready: ReadyQueue;
  readonly limits: DispatchLimits;
  private readonly options: PlacementOptions;
  /** Task id → the version at which it entered the ready queue. */
  private readonly queued = new Map<string, number>();
  /** Tasks whose assignment is being written. */
  private readonly assigning = new Set<string>();
  /** Task id → when this term handed out its current attempt (for the attempt's run time). */
  private readonly assignedAtById = new Map<string, number>();
  private pumpScheduled = false;
  private refillTimer: NodeJS.Timeout | null = null;

  constructor(options: PlacementOptions) {
    this.options = options;
    this.ready = new ReadyQueue(options.agingBound);
    this.limits = new DispatchLimits(options.settings);
  }

  /** Whether the task is in the ready queue at this version, or being assigned. */
  isPlaced(taskId: string, version: number): boolean {
    return this.assigning.has(taskId) || this.queued.get(taskId) === version;
  }

  /** Whether the task's assignment is being written. */
  isAssigning(taskId: string): boolean {
    return this.assigning.has(taskId);
  }

  /** Queues a task that is due now (its state QUEUED). */
  enqueue(taskId: string, state: TaskState): void {
    const { type, priority, requires, concurrency } = state.spec!;
    this.queued.set(taskId, state.version);
    this.ready.push({
      taskId,
      type,
      priority,
      requires,
      concurrencyKey: concurrency?.key ?? null,
      concurrencyLimit: concurrency?.limit,
    });
    this.schedule();
  }

  /** When this term handed out the task's current attempt; undefined when it did not. */
  assignedAt(taskId: string): number | undefined {
    return this.assignedAtById.get(taskId);
  }

  /** The task's attempt ended: its concurrency slot is free, and so is its worker's slot. */
  release(taskId: string): void {
    this.assignedAtById.delete(taskId);
    this.limits.release(taskId);
    if (this.assigning.has(taskId)) return;
    if (this.options.sessions.unhold(taskId)) this.schedule();
  }

  /** Runs a matching pass in the next event-loop turn (once, however often it is asked). */
  schedule(): void {
    if (this.pumpScheduled || !this.options.accepting()) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      if (this.options.accepting()) this.pump();
    });
  }

  close(): void {
    if (this.refillTimer) clearTimeout(this.refillTimer);
    this.refillTimer = null;
  }

  /**
   * Hands ready tasks to workers with free slots, one per worker per round, until either runs out
   * or a worker has had its wave (half its slots) in this pass; a worker with free slots left then
   * gets more in the next pass, one event-loop turn later. The waves keep a worker's slots from
   * moving in lockstep: with the log's second round in flight (AppendQueue), one wave is written
   * while the other is handled, and the processes on the path work side by side instead of in turn
   * (bench/README.md: the 1 x 50 drain with the read side stopped went from ~11,700 to ~14,500/s).
   */
  private pump(): void {
    const { live, sessions } = this.options;
    const isCurrent = (task: ReadyTask) => {
      const state = live.states.get(task.taskId);
      return (
        state !== undefined &&
        this.queued.get(task.taskId) === state.version &&
        state.state === "QUEUED" &&
        !this.assigning.has(task.taskId)
      );
    };
    this.limits.begin(Date.now());
    const { waveFull, heldBack } = matchPass(
      [...sessions.values()],
      () => this.ready.size > 0,
      (session) => this.ready.take(session, isCurrent, this.limits),
      (session, task) => {
        this.limits.acquire(task);
        this.queued.delete(task.taskId);
        this.assigning.add(task.taskId);
        sessions.hold(task.taskId, session, 0);
        void this.assign(session, task);
      },
    );
    if (waveFull && this.ready.size > 0) this.schedule();
    // Work held back by a rate limit: look again when a bucket has a token.
    const refill = heldBack ? this.limits.nextRefillInMs() : null;
    if (refill !== null && this.refillTimer === null) {
      this.refillTimer = setTimeout(() => {
        this.refillTimer = null;
        this.schedule();
      }, refill);
    }
  }

  private async assign(session: WorkerSession, task: ReadyTask): Promise<void> {
    const { live, sessions, metrics } = this.options;
    const readyAt = live.states.get(task.taskId)?.availableAt ?? Date.now();
    try {
      const { state, events } = await live.execute(task.taskId, () => ({
        type: "AssignTask",
        data: { workerId: session.id, now: Date.now() },
      }));
      if (events[0]?.type !== "TaskAssigned") throw new IllegalStateError("not assigned");
      const { assignedAt } = events[0].data;
      this.assignedAtById.set(task.taskId, assignedAt);
      metrics.recordEvents(events, { type: task.type });
      metrics.scheduleToStart(task.type, Math.max(0, assignedAt - readyAt) / 1000);
      session.attempts.set(task.taskId, state.attempt);
      session.send({ msg: { $case: "assignment", value: assignmentMessage(task.taskId, state) } });
      this.options.dispatched?.();
    } catch {
      this.limits.release(task.taskId);
      if (session.attempts.get(task.taskId) === 0) session.attempts.delete(task.taskId);
      if (sessions.holderOf(task.taskId) === session) sessions.unhold(task.taskId);
    } finally {
      this.assigning.delete(task.taskId);
      const state = live.states.get(task.taskId);
      if (state) this.options.settled(task.taskId, state);
      this.schedule();
    }
  }
}
