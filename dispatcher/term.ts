import { v7 as uuidv7 } from "uuid";
import { status } from "@grpc/grpc-js";
import {
  IllegalStateError,
  hasAttemptOut,
  NotFoundError,
  type TaskCommand,
  type TaskError,
  type TaskEvent,
  type TaskState,
} from "../domain/task/index.ts";
import type { EventStore } from "../event-store/event-store.ts";
import { tailPartitions } from "../event-store/tail.ts";
import type { Register, WorkerMessage } from "../proto/gen/taskstream/v1/workers.ts";
import { ReadyQueue, type ReadyTask } from "./ready-queue.ts";
import { TaskTable } from "./task-table.ts";
import { TimerQueue, type Timer } from "./timer-queue.ts";
import { WorkerSession, type SessionStream } from "./worker-session.ts";
import type { DispatcherContext } from "./context.ts";
import { assignmentMessage } from "./assignment.ts";
import { matchPass } from "./matching.ts";
import { reportAck, reportCommand } from "./worker-reports.ts";
import { DispatchLimits } from "./limits.ts";
import { computeStats } from "./stats.ts";
import { publishStats } from "../queues/dispatch-stats.ts";

/** How long a start report waits for its attempt's result, to be written with it. */
const START_COALESCE_MS = 100;

/**
 * Everything a dispatcher knows while it leads with one fencing epoch: the fold of the log, the
 * ready queue, timers and worker sessions. A term never outlives its leadership: on demotion it is
 * closed whole and the next election builds a fresh one from the log.
 */
export class Term {
  readonly epoch: number;
  readonly sessions = new Map<string, WorkerSession>();
  readonly ready: ReadyQueue;
  private readonly limits: DispatchLimits;
  private refillTimer: NodeJS.Timeout | null = null;
  private readonly ctx: DispatcherContext;
  private readonly table: TaskTable;
  private readonly timers = new TimerQueue();
  /** Task id → the version at which it entered the ready queue. */
  private readonly queued = new Map<string, number>();
  /** Task id → id of the worker session holding its current attempt. */
  private readonly holders = new Map<string, string>();
  /** Task id → when this term handed out its current attempt (for the attempt's run time). */
  private readonly assignedAt = new Map<string, number>();
  private readonly inFlight = new Set<string>();
  private readonly cancelSent = new Set<string>();
  private readonly failing = new Set<string>();
  /** Start reports not written yet (see report()). */
  private readonly pendingStarts = new Map<string, { command: TaskCommand; timer: NodeJS.Timeout }>();
  /** Per partition, the last intake entry folded, and the one the intake was last trimmed to. */
  private readonly intakeRead = new Map<number, string>();
  private readonly intakeTrimmed = new Map<number, string>();
  private readonly abort = new AbortController();
  private readonly intervals: NodeJS.Timeout[] = [];
  private startedAt = 0;
  private rebuilding = true;
  private pumpScheduled = false;
  accepting = false;

  constructor(epoch: number, ctx: DispatcherContext) {
    this.epoch = epoch;
    this.ctx = ctx;
    this.ready = new ReadyQueue(ctx.config.agingBound);
    this.limits = new DispatchLimits(ctx.settings);
    this.table = new TaskTable(ctx.store, epoch, (taskId, state, events) =>
      this.onChange(taskId, state, events),
    );
  }

  get store(): EventStore {
    return this.ctx.store;
  }

  /**
   * Fences every partition, rebuilds from the log, then follows the partitions' intakes (the events
   * other writers append; its own it folds as it writes them). Throws if the epoch is stale.
   */
  async start(): Promise<void> {
    if (!(await this.store.fence(this.epoch)))
      throw new IllegalStateError(`epoch ${this.epoch} is not the newest`);
    await this.ctx.settings.refresh(true);
    // The intake heads are taken before the log is read: an event appended after a head is in the
    // intake past it, one appended before is in the log read below (docs/dispatcher-intake.md).
    const partitions = Array.from({ length: this.store.partitions }, (_, p) => p);
    const heads = await Promise.all(partitions.map((p) => this.store.intakeHead(p)));
    const intake = new Map(partitions.map((p) => [p, heads[p]!]));
    for (let p = 0; p < this.store.partitions; p++) {
      let after = "0";
      for (;;) {
        const batch = await this.store.readPartition(p, after, 5000);
        for (const event of batch) this.table.apply(event);
        if (batch.length > 0) after = batch.at(-1)!.streamId;
        if (batch.length < 5000) break;
      }
    }
    this.table.purgeTerminal(Number.POSITIVE_INFINITY);
    this.rebuilding = false;
    this.startedAt = Date.now();
    for (const [taskId, state] of this.table.states) this.reconcile(taskId, state);
    this.accepting = true;
    void this.follow(intake);
    this.intervals.push(
      setInterval(() => this.fireTimers(), 20),
      setInterval(() => this.sweep(), 1000),
    );
    this.ctx.log.info(
      { epoch: this.epoch, tasks: this.table.states.size, ready: this.ready.size },
      "dispatcher leading",
    );
  }

  close(reason: string): void {
    this.accepting = false;
    this.abort.abort();
    for (const interval of this.intervals) clearInterval(interval);
    if (this.refillTimer) clearTimeout(this.refillTimer);
    for (const { timer } of this.pendingStarts.values()) clearTimeout(timer);
    for (const session of this.sessions.values())
      session.stream?.close(status.UNAVAILABLE, `not leader: ${reason}`);
    this.sessions.clear();
    this.timers.clear();
  }

  /** Folds the intakes' events as they come, from `positions`; what it has read is trimmed by `sweep`. */
  private async follow(positions: Map<number, string>): Promise<void> {
    const connection = this.ctx.redis.duplicate({ enableAutoPipelining: false }); // one blocking read at a time
    try {
      for await (const batch of tailPartitions(this.store, connection, {
        streams: "intake",
        from: positions,
        signal: this.abort.signal,
        // A read at most every 2 ms: many entries per round trip under load, little added delay.
        pauseMs: 2,
        // Events the rebuild already folded (the intake and the log overlap at the start).
        skip: (taskId, version) => (this.table.states.get(taskId)?.version ?? 0) >= version,
        read: (partition, entryId) => this.intakeRead.set(partition, entryId),
      })) {
        for (const event of batch) this.table.apply(event);
      }
    } catch (error) {
      if (!this.abort.signal.aborted) this.ctx.onFatal(error);
    } finally {
      connection.disconnect();
    }
  }

  /** Drops the intake entries this term has folded, fenced by its epoch. */
  private trimIntake(): void {
    for (const [partition, entryId] of this.intakeRead) {
      if (this.intakeTrimmed.get(partition) === entryId) continue;
      this.intakeTrimmed.set(partition, entryId);
      void this.store.trimIntake(partition, this.epoch, entryId).catch((error: unknown) => {
        if (this.accepting) this.ctx.log.warn({ err: error, partition }, "intake trim failed");
      });
    }
  }

  // ——— workers ———

  /** A worker's Register: a new session, or a reconnect that keeps its attempts. */
  register(message: Register, stream: SessionStream): WorkerSession {
    const now = Date.now();
    const id = message.workerId || uuidv7();
    const info = {
      id,
      name: message.name,
      types: message.types,
      labels: message.labels,
      slots: Math.max(1, message.slots),
      sdk: message.sdk,
    };
    const previous = this.sessions.get(id);
    const session = new WorkerSession(info, stream, now);
    if (previous) {
      previous.stream?.close(status.CANCELLED, "replaced by a newer connection");
      for (const [taskId, attempt] of previous.attempts) session.attempts.set(taskId, attempt);
    }
    this.sessions.set(id, session);
    const reported = new Map(message.active.map((ref) => [ref.taskId, ref.attempt]));
    for (const [taskId, attempt] of reported) {
      const state = this.table.states.get(taskId);
      // Only attempts assigned to this worker: its identity was proven by its resume token.
      if (state && hasAttemptOut(state) && state.attempt === attempt && state.workerId === id) {
        session.attempts.set(taskId, attempt);
        this.holders.set(taskId, id);
      }
    }
    for (const [taskId, attempt] of session.attempts) {
      // An assignment sent but never received: the worker does not know it, so try it again.
      if (attempt > 0 && reported.get(taskId) !== attempt)
        this.failAttempt(taskId, attempt, "WORKER_LOST", "assignment lost in a reconnect");
    }
    void this.ctx.registry
      .register(info, this.ctx.candidate)
      .catch((error: unknown) => this.ctx.log.warn({ err: error }, "worker registration failed"));
    this.schedulePump();
    return session;
  }

  disconnected(session: WorkerSession): void {
    if (this.sessions.get(session.id) !== session) return;
    session.stream = null;
    session.disconnectedAt = Date.now();
  }

  /** Routes a worker's report to the decider; completions and failures are acknowledged. */
  async report(session: WorkerSession, message: WorkerMessage["msg"]): Promise<void> {
    // A stream whose identity was resumed by a newer connection speaks for no one any more.
    if (this.sessions.get(session.id) !== session) return;
    session.lastSeenAt = Date.now();
    if (message?.$case === "heartbeat") this.ctx.registry.heartbeat(session.id);
    const report = reportCommand(session.id, message, this.ctx.config);
    if (!report) return;
    if (report.command.type === "StartAttempt") {
      // Recorded lazily, as Temporal does: a start whose result follows quickly is written with it,
      // in one append; a longer attempt's start is written after START_COALESCE_MS.
      this.takePendingStart(report.taskId);
      const timer = setTimeout(() => void this.flushStart(report.taskId), START_COALESCE_MS);
      this.pendingStarts.set(report.taskId, { command: report.command, timer });
      return;
    }
    const start = this.takePendingStart(report.taskId);
    const { command, attempt } = report;
    // A result means the worker's slot is free now: it may take the next task while this result is
    // written, instead of one log write later. The attempt stays the worker's until then.
    const finishing = report.acknowledge && session.attempts.get(report.taskId) === attempt;
    if (finishing) {
      session.attempts.delete(report.taskId);
      session.finishing.set(report.taskId, attempt);
      this.schedulePump();
    }
    const events = await this.run(report.taskId, (state) => {
      // Another worker's attempt: the decider refuses it and the log records the refusal.
      if (state.workerId !== session.id) return command;
      if (start) return [start, command];
      // A result with no start recorded or pending (the SDK leaves out a start that its result
      // follows at once): the start is implied, and recorded with the result.
      if (report.acknowledge && state.status === "ASSIGNED" && state.attempt === attempt) {
        const implied: TaskCommand = {
          type: "StartAttempt",
          data: { attempt, workerId: session.id, now: command.data.now },
        };
        return [implied, command];
      }
      return command;
    });
    if (finishing && session.finishing.get(report.taskId) === attempt)
      session.finishing.delete(report.taskId);
    if (!report.acknowledge) return;
    session.send({ msg: { $case: "ack", value: reportAck(report.taskId, report.attempt, events) } });
    if (session.attempts.get(report.taskId) === report.attempt) session.attempts.delete(report.taskId);
    this.schedulePump();
  }

  private takePendingStart(taskId: string): TaskCommand | undefined {
    const pending = this.pendingStarts.get(taskId);
    if (!pending) return undefined;
    clearTimeout(pending.timer);
    this.pendingStarts.delete(taskId);
    return pending.command;
  }

  private async flushStart(taskId: string): Promise<void> {
    const start = this.takePendingStart(taskId);
    if (start) await this.run(taskId, () => start);
  }

  /** Executes a command; null when the task does not exist. */
  private async run(
    taskId: string,
    command: (state: TaskState) => TaskCommand | TaskCommand[],
  ): Promise<TaskEvent[] | null> {
    const assignedAt = this.assignedAt.get(taskId);
    try {
      const { state, events } = await this.table.execute(taskId, command);
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

  // ——— matching ———

  schedulePump(): void {
    if (this.pumpScheduled || !this.accepting) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
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
    const isCurrent = (task: ReadyTask) => {
      const state = this.table.states.get(task.taskId);
      return (
        state !== undefined &&
        this.queued.get(task.taskId) === state.version &&
        state.status === "QUEUED" &&
        !this.inFlight.has(task.taskId)
      );
    };
    this.limits.begin(Date.now());
    const { waveFull, heldBack } = matchPass(
      [...this.sessions.values()],
      () => this.ready.size > 0,
      (session) => this.ready.take(session, isCurrent, this.limits),
      (session, task) => {
        this.limits.acquire(task);
        this.queued.delete(task.taskId);
        this.inFlight.add(task.taskId);
        session.attempts.set(task.taskId, 0);
        this.holders.set(task.taskId, session.id);
        void this.assign(session, task);
      },
    );
    if (waveFull && this.ready.size > 0) this.schedulePump();
    // Work held back by a rate limit: look again when a bucket has a token.
    const refill = heldBack ? this.limits.nextRefillInMs() : null;
    if (refill !== null && this.refillTimer === null) {
      this.refillTimer = setTimeout(() => {
        this.refillTimer = null;
        this.schedulePump();
      }, refill);
    }
  }

  private async assign(session: WorkerSession, task: ReadyTask): Promise<void> {
    const readyAt = this.table.states.get(task.taskId)?.availableAt ?? Date.now();
    try {
      const { state, events } = await this.table.execute(task.taskId, () => ({
        type: "AssignTask",
        data: { workerId: session.id, now: Date.now() },
      }));
      if (events[0]?.type !== "TaskAssigned") throw new IllegalStateError("not assigned");
      const { assignedAt } = events[0].data;
      this.assignedAt.set(task.taskId, assignedAt);
      this.ctx.metrics.recordEvents(events, { type: task.type });
      this.ctx.metrics.scheduleToStart(task.type, Math.max(0, assignedAt - readyAt) / 1000);
      session.attempts.set(task.taskId, state.attempt);
      session.send({ msg: { $case: "assignment", value: assignmentMessage(task.taskId, state) } });
    } catch {
      this.limits.release(task.taskId);
      if (session.attempts.get(task.taskId) === 0) session.attempts.delete(task.taskId);
      if (this.holders.get(task.taskId) === session.id) this.holders.delete(task.taskId);
    } finally {
      this.inFlight.delete(task.taskId);
      const state = this.table.states.get(task.taskId);
      if (state) this.reconcile(task.taskId, state);
      this.schedulePump();
    }
  }

  // ——— reacting to state changes ———

  private onChange(taskId: string, state: TaskState, _events: TaskEvent[]): void {
    if (!this.rebuilding) this.reconcile(taskId, state);
  }

  /** Puts a task where its state says it belongs: ready queue, a timer, a worker, or nowhere. */
  private reconcile(taskId: string, state: TaskState): void {
    if (!hasAttemptOut(state)) this.release(taskId);
    if (state.status === "QUEUED") {
      if (this.inFlight.has(taskId) || this.queued.get(taskId) === state.version || state.spec === null)
        return;
      const due = state.availableAt ?? 0;
      const { type, priority, requires, concurrency, timeouts } = state.spec;
      if (timeouts.scheduleToStartMs !== null) {
        this.timers.push({
          at: due + timeouts.scheduleToStartMs,
          taskId,
          kind: "expire",
          token: state.attempt,
        });
      }
      if (due > Date.now()) {
        this.timers.push({ at: due, taskId, kind: "due", token: state.version });
        return;
      }
      this.queued.set(taskId, state.version);
      const concurrencyKey = concurrency?.key ?? null;
      this.ready.push({
        taskId,
        type,
        priority,
        requires,
        concurrencyKey,
        concurrencyLimit: concurrency?.limit,
      });
      this.schedulePump();
    } else if (hasAttemptOut(state)) {
      const spec = state.spec!;
      if (spec.concurrency) this.limits.hold(taskId, spec.concurrency.key);
      if (state.deadlineAt !== null)
        this.timers.push({ at: state.deadlineAt, taskId, kind: "deadline", token: state.attempt });
      // Each event of the attempt (assigned, started, progress) is a sign of life; silence ends it.
      const heartbeatMs = spec.timeouts.heartbeatMs;
      if (heartbeatMs !== null) {
        const at = (state.updatedAt ?? Date.now()) + heartbeatMs;
        this.timers.push({ at, taskId, kind: "heartbeat", token: state.version });
      }
      if (state.cancelRequested && !this.cancelSent.has(taskId)) {
        const holder = this.sessions.get(this.holders.get(taskId) ?? "");
        if (holder) {
          this.cancelSent.add(taskId);
          holder.send({
            msg: { $case: "cancel", value: { taskId, attempt: state.attempt, reason: "cancel requested" } },
          });
        }
      }
    }
  }

  /** The task no longer runs: free its worker's slot. */
  private release(taskId: string): void {
    this.cancelSent.delete(taskId);
    this.assignedAt.delete(taskId);
    this.limits.release(taskId);
    const holderId = this.holders.get(taskId);
    if (holderId === undefined || this.inFlight.has(taskId)) return;
    this.holders.delete(taskId);
    const holder = this.sessions.get(holderId);
    holder?.finishing.delete(taskId);
    if (holder?.attempts.delete(taskId)) this.schedulePump();
  }

  private fireTimers(): void {
    for (const timer of this.timers.popDue(Date.now())) this.fire(timer);
  }

  /** Whether a timer still stands for the task's current state (a stale one does nothing when it fires). */
  private isLive(timer: Timer): boolean {
    const state = this.table.states.get(timer.taskId);
    if (!state) return false;
    switch (timer.kind) {
      case "due":
        return state.status === "QUEUED" && state.version === timer.token;
      case "expire":
        return state.status === "QUEUED" && state.attempt === timer.token;
      case "deadline":
        return hasAttemptOut(state) && state.attempt === timer.token;
      case "heartbeat":
        return hasAttemptOut(state) && state.version === timer.token;
    }
  }

  /**
   * Drops stale timers once they outnumber the tasks by far: every attempt sets a start-to-close
   * deadline (5 minutes by default) that stays queued after the attempt ends, and at thousands of
   * tasks a second those would pile up in memory until they are due.
   */
  private compactTimers(): void {
    if (this.timers.size > 4 * this.table.states.size + 10_000) this.timers.retain((t) => this.isLive(t));
  }

  private fire(timer: Timer): void {
    const state = this.table.states.get(timer.taskId);
    if (!state || !this.isLive(timer)) return;
    if (timer.kind === "due") this.reconcile(timer.taskId, state);
    if (timer.kind === "deadline") {
      this.timeOut(
        timer.taskId,
        state,
        "START_TO_CLOSE_TIMEOUT",
        "attempt exceeded its start-to-close timeout",
      );
    }
    if (timer.kind === "heartbeat") {
      const limit = state.spec?.timeouts.heartbeatMs;
      this.timeOut(timer.taskId, state, "HEARTBEAT_TIMEOUT", `no heartbeat within ${limit} ms`);
    }
    if (timer.kind === "expire") {
      void this.run(timer.taskId, () => ({ type: "ExpireSchedule", data: { now: Date.now() } }));
    }
  }

  /** Ends an attempt that ran out of time: its worker is told to stop, and the attempt is failed. */
  private timeOut(taskId: string, state: TaskState, type: string, message: string): void {
    const holder = this.sessions.get(this.holders.get(taskId) ?? "");
    holder?.send({ msg: { $case: "cancel", value: { taskId, attempt: state.attempt, reason: message } } });
    this.failAttempt(taskId, state.attempt, type, message);
  }

  /** Once a second: silent workers are lost, and attempts no live worker holds are retried. */
  private sweep(): void {
    const now = Date.now();
    const { heartbeatTimeoutMs, reconnectGraceMs } = this.ctx.config;
    for (const session of [...this.sessions.values()]) {
      const silent = session.stream !== null && now - session.lastSeenAt > heartbeatTimeoutMs;
      const gone = session.disconnectedAt !== null && now - session.disconnectedAt > reconnectGraceMs;
      if (silent) session.stream?.close(status.UNAVAILABLE, "heartbeat timeout");
      if (silent || gone) this.lose(session, silent ? "heartbeat timeout" : "disconnected");
    }
    if (now - this.startedAt > reconnectGraceMs) {
      for (const taskId of this.table.active) {
        const state = this.table.states.get(taskId);
        if (!state || this.inFlight.has(taskId)) continue;
        const holder = this.sessions.get(this.holders.get(taskId) ?? "");
        const held =
          holder !== undefined &&
          (holder.attempts.get(taskId) === state.attempt || holder.finishing.get(taskId) === state.attempt);
        if (!held) {
          this.failAttempt(taskId, state.attempt, "WORKER_LOST", "no live worker holds the attempt");
        }
      }
    }
    this.table.purgeTerminal(now - 30_000);
    this.compactTimers();
    this.trimIntake();
    this.ctx.metrics.queueDepth(this.ready.depthByPriority());
    const stats = computeStats(
      this.epoch,
      this.queuedStates(),
      this.sessions.values(),
      this.ready.depthByPriority(),
      now,
    );
    this.ctx.metrics.dispatchStats(stats, now);
    void publishStats(this.ctx.redis, this.store.prefix, stats).catch(() => undefined);
    void this.ctx.settings.refresh().then(
      () => this.schedulePump(),
      () => undefined,
    );
  }

  private *queuedStates(): Iterable<TaskState> {
    for (const taskId of this.table.queued) {
      const state = this.table.states.get(taskId);
      if (state) yield state;
    }
  }

  private lose(session: WorkerSession, reason: string): void {
    this.sessions.delete(session.id);
    this.ctx.metrics.workerLost(reason);
    void this.ctx.registry.unregister(session.id);
    this.ctx.log.warn({ workerId: session.id, reason, attempts: session.attempts.size }, "worker lost");
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
