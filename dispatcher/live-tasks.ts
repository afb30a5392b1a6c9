import {
  ConcurrencyError,
  NotFoundError,
  StaleEpochError,
  decide,
  evolve,
  fold,
  hasAttemptOut,
  isTerminal,
  type TaskCommand,
  formatActor,
  type TaskEvent,
  type TaskState,
} from "../domain/task/index.ts";
import type { EventLog } from "../event-store/event-log.ts";
import type { StoredEvent } from "../event-store/stream-format.ts";

export interface Execution {
  state: TaskState;
  events: TaskEvent[];
}

/**
 * The dispatcher's fold of the log: every task it has seen that is not yet terminal (terminal ones
 * linger briefly so late reports are answered from memory). Writes go through `execute`, one at a
 * time per task, decided by the domain and appended with the task's version and the leader's epoch.
 * An event may arrive twice — at the start of a term the log read and the intake overlap
 * (docs/dispatcher-intake.md), and a reload may fold what the intake brings later — so `apply`
 * ignores versions it has.
 */
export class LiveTasks {
  private readonly byId = new Map<string, TaskState>();
  /** Tasks waiting for an attempt (QUEUED), and tasks with an attempt out (ASSIGNED, RUNNING). */
  private readonly queuedIds = new Set<string>();
  private readonly activeIds = new Set<string>();
  /** Terminal tasks in the order they became terminal here, with when: purged from the front. */
  private readonly terminalSince = new Map<string, number>();
  private readonly locks = new Map<string, Promise<unknown>>();
  /** Writes in flight (see `settled`). */
  private readonly writing = new Set<Promise<Execution>>();
  private readonly store: EventLog;
  private readonly epoch: number;
  private readonly onChange: (taskId: string, state: TaskState, events: TaskEvent[]) => void;

  private readonly onFenced: () => void;

  /** `onFenced`: a write was refused for a newer epoch — another owner claimed the partition. */
  constructor(
    store: EventLog,
    epoch: number,
    onChange: (taskId: string, state: TaskState, events: TaskEvent[]) => void,
    onFenced: () => void = () => undefined,
  ) {
    this.store = store;
    this.epoch = epoch;
    this.onChange = onChange;
    this.onFenced = onFenced;
  }

  /** Every task held, by id. */
  get states(): ReadonlyMap<string, TaskState> {
    return this.byId;
  }

  /** Ids of the tasks that are QUEUED. */
  get queued(): ReadonlySet<string> {
    return this.queuedIds;
  }

  /** Ids of the tasks with an attempt out (ASSIGNED or RUNNING). */
  get active(): ReadonlySet<string> {
    return this.activeIds;
  }

  /** Folds events read from the log (rebuild or tail). Returns whether the task changed. */
  apply(event: StoredEvent): boolean {
    const current = this.byId.get(event.taskId);
    if (current === undefined && event.version !== 1) {
      // A task we dropped, or whose start we never saw: reload it whole, outside the tail's order.
      if (event.type !== "TaskResultRejected") void this.reload(event.taskId);
      return false;
    }
    const state = current ?? fold([]);
    if (event.version <= state.version) return false;
    if (event.version !== state.version + 1) {
      void this.reload(event.taskId);
      return false;
    }
    const next = evolve(state, event);
    this.put(event.taskId, next, current);
    this.onChange(event.taskId, next, [event]);
    return true;
  }

  /**
   * Takes a task's state from a snapshot (the leader's fold as of a log position, docs/snapshots.md);
   * events after it are folded by `apply` as usual, and versions it already has are skipped.
   */
  restore(taskId: string, state: TaskState): void {
    const current = this.byId.get(taskId);
    if (current && current.version >= state.version) return;
    this.put(taskId, state, current);
  }

  /** Every task held that is not finished, for a snapshot. */
  *unfinished(): Iterable<[string, TaskState]> {
    for (const [taskId, state] of this.byId) if (!isTerminal(state)) yield [taskId, state];
  }

  /** Resolves once every write started before the call has settled (a snapshot's barrier). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.writing]);
  }

  /**
   * Runs `command` against the task's state, serialised per task; retries on a concurrent write.
   * The events record `actor` (domain/task/actor.ts): the worker whose report it is, else this
   * leader's own decision (`d:<epoch>`).
   */
  execute(
    taskId: string,
    command: (state: TaskState) => TaskCommand | TaskCommand[],
    actor = formatActor({ kind: "dispatcher", epoch: this.epoch }),
  ): Promise<Execution> {
    const write = this.executeSerialised(taskId, command, actor);
    this.writing.add(write);
    void write.finally(() => this.writing.delete(write)).catch(() => undefined);
    return write;
  }

  private executeSerialised(
    taskId: string,
    command: (state: TaskState) => TaskCommand | TaskCommand[],
    actor: string,
  ): Promise<Execution> {
    return this.serialised(taskId, async () => {
      for (let retry = 0; ; retry++) {
        const state = this.byId.get(taskId) ?? (await this.load(taskId));
        const events = decideAll(command(state), state).map(
          (event) => ({ ...event, data: { ...event.data, actor } }) as unknown as TaskEvent,
        );
        if (events.length === 0) return { state, events };
        try {
          await this.store.append(taskId, state.version, events, { epoch: this.epoch });
        } catch (error) {
          if (error instanceof StaleEpochError) this.onFenced();
          if (!(error instanceof ConcurrencyError) || retry >= 3) throw error;
          await this.load(taskId);
          continue;
        }
        const current = this.byId.get(taskId) ?? state;
        // A reload may have folded our own events first; fold only what is still missing.
        const missing = events.slice(current.version - state.version);
        const next = missing.reduce(evolve, current);
        this.put(taskId, next, current);
        if (missing.length > 0) this.onChange(taskId, next, missing);
        return { state: next, events };
      }
    });
  }

  /**
   * Forgets the tasks that became terminal here before `before` (ms), oldest first: the work is
   * the number forgotten, not the number held.
   */
  purgeTerminal(before: number): void {
    for (const [taskId, since] of this.terminalSince) {
      if (since >= before) return;
      this.terminalSince.delete(taskId);
      this.byId.delete(taskId);
    }
  }

  /** Holds a task's new state and files it by state (`previous`: the state it replaces, if any). */
  private put(taskId: string, state: TaskState, previous: TaskState | undefined): void {
    this.byId.set(taskId, state);
    if (previous?.state === state.state) return;
    const queued = state.state === "QUEUED";
    if (queued !== (previous?.state === "QUEUED")) {
      if (queued) this.queuedIds.add(taskId);
      else this.queuedIds.delete(taskId);
    }
    const active = hasAttemptOut(state);
    if (active !== (previous !== undefined && hasAttemptOut(previous))) {
      if (active) this.activeIds.add(taskId);
      else this.activeIds.delete(taskId);
    }
    if (isTerminal(state) && !(previous && isTerminal(previous))) this.terminalSince.set(taskId, Date.now());
  }

  private async load(taskId: string): Promise<TaskState> {
    const state = fold(await this.store.readTask(taskId));
    if (state.state === "NEW") {
      // Gone from the log (archived after it finished, past a stale snapshot's view): forget it.
      this.forget(taskId);
      throw new NotFoundError(`task ${taskId}`);
    }
    this.put(taskId, state, this.byId.get(taskId));
    return state;
  }

  private forget(taskId: string): void {
    const known = this.byId.get(taskId);
    if (!known) return;
    this.byId.delete(taskId);
    this.queuedIds.delete(taskId);
    this.activeIds.delete(taskId);
    this.terminalSince.delete(taskId);
  }

  private async reload(taskId: string): Promise<void> {
    await this.serialised(taskId, async () => {
      const before = this.byId.get(taskId)?.version ?? 0;
      const state = await this.load(taskId).catch(() => null);
      if (state && state.version !== before) this.onChange(taskId, state, []);
    });
  }

  private async serialised<T>(taskId: string, work: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(taskId) ?? Promise.resolve();
    const run = previous.then(work, work);
    const settled = run.catch(() => undefined);
    this.locks.set(taskId, settled);
    void settled.then(() => {
      if (this.locks.get(taskId) === settled) this.locks.delete(taskId);
    });
    return run;
  }
}

/**
 * Decides several commands in a row, each against the state the previous ones lead to, so that
 * their events are appended together — one atomic write, one round trip.
 */
function decideAll(commands: TaskCommand | TaskCommand[], state: TaskState): TaskEvent[] {
  if (!Array.isArray(commands)) return decide(commands, state);
  const events: TaskEvent[] = [];
  let current = state;
  for (const command of commands) {
    const decided = decide(command, current);
    events.push(...decided);
    current = decided.reduce(evolve, current);
  }
  return events;
}
