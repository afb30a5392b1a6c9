import { newId } from "../ids.ts";
import {
  decide,
  evolve,
  fold,
  initialState,
  type ScheduleCommand,
  type ScheduleState,
} from "../../domain/schedule/index.ts";
import { ConcurrencyError, NotFoundError } from "../../domain/task/index.ts";
import type { TaskCommands } from "../task-commands.ts";
import { ScheduleIndex } from "../../event-store/schedule-index.ts";
import { parseListQuery, parseScheduleInput } from "./schedule-input.ts";
import type { ScheduleStore, StoredScheduleEvent } from "../../event-store/schedule-store.ts";
import { scheduleView, type ScheduleView } from "../../domain/schedule/view.ts";
import {
  ANONYMOUS,
  inNamespace,
  requireScope,
  resolveNamespace,
  type Principal,
} from "../../auth/principal.ts";
import { scheduleNamespace } from "../../domain/schedule/namespace.ts";

/** No trace context: a schedule's template is checked outside any submission. */
const NO_TRACE = { traceparent: null, tracestate: null };

/** One page of schedules, and the `after` of the next page (null on the last). */
export interface SchedulePage {
  schedules: ScheduleView[];
  nextAfter: string | null;
}

/**
 * The schedule command side shared by REST, gRPC and GraphQL: validate, decide against the
 * schedule's state folded from the log, append with an optimistic-concurrency check. Nothing is
 * written for a rejected request. The task template is checked by the same rules as a submission
 * (through `TaskCommands.validate`), so a schedule cannot hold a task that would be refused later.
 */
export class ScheduleCommands {
  private readonly store: ScheduleStore;
  private readonly tasks: TaskCommands;
  private readonly index: ScheduleIndex;

  constructor(store: ScheduleStore, tasks: TaskCommands) {
    this.store = store;
    this.tasks = tasks;
    this.index = new ScheduleIndex(store);
  }

  /** Validates and creates a schedule (status ACTIVE); its id is a fresh UUIDv7. */
  async create(input: unknown, principal: Principal = ANONYMOUS, now = Date.now()): Promise<ScheduleView> {
    requireScope(principal, "submit");
    await this.tasks.refreshSettings();
    const definition = parseScheduleInput(
      input,
      (template) => void this.tasks.validate(template, NO_TRACE, principal, "task.", now),
      now,
    );
    // The schedule belongs to its template's namespace, fixed now: its firings are submitted by
    // the scheduler, whose key is not the creator's.
    const template = definition.task as { namespace?: unknown };
    definition.task = {
      ...definition.task,
      namespace: resolveNamespace(principal, template.namespace, "task.namespace"),
    };
    const id = newId();
    const events = decide({ type: "CreateSchedule", data: { ...definition, now } }, initialState());
    await this.store.append(id, 0, events);
    return scheduleView(id, events.reduce(evolve, initialState()));
  }

  /** A schedule's current state, folded from its events in the log. */
  async get(id: string, principal: Principal = ANONYMOUS): Promise<ScheduleView> {
    requireScope(principal, "read");
    return scheduleView(id, await this.load(id, principal));
  }

  /**
   * Schedules in id order (UUIDv7: creation order), `limit` per page after the id `after`; by
   * `status` when given, else every schedule not deleted. Folded from the log, incrementally.
   */
  async list(
    query: { status?: unknown; limit?: unknown; after?: unknown } = {},
    principal: Principal = ANONYMOUS,
  ): Promise<SchedulePage> {
    requireScope(principal, "read");
    const { status, limit, after } = parseListQuery(query);
    await this.index.refresh();
    const wanted = (s: ScheduleState) => (status ? s.status === status : s.status !== "DELETED");
    const matching = [...this.index.entries()]
      .filter(
        ([id, state]) =>
          (after === null || id > after) &&
          wanted(state) &&
          inNamespace(principal, scheduleNamespace(state.task)),
      )
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const page = matching.slice(0, limit).map(([id, state]) => scheduleView(id, state));
    return { schedules: page, nextAfter: matching.length > limit ? page.at(-1)!.id : null };
  }

  /** Pauses a schedule: it does not fire until resumed. Pausing a paused schedule changes nothing. */
  async pause(id: string, principal: Principal = ANONYMOUS, now = Date.now()): Promise<ScheduleView> {
    requireScope(principal, "submit");
    return this.execute(id, { type: "PauseSchedule", data: { now } }, principal);
  }

  /** Resumes a paused schedule from now on: firings that fell due while paused are not fired. */
  async resume(id: string, principal: Principal = ANONYMOUS, now = Date.now()): Promise<ScheduleView> {
    requireScope(principal, "submit");
    return this.execute(id, { type: "ResumeSchedule", data: { now } }, principal);
  }

  /** Deletes a schedule for good (it stays readable, DELETED). */
  async delete(id: string, principal: Principal = ANONYMOUS, now = Date.now()): Promise<ScheduleView> {
    requireScope(principal, "submit");
    return this.execute(id, { type: "DeleteSchedule", data: { now } }, principal);
  }

  /** Every event of a schedule, in order, from the log. */
  async history(id: string, principal: Principal = ANONYMOUS): Promise<StoredScheduleEvent[]> {
    requireScope(principal, "read");
    const events = await this.store.readTask(id);
    if (events.length === 0 || !inNamespace(principal, scheduleNamespace(fold(events).task)))
      throw new NotFoundError(`schedule ${id}`);
    return events;
  }

  /** A schedule's state; NotFoundError also when it is in a namespace the caller may not see. */
  private async load(id: string, principal: Principal): Promise<ScheduleState> {
    const state = fold(await this.store.readTask(id));
    if (state.status === "NEW" || !inNamespace(principal, scheduleNamespace(state.task)))
      throw new NotFoundError(`schedule ${id}`);
    return state;
  }

  /** Decide and append, re-reading the schedule when a concurrent writer (the leader's firing) got there first. */
  private async execute(id: string, command: ScheduleCommand, principal: Principal): Promise<ScheduleView> {
    for (let attempt = 0; ; attempt++) {
      const state = await this.load(id, principal);
      const events = decide(command, state);
      if (events.length === 0) return scheduleView(id, state);
      try {
        await this.store.append(id, state.version, events);
        return scheduleView(id, events.reduce(evolve, state));
      } catch (error) {
        if (!(error instanceof ConcurrencyError) || attempt >= 5) throw error;
      }
    }
  }
}
