import { EventEmitter } from "node:events";
import {
  IllegalStateError,
  hasAttemptOut,
  NotFoundError,
  type TaskCommand,
  type TaskError,
  type TaskEvent,
  type TaskState,
} from "../domain/task/index.ts";
import type { EventLog } from "../event-store/event-log.ts";
import type { Register, WorkerMessage } from "../proto/gen/taskstream/v1/workers.ts";
import { AttemptTimers } from "./attempt-timers.ts";
import type { DispatcherContext } from "./context.ts";
import { IntakeFollower } from "./intake-follower.ts";
import { LiveTasks } from "./live-tasks.ts";
import { Placement } from "./placement.ts";
import { StartCoalescer } from "./start-coalescer.ts";
import { decodeSnapshot } from "./snapshot-codec.ts";
import { Snapshotter } from "./snapshotter.ts";
import { computeStats } from "./stats.ts";
import { failureAtDeadline, reportAck, reportCommand } from "./worker-reports.ts";
import type { SessionStream, WorkerSession } from "./worker-session.ts";
import { WorkerSessions } from "./worker-sessions.ts";

/**
 * How long after an attempt's start-to-close deadline its worker is sent a cancel: the backstop for
 * a worker that missed its own deadline (a skewed clock, a stuck handler).
 */
const DEADLINE_CANCEL_DELAY_MS = 1000;

/** What a term announces, for logs and for tests that await instead of polling. */
export interface TermEvents {
  /**
   * The log is folded and the term accepts work: `restored` tasks came from snapshots, `read`
   * events from the log after them.
   */
  leading: [
    info: {
      epoch: number;
      tasks: number;
      ready: number;
      restored: number;
      read: number;
      /** From the lease being granted to accepting work, ms; of which folding snapshots and log. */
      rebuildMs: number;
      foldMs: number;
    },
  ];
  /** The term ended (demoted, or its start failed). */
  closed: [reason: string];
  /** A worker was lost and its attempts are being retried. */
  workerLost: [info: { workerId: string; reason: string; attempts: number }];
  /**
   * A sweep ran (once a second): `lost` workers were lost in it; `holdsChecked` says it also failed
   * the attempts no live worker holds, which it does only once the term's reconnect grace is over.
   */
  swept: [info: { lost: number; holdsChecked: boolean }];
}

/**
 * Everything a dispatcher knows while it leads with one fencing epoch, and the coordination of its
 * parts: the live tasks (the fold of the log), the intake follower (what others write), the worker
 * sessions, the placement of ready tasks on workers, the attempt timers and the start coalescer.
 * A term never outlives its leadership: on demotion it is closed whole and the next election
 * builds a fresh one from the log.
 */
export class Term extends EventEmitter<TermEvents> {
  readonly epoch: number;
  readonly sessions = new WorkerSessions();
  readonly placement: Placement;
  private readonly ctx: DispatcherContext;
  private readonly live: LiveTasks;
  private readonly timers: AttemptTimers;
  private readonly starts: StartCoalescer;
  private follower: IntakeFollower | null = null;
  private snapshots: Snapshotter | null = null;
  private readonly cancelSent = new Set<string>();
  private readonly failing = new Set<string>();
  private readonly abort = new AbortController();
  private sweeper: NodeJS.Timeout | null = null;
  private startedAt = 0;
  /** When this term's lease was granted, and when it sent its first assignment (0: not yet). */
  private readonly electedAt: number;
  private firstDispatchAt = 0;
  private rebuilding = true;
  accepting = false;
  /** What the term announced when it began to lead (null before). */
  leadingSince: TermEvents["leading"][0] | null = null;

  constructor(epoch: number, ctx: DispatcherContext, electedAt = Date.now()) {
    super();
    this.epoch = epoch;
    this.electedAt = electedAt;
    this.ctx = ctx;
    this.live = new LiveTasks(ctx.store, epoch, (taskId, state) => {
      if (!this.rebuilding) this.reconcile(taskId, state);
    });
    this.placement = new Placement({
      live: this.live,
      sessions: this.sessions,
      settings: ctx.settings,
      metrics: ctx.metrics,
      agingBound: ctx.config.agingBound,
      accepting: () => this.accepting,
      settled: (taskId, state) => this.reconcile(taskId, state),
      dispatched: () => this.dispatched(),
    });
    this.timers = new AttemptTimers((taskId) => this.live.states.get(taskId), {
      due: (taskId, state) => this.reconcile(taskId, state),
      expired: (taskId) =>
        void this.run(taskId, () => ({ type: "ExpireSchedule", data: { now: Date.now() } })),
      timedOut: (taskId, state, type, message) => this.timeOut(taskId, state, type, message),
    });
    this.starts = new StartCoalescer((taskId, start) => void this.run(taskId, () => start));
  }

  get store(): EventLog {
    return this.ctx.store;
  }

  /**
   * The follower of the partitions' intakes, from when the term leads: its `handled` events say
   * what it folded of other writers' events (submissions, cancel requests).
   */
  get intake(): IntakeFollower | null {
    return this.follower;
  }

  /** The ready queue (stats, tests). */
  get ready() {
    return this.placement.ready;
  }

  /**
   * Fences every partition, rebuilds from the log, then follows the partitions' intakes (the events
   * other writers append; its own it folds as it writes them). Throws if the epoch is stale, and
   * does not start at all if the term was closed (its lease lost) while it rebuilt.
   */
  async start(): Promise<void> {
    if ((await this.store.fence(this.epoch)) !== this.epoch)
      throw new IllegalStateError(`epoch ${this.epoch} is not the newest`);
    await this.ctx.settings.refresh(true);
    // The intake heads are taken before the log is read: an event appended after a head is in the
    // intake past it, one appended before is in the log read below (docs/dispatcher-intake.md).
    const partitions = Array.from({ length: this.store.partitions }, (_, p) => p);
    const heads = await Promise.all(partitions.map((p) => this.store.intakeHead(p)));
    // Each partition from its last snapshot (docs/snapshots.md), then the log after it: a takeover
    // costs the live tasks and the recent log, not the whole history.
    let restored = 0;
    let read = 0;
    const foldFrom = Date.now();
    for (const partition of partitions) {
      const { after, tasks } = await this.restoreSnapshot(partition);
      restored += tasks;
      for await (const page of this.store.readAll(partition, { after })) {
        if (this.abort.signal.aborted) break;
        for (const event of page) this.live.apply(event);
        read += page.length;
      }
    }
    // Demoted while rebuilding: a term that lost its lease must never start.
    if (this.abort.signal.aborted)
      throw new IllegalStateError(`term ${this.epoch} was closed while it rebuilt`);
    const foldMs = Date.now() - foldFrom;
    this.live.purgeTerminal(Number.POSITIVE_INFINITY);
    this.rebuilding = false;
    this.startedAt = Date.now();
    const rebuildMs = this.startedAt - this.electedAt;
    this.ctx.metrics.takeover("rebuilt", rebuildMs / 1000);
    this.accepting = true;
    for (const [taskId, state] of this.live.states) this.reconcile(taskId, state);
    this.follower = new IntakeFollower(
      this.store,
      this.epoch,
      this.live,
      new Map(partitions.map((p) => [p, heads[p]!])),
      this.ctx.log,
    );
    await this.follower.start();
    this.snapshots = new Snapshotter(this.store, this.epoch, this.live, this.follower, this.ctx.log);
    this.snapshots.start(
      this.ctx.config.snapshotIntervalMs,
      Math.min(5000, this.ctx.config.snapshotIntervalMs),
    );
    this.timers.start();
    this.sweeper = setInterval(() => this.sweep(), 1000);
    const info = {
      epoch: this.epoch,
      tasks: this.live.states.size,
      ready: this.ready.size,
      restored,
      read,
      rebuildMs,
      foldMs,
    };
    this.ctx.log.info(info, "dispatcher leading");
    this.leadingSince = info;
    this.emit("leading", info);
  }

  /** Folds the partition's last snapshot, if any; returns the position to read the log from. */
  private async restoreSnapshot(partition: number): Promise<{ after: string; tasks: number }> {
    const stored = await this.store.loadSnapshot(partition);
    const snapshot = stored && decodeSnapshot(stored);
    if (!snapshot) return { after: "0", tasks: 0 };
    for (const [taskId, state] of snapshot.tasks) this.live.restore(taskId, state);
    return { after: snapshot.position, tasks: snapshot.tasks.length };
  }

  /** The first assignment of the term: the end of its takeover (lease granted → first dispatch). */
  private dispatched(): void {
    if (this.firstDispatchAt !== 0) return;
    this.firstDispatchAt = Date.now();
    const ms = this.firstDispatchAt - this.electedAt;
    this.ctx.metrics.takeover("first_dispatch", ms / 1000);
    this.ctx.log.info({ epoch: this.epoch, ms }, "dispatcher first dispatch");
  }

  /** Takes a snapshot of every partition now (tests, and the bench's takeover measurement). */
  async snapshotNow(): Promise<void> {
    await this.snapshots?.takeAll();
  }

  close(reason: string): void {
    this.accepting = false;
    this.abort.abort();
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    void this.follower?.stop();
    void this.snapshots?.stop();
    this.placement.close();
    this.starts.close();
    this.timers.close();
    this.sessions.close(reason);
    this.emit("closed", reason);
  }

  // ——— workers ———

  /** A worker's Register: a new session, or a reconnect that keeps its attempts. */
  register(message: Register, stream: SessionStream): WorkerSession {
    const { session, forgotten } = this.sessions.register(
      message,
      stream,
      (taskId) => this.live.states.get(taskId),
      Date.now(),
    );
    // An assignment sent but never received: the worker does not know it, so try it again.
    for (const [taskId, attempt] of forgotten)
      this.failAttempt(taskId, attempt, "WORKER_LOST", "assignment lost in a reconnect");
    void this.ctx.registry
      .register(session.info, this.ctx.candidate)
      .catch((error: unknown) => this.ctx.log.warn({ err: error }, "worker registration failed"));
    this.placement.schedule();
    return session;
  }

  disconnected(session: WorkerSession): void {
    this.sessions.disconnected(session, Date.now());
  }

  /** Routes a worker's report to the decider; completions and failures are acknowledged. */
  async report(session: WorkerSession, message: WorkerMessage["msg"]): Promise<void> {
    // A stream whose identity was resumed by a newer connection speaks for no one any more.
    if (!this.sessions.isCurrent(session)) return;
    session.lastSeenAt = Date.now();
    if (message?.$case === "heartbeat") this.ctx.registry.heartbeat(session.id);
    const report = reportCommand(session.id, message, this.ctx.config);
    if (!report) return;
    if (report.command.type === "StartAttempt") return this.starts.hold(report.taskId, report.command);
    const start = this.starts.take(report.taskId);
    const { command, attempt } = report;
    // A result means the worker's slot is free now: it may take the next task while this result is
    // written, instead of one log write later. The attempt stays the worker's until then.
    const finishing = report.acknowledge && session.attempts.get(report.taskId) === attempt;
    if (finishing) {
      session.attempts.delete(report.taskId);
      session.finishing.set(report.taskId, attempt);
      this.placement.schedule();
    }
    const events = await this.run(report.taskId, (state) => {
      // Another worker's attempt: the decider refuses it and the log records the refusal.
      if (state.workerId !== session.id) return command;
      // A failure reported at or after the deadline is the deadline's, whoever reports it first.
      const decided = failureAtDeadline(command, state);
      if (start) return [start, decided];
      // A result with no start recorded or pending (the SDK leaves out a start that its result
      // follows at once): the start is implied, and recorded with the result.
      if (report.acknowledge && state.state === "ASSIGNED" && state.attempt === attempt) {
        const implied: TaskCommand = {
          type: "StartAttempt",
          data: { attempt, workerId: session.id, now: command.data.now },
        };
        return [implied, decided];
      }
      return decided;
    });
    if (finishing && session.finishing.get(report.taskId) === attempt)
      session.finishing.delete(report.taskId);
    if (!report.acknowledge) return;
    session.send({ msg: { $case: "ack", value: reportAck(report.taskId, report.attempt, events) } });
    if (session.attempts.get(report.taskId) === report.attempt) session.attempts.delete(report.taskId);
    this.placement.schedule();
  }

  // ——— writing ———

  /** Executes a command; null when the task does not exist. */
  private async run(
    taskId: string,
    command: (state: TaskState) => TaskCommand | TaskCommand[],
  ): Promise<TaskEvent[] | null> {
    try {
      const assignedAt = this.placement.assignedAt(taskId);
      const { state, events } = await this.live.execute(taskId, command);
      this.ctx.metrics.recordEvents(events, { type: state.spec?.type ?? "unknown", assignedAt });
      return events;
    } catch (error) {
      if (error instanceof NotFoundError) return null;
      if (error instanceof IllegalStateError) return [];
      if (this.accepting) this.ctx.log.warn({ err: error, taskId }, "dispatcher write failed");
      return [];
    }
  }

  /** Ends an attempt the worker cannot report on (lost worker, timeout); once per attempt. */
  private failAttempt(taskId: string, attempt: number, type: string, message: string): void {
    const key = `${taskId}#${attempt}`;
    if (this.failing.has(key)) return;
    this.failing.add(key);
    const error: TaskError = { message, type, nonRetryable: false };
    void this.run(taskId, () => ({
      type: "FailAttempt",
      data: { attempt, error, cancelled: false, jitter: Math.random(), now: Date.now() },
    })).finally(() => this.failing.delete(key));
  }

  /**
   * Ends an attempt that ran out of time: the attempt is failed now, and its worker is told to stop
   * — at once for a silent attempt, DEADLINE_CANCEL_DELAY_MS after a start-to-close deadline, which
   * the worker knows and acts on itself (a cancel sent at that very moment would race its own
   * deadline error, and a handler that saw the cancel first would take it for a cancellation).
   */
  private timeOut(taskId: string, state: TaskState, type: string, message: string): void {
    const holder = this.sessions.holderOf(taskId);
    const cancel = () => {
      if (!holder || !this.accepting || !this.sessions.isCurrent(holder)) return;
      holder.send({ msg: { $case: "cancel", value: { taskId, attempt: state.attempt, reason: message } } });
    };
    if (type === "START_TO_CLOSE_TIMEOUT") setTimeout(cancel, DEADLINE_CANCEL_DELAY_MS).unref();
    else cancel();
    this.failAttempt(taskId, state.attempt, type, message);
  }

  // ——— reacting to state changes ———

  /** Puts a task where its state says it belongs: ready queue, a timer, a worker, or nowhere. */
  private reconcile(taskId: string, state: TaskState): void {
    if (!hasAttemptOut(state)) {
      this.cancelSent.delete(taskId);
      this.placement.release(taskId);
    }
    if (state.state === "QUEUED") {
      if (this.placement.isPlaced(taskId, state.version) || state.spec === null) return;
      if (this.timers.armQueued(taskId, state, Date.now())) this.placement.enqueue(taskId, state);
    } else if (hasAttemptOut(state)) {
      const spec = state.spec!;
      if (spec.concurrency) this.placement.limits.hold(taskId, spec.concurrency.key);
      this.timers.armAttempt(taskId, state, Date.now());
      if (state.cancelRequested && !this.cancelSent.has(taskId)) {
        const holder = this.sessions.holderOf(taskId);
        if (holder) {
          this.cancelSent.add(taskId);
          holder.send({
            msg: { $case: "cancel", value: { taskId, attempt: state.attempt, reason: "cancel requested" } },
          });
        }
      }
    }
  }

  /** Once a second: silent workers are lost, and attempts no live worker holds are retried. */
  private sweep(): void {
    const now = Date.now();
    const { heartbeatTimeoutMs, reconnectGraceMs } = this.ctx.config;
    const lost = this.sessions.sweep(now, { heartbeatTimeoutMs, reconnectGraceMs });
    for (const { session, reason } of lost) this.lose(session, reason);
    const holdsChecked = now - this.startedAt > reconnectGraceMs;
    if (holdsChecked) {
      for (const taskId of this.live.active) {
        const state = this.live.states.get(taskId);
        if (!state || this.placement.isAssigning(taskId)) continue;
        if (!this.sessions.holds(taskId, state.attempt))
          this.failAttempt(taskId, state.attempt, "WORKER_LOST", "no live worker holds the attempt");
      }
    }
    this.live.purgeTerminal(now - 30_000);
    this.timers.compact(this.live.states.size);
    this.follower?.trim();
    this.ctx.metrics.queueDepth(this.ready.depthByPriority());
    const stats = computeStats(
      this.epoch,
      this.queuedStates(),
      this.sessions.values(),
      this.ready.depthByPriority(),
      now,
    );
    this.ctx.metrics.dispatchStats(stats, now);
    void this.ctx.publishStats(stats).catch(() => undefined);
    void this.ctx.settings.refresh().then(
      () => this.placement.schedule(),
      () => undefined,
    );
    this.emit("swept", { lost: lost.length, holdsChecked });
  }

  private *queuedStates(): Iterable<TaskState> {
    for (const taskId of this.live.queued) {
      const state = this.live.states.get(taskId);
      if (state) yield state;
    }
  }

  private lose(session: WorkerSession, reason: string): void {
    this.ctx.metrics.workerLost(reason);
    void this.ctx.registry.unregister(session.id);
    const attempts = session.attempts.size;
    this.ctx.log.warn({ workerId: session.id, reason, attempts }, "worker lost");
    this.emit("workerLost", { workerId: session.id, reason, attempts });
    for (const [taskId, attempt] of session.attempts) {
      if (attempt > 0)
        this.failAttempt(
          taskId,
          attempt,
          "WORKER_LOST",
          `worker ${session.info.name || session.id} lost: ${reason}`,
        );
    }
  }
}
