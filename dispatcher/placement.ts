import { ROOT_CONTEXT, trace, type Context } from "@opentelemetry/api";
import { IllegalStateError, type TaskState } from "../domain/task/index.ts";
import { failed, traceHeadersOf } from "../observability/tracing.ts";
import { startDispatchSpan, underSpan } from "./attempt-tracing.ts";
import type { DispatcherMetrics } from "../observability/metrics.ts";
import type { QueueSettingsSource } from "../queues/queue-settings.ts";
import { assignmentMessage } from "./assignment.ts";
import type { LimitsStore } from "../queues/limits-store.ts";
import { DispatchLimits } from "./limits.ts";
import type { LiveTasks } from "./live-tasks.ts";
import { matchPass } from "./matching.ts";
import { ReadyQueue, type ReadyTask } from "./ready-queue.ts";
import type { WorkerSession } from "./worker-session.ts";
import type { WorkerSessions } from "./worker-sessions.ts";

export interface PlacementOptions {
  /** The partition placed (its tasks' concurrency permits are recorded as its own). */
  partition: number;
  live: LiveTasks;
  sessions: WorkerSessions;
  settings: QueueSettingsSource;
  /** The limits shared with the other partitions (default: in memory, for this partition alone). */
  limits?: LimitsStore;
  metrics: DispatcherMetrics;
  /** K_p per priority: dispatches of more urgent work after which a waiting level is served. */
  agingBound: number[];
  /** Whether the term still accepts work (a closed term places nothing). */
  accepting: () => boolean;
  /** After an assignment settled (written or not): put the task where its state now says. */
  settled: (taskId: string, state: TaskState) => void;
  /** After every matching pass, with the sessions that had free slots and got nothing they may run. */
  passed: (starved: ReadonlySet<WorkerSession>) => void;
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
  /** The assignments being written: a handover waits for each to be written and sent, or dropped. */
  private readonly inFlight = new Set<Promise<void>>();
  /** Task id → when this term handed out its current attempt (for the attempt's run time). */
  private readonly assignedAtById = new Map<string, number>();
  /** Task id → its current attempt's dispatch span, while tracing (attempt-tracing.ts). */
  private readonly traces = new Map<string, Context>();
  private pumpScheduled = false;
  private refillTimer: NodeJS.Timeout | null = null;

  constructor(options: PlacementOptions) {
    this.options = options;
    this.ready = new ReadyQueue(options.agingBound);
    this.limits = new DispatchLimits(options.settings, options.limits, options.partition, () =>
      this.schedule(),
    );
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
    const { namespace, type, priority, requires, concurrency } = state.spec!;
    this.queued.set(taskId, state.version);
    this.ready.push({
      taskId,
      namespace,
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

  /** The trace context of the task's current attempt (its dispatch span), when this term traced it. */
  attemptTrace(taskId: string): Context | undefined {
    return this.traces.get(taskId);
  }

  /**
   * The task's attempt ended: its concurrency slot is free, and so is its worker's slot. Returns the
   * session and attempt when the attempt was still out on a worker (it ended without its result).
   */
  release(taskId: string): { session: WorkerSession; attempt: number } | null {
    this.assignedAtById.delete(taskId);
    this.traces.delete(taskId);
    this.limits.release(taskId);
    if (this.assigning.has(taskId)) return null;
    const ended = this.options.sessions.unhold(taskId);
    this.schedule();
    return ended;
  }

  /** Whether any ready task could go to the session now, and how many (at most `cap`), the most urgent first. */
  wanted(session: WorkerSession, cap: number): { count: number; priority: number } {
    this.limits.begin(Date.now());
    return this.ready.peek(session, (task) => this.isCurrent(task), this.limits, cap);
  }

  private isCurrent(task: ReadyTask): boolean {
    const state = this.options.live.states.get(task.taskId);
    return (
      state !== undefined &&
      this.queued.get(task.taskId) === state.version &&
      state.state === "QUEUED" &&
      !this.assigning.has(task.taskId)
    );
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

  /**
   * Resolves once every assignment begun has been written and sent to its worker, or dropped. With
   * `accepting()` false no new one begins, and one still waiting for its concurrency permit is
   * dropped before its write: an assignment written after the handover's snapshot and never sent
   * would wait out the next owner's reconnect grace and cost the task an attempt.
   */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
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
    const { sessions } = this.options;
    const isCurrent = (task: ReadyTask) => this.isCurrent(task);
    this.limits.begin(Date.now());
    const { waveFull, heldBack, starved } = matchPass(
      [...sessions.values()],
      () => this.ready.size > 0,
      (session) => this.ready.take(session, isCurrent, this.limits),
      (session, task) => {
        this.limits.acquire(task);
        this.queued.delete(task.taskId);
        this.assigning.add(task.taskId);
        sessions.hold(task.taskId, session, 0);
        const assigned = this.assign(session, task);
        this.inFlight.add(assigned);
        void assigned.finally(() => this.inFlight.delete(assigned));
      },
    );
    this.options.passed(starved);
    if (waveFull && this.ready.size > 0) this.schedule();
    // Work held back by a rate limit: look again when a bucket has a token.
    const refill = heldBack || this.ready.size > 0 ? this.limits.nextRefillInMs() : null;
    if (refill !== null && this.refillTimer === null) {
      this.refillTimer = setTimeout(() => {
        this.refillTimer = null;
        this.schedule();
      }, refill);
    }
  }

  private async assign(session: WorkerSession, task: ReadyTask): Promise<void> {
    const { live, sessions, metrics } = this.options;
    const current = live.states.get(task.taskId);
    const readyAt = current?.availableAt ?? Date.now();
    const span = startDispatchSpan(task.taskId, current, session.id);
    try {
      // The concurrency key's permit, shared by every partition, before the assignment is written.
      if (!(await this.limits.permit(task))) throw new IllegalStateError("concurrency key full");
      if (!this.options.accepting()) throw new IllegalStateError("handing over");
      const { state, events } = await underSpan(span, () =>
        live.execute(task.taskId, () => ({
          type: "AssignTask",
          data: { workerId: session.id, now: Date.now() },
        })),
      );
      if (events[0]?.type !== "TaskAssigned") throw new IllegalStateError("not assigned");
      const { assignedAt } = events[0].data;
      this.assignedAtById.set(task.taskId, assignedAt);
      metrics.recordEvents(events, { type: task.type });
      metrics.scheduleToStart(task.type, Math.max(0, assignedAt - readyAt) / 1000);
      session.attempts.set(task.taskId, state.attempt);
      let handlerTrace: ReturnType<typeof traceHeadersOf> | undefined;
      if (span) {
        span.setAttribute("taskstream.task.attempt", state.attempt);
        this.traces.set(task.taskId, trace.setSpan(ROOT_CONTEXT, span));
        handlerTrace = traceHeadersOf(span);
      }
      const assignment = assignmentMessage(task.taskId, state, handlerTrace);
      session.send({ msg: { $case: "assignment", value: assignment } });
      this.options.dispatched?.();
    } catch (error) {
      if (span) failed(span, error);
      this.limits.release(task.taskId);
      if (session.attempts.get(task.taskId) === 0) session.attempts.delete(task.taskId);
      if (sessions.holderOf(task.taskId) === session) sessions.unhold(task.taskId);
    } finally {
      span?.end();
      this.assigning.delete(task.taskId);
      const state = live.states.get(task.taskId);
      if (state) this.options.settled(task.taskId, state);
      this.schedule();
    }
  }
}
