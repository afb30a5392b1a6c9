import { EventEmitter } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import {
  decide,
  evolve,
  fold,
  nextFireAt,
  planCatchUp,
  type ScheduleCommand,
  type ScheduleEvent,
  type ScheduleState,
} from "../../domain/schedule/index.ts";
import { ConcurrencyError, StaleEpochError } from "../../domain/task/index.ts";
import { FollowingService } from "../../event-store/following-service.ts";
import { ScheduleIndex } from "../../event-store/schedule-index.ts";
import {
  SCHEDULE_PARTITION,
  type ScheduleStore,
  type StoredScheduleEvent,
} from "../../event-store/schedule-store.ts";
import type { Logger } from "../../observability/log.ts";
import { submitFiring, type TaskSubmitter } from "./firing.ts";
import { systemPrincipal } from "../../auth/principal.ts";

export interface SchedulerOptions {
  store: ScheduleStore;
  /** Submits each firing's task (validation, admission, idempotency) like any producer. */
  tasks: TaskSubmitter;
  log: Logger;
  /** The clock (tests may move it); Date.now by default. */
  now?: () => number;
  /** Pause before a firing that failed (backpressure, Redis) is tried again, in ms (default 1000). */
  retryMs?: number;
  /** Longest sleep between checks, in ms (default 60 000): bounds the effect of wall-clock jumps. */
  maxSleepMs?: number;
  /** How often the leader saves a snapshot of every schedule, in ms (default 60 000). */
  snapshotIntervalMs?: number;
  /** How long one blocking read of the schedule stream waits, in ms (default 1000). */
  blockMs?: number;
}

/** What a scheduler announces, for logs and for tests that await instead of polling. */
export interface SchedulerEvents {
  /** This scheduler submitted a firing's task and recorded the firing (ScheduleFired). */
  fired: [info: { scheduleId: string; fireAt: number; taskId: string | null }];
  /** It stopped firing: stopped, or fenced out by a newer leader. */
  halted: [reason: string];
}

interface Run {
  epoch: number;
  index: ScheduleIndex;
  follower: ScheduleFollower;
}

/** Follows the schedule stream into a run's index: API writes (create, pause, …) and other writers' appends. */
class ScheduleFollower extends FollowingService<ScheduleEvent> {
  private readonly index: ScheduleIndex;
  private readonly changed: (ids: Set<string>) => void;
  private readonly logger: Logger;

  constructor(
    store: ScheduleStore,
    index: ScheduleIndex,
    changed: (ids: Set<string>) => void,
    logger: Logger,
    settings: { blockMs?: number; retryMs?: number },
  ) {
    super(store, settings);
    this.index = index;
    this.changed = changed;
    this.logger = logger;
  }

  protected override positions(): Map<number, string> {
    return new Map([[SCHEDULE_PARTITION, this.index.position]]);
  }

  protected override async handle(batch: StoredScheduleEvent[]): Promise<boolean> {
    this.changed(this.index.apply(batch));
    return true;
  }

  protected override onFailure(error: unknown): void {
    super.onFailure(error);
    this.logger.warn({ err: error }, "schedule stream read failed; retrying");
  }
}

/**
 * Fires recurring schedules; runs only on the leading dispatcher, between `start(epoch)` (on
 * election) and `stop()` (on demotion). It folds every schedule from the log, follows the stream,
 * and sleeps until the earliest fire time. For each due firing it (1) submits the task with the
 * idempotency key `schedule:<id>:<fireAt>`, then (2) appends ScheduleFired at the schedule's
 * version, fenced by the leader's epoch. A crash between (1) and (2) leaves the firing unrecorded:
 * the next leader fires it again and the key answers the same task (never twice); the cursor in
 * the log says where to go on from (never skipped, beyond what the catch-up policy records).
 * See docs/schedules.md.
 */
export class Scheduler extends EventEmitter<SchedulerEvents> {
  private readonly options: SchedulerOptions;
  private readonly now: () => number;
  private run: Run | null = null;
  /** When each ACTIVE schedule next needs attention: its next fire time, or a retry after a failure. */
  private readonly dueAt = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private snapshotTimer: NodeJS.Timeout | null = null;
  private work: Promise<void> = Promise.resolve();
  private generation = 0;

  constructor(options: SchedulerOptions) {
    super();
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  /** Whether it is running (started, and neither stopped nor fenced out). */
  get running(): boolean {
    return this.run !== null;
  }

  /**
   * Takes over firing: claims the schedule stream with an epoch above every earlier one (at least
   * `floor`, the coordinator lease's revision), so no older scheduler's record lands after this;
   * folds every schedule from the log, then follows and fires. Returns the epoch.
   */
  async start(floor: number): Promise<number> {
    if (this.run) throw new Error("the scheduler is running already");
    const generation = ++this.generation;
    const { store } = this.options;
    const epoch = await store.claim(SCHEDULE_PARTITION, floor);
    const index = new ScheduleIndex(store);
    await index.refresh();
    if (generation !== this.generation) return epoch; // stopped while loading
    const { log, retryMs, blockMs } = this.options;
    const changed = (ids: Set<string>) => {
      for (const id of ids) this.refreshDue(id);
      this.arm();
    };
    const follower = new ScheduleFollower(store, index, changed, log, { retryMs, blockMs });
    const run: Run = { epoch, index, follower };
    this.run = run;
    for (const [id] of index.entries()) this.refreshDue(id);
    await follower.start();
    this.arm();
    this.snapshotTimer = setInterval(() => {
      void run.index.saveSnapshot(epoch).catch((error: unknown) => {
        if (this.run === run) this.options.log.warn({ err: error }, "schedule snapshot failed");
      });
    }, this.options.snapshotIntervalMs ?? 60_000);
    this.options.log.info({ epoch, schedules: this.dueAt.size }, "scheduler started");
    return epoch;
  }

  /** Stops firing; waits (a few seconds at most) for the firing in flight to finish. */
  async stop(): Promise<void> {
    const run = this.halt("stopped");
    if (!run) return;
    await run.follower.stop();
    await Promise.race([this.work, sleep(5000)]);
  }

  private halt(reason: string): Run | null {
    this.generation++;
    if (this.snapshotTimer) clearInterval(this.snapshotTimer);
    this.snapshotTimer = null;
    const run = this.run;
    this.run = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.dueAt.clear();
    if (run) {
      void run.follower.stop();
      this.emit("halted", reason);
    }
    return run;
  }

  private refreshDue(id: string): void {
    const state = this.run?.index.get(id);
    const next = state ? nextFireAt(state) : null;
    if (next === null) this.dueAt.delete(id);
    else this.dueAt.set(id, next);
  }

  /** Sets the timer for the earliest schedule needing attention. */
  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (!this.run) return;
    const earliest = Math.min(...this.dueAt.values());
    const delay = Number.isFinite(earliest) ? Math.max(0, earliest - this.now()) : Infinity;
    this.timer = setTimeout(
      () => {
        this.work = this.work
          .then(() => this.fireDue())
          .catch((error: unknown) => this.options.log.error({ err: error }, "scheduler tick failed"));
      },
      Math.min(delay, this.options.maxSleepMs ?? 60_000),
    );
  }

  /** Fires every schedule due now, earliest first, one at a time. */
  private async fireDue(): Promise<void> {
    const run = this.run;
    if (!run) return;
    const now = this.now();
    const due = [...this.dueAt].filter(([, at]) => at <= now).sort(([, a], [, b]) => a - b);
    if (due.length > 0) await this.options.tasks.refreshSettings().catch(() => undefined);
    for (const [id] of due) {
      if (this.run !== run) return;
      try {
        await this.fire(run, id);
        this.refreshDue(id);
      } catch (error) {
        if (error instanceof StaleEpochError) {
          this.options.log.warn({ epoch: run.epoch }, "scheduler fenced out by a newer leader; stopping");
          this.halt("fenced out by a newer leader");
          return;
        }
        this.options.log.warn({ err: error, schedule: id }, "schedule firing failed; will retry");
        if (this.run === run) this.dueAt.set(id, this.now() + (this.options.retryMs ?? 1000));
      }
    }
    this.arm();
  }

  /** Applies the catch-up policy, then submits and records each firing due, oldest first. */
  private async fire(run: Run, id: string): Promise<void> {
    const now = this.now();
    let state = await this.execute(run, id, { type: "ApplyCatchUp", data: { now } });
    for (const fireAt of planCatchUp(state, now).fire) {
      if (this.run !== run) return; // stopped: the next leader goes on from the log
      const outcome = await submitFiring(
        this.options.tasks,
        id,
        state.task!,
        fireAt,
        this.now(),
        systemPrincipal({ kind: "scheduler", epoch: run.epoch }, ["submit"]),
      );
      const before = state.version;
      state = await this.execute(run, id, {
        type: "RecordFiring",
        data: { fireAt, ...outcome, now: this.now() },
      });
      if (state.version > before) this.emit("fired", { scheduleId: id, fireAt, taskId: outcome.taskId });
    }
  }

  /** Decides against the schedule's state and appends, fenced; re-reads it after a concurrent write. */
  private async execute(run: Run, id: string, command: ScheduleCommand): Promise<ScheduleState> {
    let state = run.index.get(id)!;
    for (let attempt = 0; ; attempt++) {
      const events = decide(command, state);
      if (events.length === 0) return state;
      try {
        await this.options.store.append(id, state.version, events, { epoch: run.epoch });
        state = events.reduce(evolve, state);
        run.index.set(id, state);
        return state;
      } catch (error) {
        if (!(error instanceof ConcurrencyError) || attempt >= 5) throw error;
        state = fold(await this.options.store.readTask(id));
        run.index.set(id, state);
      }
    }
  }
}
