import type { StoredEvent } from "../event-store/stream-format.ts";

/**
 * Errors a projector meets when it writes a batch fall in two kinds. A transient one (PostgreSQL
 * restarting, a dropped connection, a serialization failure) is retried as it is: the same batch
 * will go through later. Any other error is deterministic for some event of the batch — PostgreSQL
 * refusing a value, a history that cannot be folded — and retrying the batch would fail forever.
 * The projector then isolates the event (docs/projection-checkpoints.md, "Poison events").
 */
export function isTransient(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string") {
    // SQLSTATE classes: 08 connection, 40 rollback (serialization, deadlock), 53 resources,
    // 57 operator intervention (shutdown), 58 system error.
    if (/^(08|40|53|57|58)[0-9A-Z]{3}$/.test(code)) return true;
    if (/^E[A-Z]+$/.test(code)) return true; // ECONNREFUSED, ECONNRESET, ETIMEDOUT, EPIPE…
  }
  const message = error instanceof Error ? error.message : String(error);
  return /Connection terminated|connection timeout|Client has encountered a connection error|timeout exceeded|Connection is closed|MaxRetriesPerRequest|ECONNREFUSED|ECONNRESET/i.test(
    message,
  );
}

/** A partition a projector stopped at: the first event it cannot apply, and why. */
export interface StalledPartition {
  partition: number;
  streamId: string;
  taskId: string;
  eventType: string;
  error: string;
  since: number;
}

/** The error a projector reports when it stops a partition at a poison event. */
export class ProjectionStalledError extends Error {
  readonly stall: StalledPartition;
  constructor(stall: StalledPartition) {
    super(
      `projection of partition ${stall.partition} stopped at ${stall.streamId} ` +
        `(task ${stall.taskId}, ${stall.eventType}): ${stall.error}`,
    );
    this.name = "ProjectionStalledError";
    this.stall = stall;
  }
}

/** The stall record for `event`, which could not be applied because of `error`. */
export function stallAt(event: StoredEvent, error: unknown, now: number): StalledPartition {
  return {
    partition: event.partition,
    streamId: event.streamId,
    taskId: event.taskId,
    eventType: event.type,
    error: error instanceof Error ? error.message : String(error),
    since: now,
  };
}
