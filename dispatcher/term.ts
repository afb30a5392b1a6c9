import { EventEmitter } from "node:events";
import type { Context, Span } from "@opentelemetry/api";
import {
  formatActor,
  IllegalStateError,
  hasAttemptOut,
  NotFoundError,
  type TaskCommand,
  type TaskError,
  type TaskEvent,
  type TaskState,
} from "../domain/task/index.ts";
import type { EventLog } from "../event-store/event-log.ts";
import type { HostMessage, OwnerMessage } from "../proto/gen/taskstream/cluster/v1/peers.ts";
import type { ReportAck, WorkerMessage } from "../proto/gen/taskstream/v1/workers.ts";
import { AttemptTimers } from "./attempt-timers.ts";
import { startAttemptEndSpan, taskTraceContext, underSpan } from "./attempt-tracing.ts";
import type { DispatcherContext } from "./context.ts";
import { IntakeFollower } from "./intake-follower.ts";
import { LiveTasks } from "./live-tasks.ts";
import { Placement } from "./placement.ts";
import { StartCoalescer } from "./start-coalescer.ts";
import { decodeSnapshot } from "./snapshot-codec.ts";
import { Snapshotter } from "./snapshotter.ts";
import { computeStats } from "./stats.ts";
import { failureAtDeadline, reportAck, reportCommand } from "./worker-reports.ts";
import type { WorkerSession } from "./worker-session.ts";
import { WorkerSessions } from "./worker-sessions.ts";
import { WorkerWants } from "./worker-wants.ts";

/**
 * How long after an attempt's start-to-close deadline its worker is sent a cancel: the backstop for
 * a worker that missed its own deadline (a skewed clock, a stuck handler).
 */
const DEADLINE_CANCEL_DELAY_MS = 1000;

/** What a term announces, for logs and for tests that await instead of polling. */
export interface TermEvents {
  /**
   * The partition's log is folded and the term accepts work: `restored` tasks came from its
   * snapshot, `read` events from the log after it.
   */
  leading: [
    info: {
      partition: number;
      epoch: number;
      tasks: number;
      ready: number;
      restored: number;
      read: number;
      /** From the partition's claim being granted to accepting work, ms; of which folding its snapshot and log. */
      rebuildMs: number;
      foldMs: number;
    },
  ];
  /** The term ended (handed over, demoted, or its start failed). */
  closed: [reason: string];
  /** A worker was lost and its attempts in this partition are being retried. */
  workerLost: [info: { workerId: string; reason: string; attempts: number }];
  /**
   * A sweep ran (once a second): `lost` workers were lost in it; `holdsChecked` says it also failed
   * the attempts no live worker holds, which it does only once the term's reconnect grace is over.
   */
  swept: [info: { lost: number; holdsChecked: boolean }];
}

/**
 * One partition owned with one fencing epoch (docs/partition-ownership.md): the partition's live
 * tasks (the fold of its log), its intake follower (what others write), the workers as this
 * partition sees them (the slots their hosts lent it, as credits), the placement of its ready tasks
 * on them, its attempt timers and its start coalescer. A term never outlives its claim: when the
 * partition is handed over or lost it is closed whole, and the next owner builds a fresh one.
 *
 * It speaks to the workers only through their hosts (`ctx.toHost`), in the dispatchers' own
 * protocol (proto/taskstream/cluster/v1/peers.proto).
 */
export class Term extends EventEmitter<TermEvents> {
  readonly partition: number;
  readonly epoch: number;
  readonly sessions = new WorkerSessions();
  readonly placement: Placement;
  private readonly ctx: DispatcherContext;
  private readonly live: LiveTasks;
  private readonly timers: AttemptTimers;
  private readonly starts: StartCoalescer;
  private readonly wants: WorkerWants;
  private follower: IntakeFollower | null = null;
  private snapshots: Snapshotter | null = null;
  private readonly cancelSent = new Set<string>();
  private readonly failing = new Set<string>();
  private readonly abort = new AbortController();
  private sweeper: NodeJS.Timeout | null = null;
  private startedAt = 0;
  private permitsCheckedAt = 0;
  /** When the partition's claim was granted, and when the term sent its first assignment (0: not yet). */
  private readonly claimedAt: number;
  private firstDispatchAt = 0;
  private rebuilding = true;
  accepting = false;
  /** What the term announced when it began to lead (null before). */
  leadingSince: TermEvents["leading"][0] | null = null;

  constructor(partition: number, epoch: number, ctx: DispatcherContext, claimedAt = Date.now()) {
    super();
    this.partition = partition;
    this.epoch = epoch;
    this.claimedAt = claimedAt;
    this.ctx = ctx;
    this.live = new LiveTasks(
      ctx.store,
      epoch,
      (taskId, state) => {
        if (!this.rebuilding) this.reconcile(taskId, state);
      },
      // Another owner claimed the partition (its lease outlived ours, or etcd was restored): stop now.
      () => {
        if (this.abort.signal.aborted) return;
        this.ctx.log.warn({ partition, epoch }, "fenced out by a newer owner of the partition; closing");
        this.close("fenced out");
        this.ctx.fencedOut();
      },
    );
    this.placement = new Placement({
      partition,
      live: this.live,
      sessions: this.sessions,
      settings: ctx.settings,
      limits: ctx.limits,
      metrics: ctx.metrics,
      agingBound: ctx.config.agingBound,
      accepting: () => this.accepting,
      settled: (taskId, state) => this.reconcile(taskId, state),
      passed: (starved) => this.wants.update(starved),
      dispatched: () => this.dispatched(),
    });
    this.wants = new WorkerWants(partition, this.sessions, this.placement, (hostId, message) =>
      this.toHost(hostId, message),
    );
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
   * The follower of the partition's intake, from when the term leads: its `handled` events say
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
   * Rebuilds the partition from its last snapshot and the log after it, then follows its intake (the
   * events other writers append; its own it folds as it writes them). Does not start at all if the
   * term was closed (its claim lost) while it rebuilt.
   */
  async start(): Promise<void> {
    await this.ctx.settings.refresh(true);
    const partition = this.partition;
    // The intake head is taken before the log is read: an event appended after it is in the intake
    // past it, one appended before is in the log read below (docs/dispatcher-intake.md).
    const head = await this.store.intakeHead(partition);
    const foldFrom = Date.now();
    // From the last snapshot (docs/snapshots.md), then the log after it: a takeover costs the live
    // tasks and the recent log, not the whole history.
    const { after, tasks: restored } = await this.restoreSnapshot();
    let read = 0;
    for await (const page of this.store.readAll(partition, { after })) {
      if (this.abort.signal.aborted) break;
      for (const event of page) this.live.apply(event);
      read += page.length;
    }
    // Closed while rebuilding: a term that lost its claim must never start.
    if (this.abort.signal.aborted)
      throw new IllegalStateError(`term ${this.epoch} of partition ${partition} was closed while it rebuilt`);
    const foldMs = Date.now() - foldFrom;
    this.live.purgeTerminal(Number.POSITIVE_INFINITY);
    this.rebuilding = false;
    this.startedAt = Date.now();
    const rebuildMs = this.startedAt - this.claimedAt;
    this.ctx.metrics.takeover("rebuilt", rebuildMs / 1000);
    this.accepting = true;
    for (const [taskId, state] of this.live.states) this.reconcile(taskId, state);
    this.follower = new IntakeFollower(
      this.store,
      this.epoch,
      this.live,
      new Map([[partition, head]]),
      this.ctx.log,
    );
    await this.follower.start();
    this.snapshots = new Snapshotter(
      this.store,
      partition,
      this.epoch,
      this.live,
      this.follower,
      this.ctx.log,
    );
    this.snapshots.start(
      this.ctx.config.snapshotIntervalMs,
      Math.min(5000, this.ctx.config.snapshotIntervalMs),
    );
    this.timers.start();
    this.sweeper = setInterval(() => this.sweep(), 1000);
    const info = {
      partition,
      epoch: this.epoch,
      tasks: this.live.states.size,
      ready: this.ready.size,
      restored,
      read,
      rebuildMs,
      foldMs,
    };
    this.ctx.log.info(info, "partition owned");
    this.leadingSince = info;
    this.emit("leading", info);
  }

  /** Folds the partition's last snapshot, if any; returns the position to read the log from. */
  private async restoreSnapshot(): Promise<{ after: string; tasks: number }> {
    const stored = await this.store.loadSnapshot(this.partition);
    const snapshot = stored && decodeSnapshot(stored);
    if (!snapshot) return { after: "0", tasks: 0 };
    for (const [taskId, state] of snapshot.tasks) this.live.restore(taskId, state);
    return { after: snapshot.position, tasks: snapshot.tasks.length };
  }

  /** The term's first assignment: the end of the partition's takeover (claim granted → first dispatch). */
  private dispatched(): void {
    if (this.firstDispatchAt !== 0) return;
    this.firstDispatchAt = Date.now();
    const ms = this.firstDispatchAt - this.claimedAt;
    this.ctx.metrics.takeover("first_dispatch", ms / 1000);
    this.ctx.log.info({ partition: this.partition, epoch: this.epoch, ms }, "partition first dispatch");
  }

  /** Takes a snapshot of the partition now (tests, the handover, and the bench's takeover measurement). */
  async snapshotNow(): Promise<void> {
    await this.snapshots?.takeAll();
  }

  /**
   * Hands the partition over: takes no more work, lets every write in flight settle, saves a
   * snapshot for the next owner (so it starts from here, not from the last periodic one), closes.
   */
  async handOver(): Promise<void> {
    if (!this.accepting) return this.close("handed over");
    this.accepting = false;
    await this.placement.settled();
    await this.live.settled();
    await this.snapshots?.takeAll().catch((error: unknown) => {
      this.ctx.log.warn({ err: error, partition: this.partition }, "handover snapshot failed");
    });
    this.close("handed over");
  }

  close(reason: string): void {
    if (this.abort.signal.aborted) return;
    this.accepting = false;
    this.abort.abort();
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    void this.follower?.stop();
    void this.snapshots?.stop();
    this.placement.close();
    this.starts.close();
    this.timers.close();
    this.sessions.clear();
    this.emit("closed", reason);
  }

  // ——— hosts ———

  private toHost(hostId: string, message: OwnerMessage): void {
    this.ctx.toHost(hostId, message);
  }

  /** A message from a host about one of its workers. */
  fromHost(hostId: string, message: HostMessage["msg"]): void {
    switch (message?.$case) {
      case "joined":
        return this.joined(hostId, message.value);
      case "credits": {
        const session = this.sessions.get(message.value.workerId);
        if (!session || session.host !== hostId) {
          // Not this partition's worker (any more): the credits go straight back.
          this.toHost(hostId, returned(this.partition, message.value.workerId, message.value.count));
          return;
        }
        session.slots += message.value.count;
        this.ready.passedElsewhere(message.value.elsewhere);
        this.placement.schedule();
        return;
      }
      case "report": {
        const session = this.sessions.get(message.value.workerId);
        if (!session || session.host !== hostId || !this.sessions.isCurrent(session)) return;
        void this.report(session, message.value.message?.msg);
        return;
      }
      case "left": {
        const session = this.sessions.get(message.value.workerId);
        if (!session || session.host !== hostId) return;
        if (message.value.lost) {
          this.sessions.remove(session);
          this.lose(session, message.value.reason);
        } else this.sessions.disconnected(session, Date.now());
        return;
      }
      case "batch":
      case "hello":
      case undefined:
        return;
    }
  }

  /** A host's link went away: its workers have the reconnect grace to come back through another. */
  hostGone(hostId: string): void {
    const now = Date.now();
    for (const session of [...this.sessions.values()])
      if (session.host === hostId) this.sessions.disconnected(session, now);
  }

  /** A worker joined through a host: a new session, or a reconnect that keeps its attempts. */
  private joined(hostId: string, joined: Extract<HostMessage["msg"], { $case: "joined" }>["value"]): void {
    const stream = {
      acceptsBatches: false,
      send: (message: Parameters<WorkerSession["send"]>[0]) =>
        this.toHost(hostId, {
          msg: { $case: "deliver", value: { partition: this.partition, workerId: joined.workerId, message } },
        }),
      close: () => undefined,
    };
    const { session, forgotten } = this.sessions.register(
      {
        workerId: joined.workerId,
        name: joined.name,
        types: joined.types,
        labels: joined.labels,
        slots: joined.slots,
        sdk: joined.sdk,
        active: joined.active,
        acceptsBatches: false,
        resumeToken: "",
      },
      stream,
      (taskId) => this.live.states.get(taskId),
      Date.now(),
    );
    session.host = hostId;
    // The partition holds as many of the worker's slots as it has attempts out on it; more come as credits.
    session.slots = session.attempts.size;
    // An assignment sent but never received: the worker does not know it, so try it again.
    for (const [taskId, attempt] of forgotten)
      this.failAttempt(taskId, attempt, "WORKER_LOST", "assignment lost in a reconnect", true);
    this.wants.joined(session);
    this.placement.schedule();
  }

  /** Routes a worker's report to the decider; completions and failures are acknowledged. */
  async report(session: WorkerSession, message: WorkerMessage["msg"]): Promise<void> {
    session.lastSeenAt = Date.now();
    const report = reportCommand(session.id, message, this.ctx.config);
    if (!report || this.ctx.store.partitionOf(report.taskId) !== this.partition) return;
    if (report.command.type === "StartAttempt") return this.starts.hold(report.taskId, report.command);
    const start = this.starts.take(report.taskId);
    const { command, attempt } = report;
    // A result means the worker's slot is free now: its host lends it again while this result is
    // written. The attempt stays the worker's until then.
    const finishing = report.acknowledge && session.attempts.get(report.taskId) === attempt;
    if (finishing) {
      session.attempts.delete(report.taskId);
      session.slots = Math.max(0, session.slots - 1);
      session.finishing.set(report.taskId, attempt);
    }
    // The worker's report, through its host, is the actor of what it leads to.
    const actor = formatActor({ kind: "worker", workerId: session.id, session: session.host });
    const span = report.acknowledge
      ? startAttemptEndSpan("taskstream.record_result", () => this.attemptTrace(report.taskId), {
          "taskstream.task.id": report.taskId,
          "taskstream.task.attempt": attempt,
          "taskstream.worker.id": session.id,
          "taskstream.report": message?.$case ?? "",
        })
      : undefined;
    const events = await underSpan(span, () =>
      this.run(
        report.taskId,
        (state) => {
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
        },
        actor,
      ),
    );
    if (span) this.endAttemptSpan(span, report.taskId, reportAck(report.taskId, attempt, events));
    if (finishing && session.finishing.get(report.taskId) === attempt)
      session.finishing.delete(report.taskId);
    if (!report.acknowledge) return;
    // Only a result that is recorded, refused by the decider, or provably superseded is answered;
    // one whose write failed is not, and the host sends it again (docs/partition-ownership.md).
    if (events === null && !this.accepting) return;
    session.send({ msg: { $case: "ack", value: reportAck(report.taskId, report.attempt, events ?? []) } });
    this.placement.schedule();
  }

  // ——— writing ———

  /**
   * Executes a command: its events; [] when the decider refused it or the task is gone; null when
   * the write failed (stale epoch, Redis unreachable) and the outcome is unknown.
   */
  private async run(
    taskId: string,
    command: (state: TaskState) => TaskCommand | TaskCommand[],
    actor?: string,
  ): Promise<TaskEvent[] | null> {
    try {
      const assignedAt = this.placement.assignedAt(taskId);
      const { state, events } = await this.live.execute(taskId, command, actor);
      this.ctx.metrics.recordEvents(events, { type: state.spec?.type ?? "unknown", assignedAt });
      return events;
    } catch (error) {
      if (error instanceof NotFoundError) return [];
      if (error instanceof IllegalStateError) return [];
      if (this.accepting) this.ctx.log.warn({ err: error, taskId }, "dispatcher write failed");
      return null;
    }
  }

  /**
   * Ends an attempt the worker cannot report on (lost worker, timeout); once per attempt. `unstarted`:
   * the worker never received it, so it does not use up one of the task's attempts.
   */
  private failAttempt(
    taskId: string,
    attempt: number,
    type: string,
    message: string,
    unstarted = false,
  ): void {
    const key = `${taskId}#${attempt}`;
    if (this.failing.has(key)) return;
    this.failing.add(key);
    const error: TaskError = { message, type, nonRetryable: false };
    const span = startAttemptEndSpan("taskstream.fail_attempt", () => this.attemptTrace(taskId), {
      "taskstream.task.id": taskId,
      "taskstream.task.attempt": attempt,
      "taskstream.error.type": type,
    });
    void underSpan(span, () =>
      this.run(taskId, () => ({
        type: "FailAttempt",
        data: { attempt, error, cancelled: false, jitter: Math.random(), now: Date.now(), unstarted },
      })),
    )
      .then((events) => span && this.endAttemptSpan(span, taskId, reportAck(taskId, attempt, events)))
      .finally(() => this.failing.delete(key));
  }

  /** The trace an attempt's end belongs to: its dispatch span's, else the task's stored one. */
  private attemptTrace(taskId: string): Context | null {
    return this.placement.attemptTrace(taskId) ?? taskTraceContext(this.live.states.get(taskId));
  }

  /** Ends an attempt-end span with what the write did: accepted or why not, and the task's state. */
  private endAttemptSpan(span: Span, taskId: string, ack: ReportAck): void {
    span.setAttribute("taskstream.report.accepted", ack.accepted);
    if (!ack.accepted) span.setAttribute("taskstream.report.rejected", ack.reason);
    const state = this.live.states.get(taskId)?.state;
    if (state) span.setAttribute("taskstream.task.state", state);
    span.end();
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
      const ended = this.placement.release(taskId);
      // The attempt ended without its result (timeout, lost, reassigned): the slot is its host's again.
      if (ended) {
        ended.session.slots = Math.max(0, ended.session.slots - 1);
        this.toHost(ended.session.host, {
          msg: {
            $case: "ended",
            value: { partition: this.partition, workerId: ended.session.id, taskId, attempt: ended.attempt },
          },
        });
      }
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

  /** Once a second: vanished workers are lost, and attempts no live worker holds are retried. */
  private sweep(): void {
    const now = Date.now();
    const { reconnectGraceMs } = this.ctx.config;
    const lost = this.sessions.sweep(now, { reconnectGraceMs });
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
    if (now - this.permitsCheckedAt > 10_000) {
      this.permitsCheckedAt = now;
      void this.freeStrayPermits();
    }
    this.live.purgeTerminal(now - 30_000);
    this.timers.compact(this.live.states.size);
    this.follower?.trim();
    const stats = computeStats(
      this.partition,
      this.epoch,
      this.queuedStates(),
      this.sessions.values(),
      this.ready.depthByPriority(),
      now,
    );
    void this.ctx.publishStats(stats).catch(() => undefined);
    void this.ctx.settings.refresh().then(
      () => this.placement.schedule(),
      () => undefined,
    );
    this.emit("swept", { lost: lost.length, holdsChecked });
  }

  /**
   * Frees the concurrency permits the partition's tasks hold although they do not run (an owner that
   * crashed between taking a permit and writing the assignment, or before releasing it).
   */
  private async freeStrayPermits(): Promise<void> {
    try {
      for (const [key, taskIds] of await this.ctx.limits.permitsOf(this.partition))
        for (const taskId of taskIds) {
          const state = this.live.states.get(taskId);
          if (state && hasAttemptOut(state)) continue;
          if (this.placement.isAssigning(taskId) || this.placement.limits.holds(taskId)) continue;
          await this.ctx.limits.releasePermit(key, taskId);
        }
    } catch (error) {
      if (this.accepting) this.ctx.log.warn({ err: error, partition: this.partition }, "permit check failed");
    }
  }

  private *queuedStates(): Iterable<TaskState> {
    for (const taskId of this.live.queued) {
      const state = this.live.states.get(taskId);
      if (state) yield state;
    }
  }

  private lose(session: WorkerSession, reason: string): void {
    const attempts = session.attempts.size;
    if (attempts > 0)
      this.ctx.log.warn({ workerId: session.id, reason, attempts, partition: this.partition }, "worker lost");
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

function returned(partition: number, workerId: string, count: number): OwnerMessage {
  return { msg: { $case: "returned", value: { partition, workerId, count } } };
}
