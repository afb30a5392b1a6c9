import { createHash } from "node:crypto";
import { newId } from "./ids.ts";
import {
  ConcurrencyError,
  IdempotencyConflictError,
  IllegalStateError,
  jsonTextProblem,
  NotFoundError,
  ValidationError,
  decide,
  evolve,
  fold,
  slotOfKey,
  withSlot,
  qualify,
  PARTITION_SLOTS,
  type TaskCommand,
  type TaskEvent,
  type TaskSpec,
  type TaskState,
} from "../domain/task/index.ts";
import type { EventLog } from "../event-store/event-log.ts";
import type { StoredEvent } from "../event-store/stream-format.ts";
import { taskView, type TaskView } from "../domain/task/view.ts";
import { TaskHistory } from "../event-store/history.ts";
import type { Admission } from "../queues/admission.ts";
import type { QueueSettingsStore } from "../queues/queue-settings.ts";
import { mapAllOrFail } from "./validation/collect.ts";
import { toTaskSpec, type SubmissionLimits, type TraceContext } from "./validation/task-spec.ts";
import {
  ANONYMOUS,
  inNamespace,
  principalActor,
  requireScope,
  resolveNamespace,
  type Principal,
} from "../auth/principal.ts";

export interface SubmitResult {
  id: string;
  deduplicated: boolean;
  /**
   * In a batch: the idempotency key was first used for a request with other fields; nothing was
   * written and `id` is the first request's task. (A single submission throws IdempotencyConflictError.)
   */
  conflict?: boolean;
}

export interface CommandOptions {
  onSubmitted?(spec: TaskSpec, deduplicated: boolean): void;
  /** Queue settings: retry defaults per type. */
  settings?: QueueSettingsStore;
  /** Admission control: refuses tasks for full queues. */
  admission?: Admission;
  /** Reads histories across the log and the archive (default: the log alone). */
  history?: TaskHistory;
}

/**
 * The command side shared by REST, gRPC and GraphQL: authorise, validate, decide against the task's
 * state folded from the log, append with an optimistic-concurrency check. Nothing is written for a
 * rejected request. Every method takes the caller (`principal`): the shells pass the authenticated
 * one; ANONYMOUS (every right) is the default for in-process callers and tests.
 */
export class TaskCommands {
  private readonly store: EventLog;
  private readonly histories: TaskHistory;
  private readonly limits: SubmissionLimits;
  private readonly options: CommandOptions;
  /** The hash of the request each keyed spec was validated from (a retry hashes the same). */
  private readonly requestHashes = new WeakMap<TaskSpec, string>();

  constructor(store: EventLog, limits: SubmissionLimits, options: CommandOptions = {}) {
    this.store = store;
    this.histories = options.history ?? new TaskHistory(store, null);
    this.limits = limits;
    this.options = options;
  }

  /** Validates and submits one task. */
  async submit(
    input: unknown,
    trace: TraceContext,
    principal: Principal = ANONYMOUS,
    now = Date.now(),
  ): Promise<SubmitResult> {
    requireScope(principal, "submit");
    await this.refreshSettings();
    const spec = this.validate(input, trace, principal, "", now);
    const [result] = await this.submitValidated([spec], principal, now);
    if (result!.conflict) throw new IdempotencyConflictError(spec.idempotencyKey ?? "", result!.id);
    return result!;
  }

  /** Validates every task first (errors name `tasks[i].field`, all of them at once), then submits them. */
  async submitMany(
    inputs: unknown[],
    trace: TraceContext,
    principal: Principal = ANONYMOUS,
    now = Date.now(),
  ): Promise<SubmitResult[]> {
    requireScope(principal, "submit");
    await this.refreshSettings();
    return this.submitValidated(
      mapAllOrFail(inputs, (input, i) => this.validate(input, trace, principal, `tasks[${i}].`, now)),
      principal,
      now,
    );
  }

  /** Brings the cached queue settings up to date (at most one read a second); call before validate. */
  async refreshSettings(): Promise<void> {
    await this.options.settings?.refresh();
  }

  /**
   * Checks a submission and fills in its defaults; throws PermissionDeniedError (the caller may not
   * submit), ValidationError or PayloadTooLargeError.
   */
  validate(
    input: unknown,
    trace: TraceContext,
    principal: Principal = ANONYMOUS,
    pathPrefix = "",
    now = Date.now(),
  ): TaskSpec {
    requireScope(principal, "submit");
    const type = (input as { type?: unknown } | null)?.type;
    const retryDefaults = typeof type === "string" ? this.options.settings?.queue(type)?.retry : null;
    const spec = toTaskSpec(input, this.limits, trace, pathPrefix, { now, retryDefaults });
    spec.namespace = resolveNamespace(
      principal,
      (input as { namespace?: unknown }).namespace,
      `${pathPrefix}namespace`,
    );
    if (spec.idempotencyKey !== null) this.requestHashes.set(spec, requestHash(input));
    return spec;
  }

  /** Submits tasks already validated, concurrently (the appends are pipelined to Redis), if their queues admit them. */
  async submitValidated(
    specs: TaskSpec[],
    principal: Principal = ANONYMOUS,
    now = Date.now(),
  ): Promise<SubmitResult[]> {
    requireScope(principal, "submit");
    await this.options.admission?.check(specs.map((spec) => spec.type));
    const actor = principalActor(principal);
    return Promise.all(specs.map((spec) => this.submitSpec(spec, actor, now)));
  }

  /** Revives a dead-lettered task with fresh attempts (its policy's maxAttempts unless given). */
  async retry(
    id: string,
    maxAttempts: number | null,
    reason: string,
    principal: Principal = ANONYMOUS,
    now = Date.now(),
  ): Promise<TaskView> {
    requireScope(principal, "submit");
    checkReason(reason);
    if (maxAttempts !== null && (!Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 1000)) {
      throw new ValidationError([{ field: "maxAttempts", reason: "must be an integer from 1 to 1000" }]);
    }
    const state = await this.execute(
      id,
      { type: "RetryTask", data: { maxAttempts, reason, now } },
      principal,
    );
    return taskView(id, state);
  }

  /** A task's current state, folded from its history (the log, and the archive once it left the log). */
  async get(id: string, principal: Principal = ANONYMOUS): Promise<TaskView> {
    requireScope(principal, "read");
    return taskView(id, (await this.load(id, principal)).state);
  }

  /** Every event of a task, in order, across the log and the archive. */
  async history(id: string, principal: Principal = ANONYMOUS): Promise<StoredEvent[]> {
    requireScope(principal, "read");
    const { events } = await this.histories.read(id);
    const submitted = events[0];
    if (submitted?.type !== "TaskSubmitted" || !inNamespace(principal, submitted.data.spec.namespace))
      throw new NotFoundError(`task ${id}`);
    return events;
  }

  /** Cancels a task; a task that is running gets a cancel request its dispatcher carries out. */
  async cancel(
    id: string,
    reason: string,
    principal: Principal = ANONYMOUS,
    now = Date.now(),
  ): Promise<TaskView> {
    requireScope(principal, "cancel");
    checkReason(reason);
    const state = await this.execute(
      id,
      {
        type: "CancelTask",
        data: { reason: reason || "cancelled by request", now },
      },
      principal,
    );
    return taskView(id, state);
  }

  private async submitSpec(spec: TaskSpec, actor: string, now: number): Promise<SubmitResult> {
    // An idempotency key belongs to its namespace: the same key in two namespaces names two tasks.
    const idempotencyKey = spec.idempotencyKey === null ? null : qualify(spec.namespace, spec.idempotencyKey);
    const slot = idempotencyKey === null ? randomSlot() : slotOfKey(idempotencyKey);
    const id = withSlot(newId(now), slot);
    const events = withActor(decide({ type: "SubmitTask", data: { spec, now } }, fold([])), actor);
    const hash = this.requestHashes.get(spec);
    const result = await this.store.append(id, 0, events, {
      idempotencyKey,
      requestHash: hash,
    });
    if (result.kind === "appended") {
      this.options.onSubmitted?.(spec, false);
      return { id, deduplicated: false };
    }
    const conflict = hash !== undefined && result.requestHash !== null && result.requestHash !== hash;
    if (!conflict) this.options.onSubmitted?.(spec, true);
    return conflict
      ? { id: result.taskId, deduplicated: true, conflict }
      : { id: result.taskId, deduplicated: true };
  }

  /**
   * A task's state; NotFoundError also when it is in a namespace the caller may not see, so a key
   * learns nothing of other tenants' tasks, not even that they exist.
   */
  private async load(id: string, principal: Principal): Promise<{ state: TaskState; archived: boolean }> {
    const { events, archived } = await this.histories.read(id);
    const state = fold(events);
    if (state.state === "NEW" || !inNamespace(principal, state.spec?.namespace ?? ""))
      throw new NotFoundError(`task ${id}`);
    return { state, archived };
  }

  /** Decide and append, re-reading the task when a concurrent writer got there first. */
  private async execute(id: string, command: TaskCommand, principal: Principal): Promise<TaskState> {
    for (let attempt = 0; ; attempt++) {
      const { state, archived } = await this.load(id, principal);
      const events = withActor(decide(command, state), principalActor(principal));
      if (events.length === 0) return state;
      if (archived)
        throw new IllegalStateError(`task ${id} finished and was archived: it can no longer change`);
      try {
        await this.store.append(id, state.version, events);
        return events.reduce(evolve, state);
      } catch (error) {
        if (!(error instanceof ConcurrencyError) || attempt >= 5) throw error;
      }
    }
  }
}

/**
 * The events with who caused them (domain/task/actor.ts), stored in each event's data as `actor`;
 * `evolve` ignores it.
 */
function withActor(events: TaskEvent[], actor: string): TaskEvent[] {
  return events.map((event) => ({ ...event, data: { ...event.data, actor } }) as unknown as TaskEvent);
}

/** Longest reason an operator may give for a cancel or a retry. */
export const MAX_REASON_LENGTH = 1024;

/** A reason is free text, kept in the log: storable (no NUL, no lone surrogate) and bounded. */
function checkReason(reason: string): void {
  const problem =
    reason.length > MAX_REASON_LENGTH
      ? `must be at most ${MAX_REASON_LENGTH} characters`
      : jsonTextProblem(reason);
  if (problem) throw new ValidationError([{ field: "reason", reason: problem }]);
}

/**
 * The request a keyed submission came with, as a stable hash: its fields as sent (object keys
 * sorted), so a retry of the same request matches and a different request under the same key
 * does not. Trace context is not part of the request.
 */
export function requestHash(input: unknown): string {
  const canonical = JSON.stringify(input, (_key, value: unknown) =>
    value !== null && typeof value === "object" && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : value,
  );
  return createHash("sha256")
    .update(canonical ?? "null")
    .digest("base64url")
    .slice(0, 22);
}

function randomSlot(): number {
  return Math.floor(Math.random() * PARTITION_SLOTS);
}
