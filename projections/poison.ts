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

/** Commits events; resolves with how many were applied, or null on a checkpoint conflict. */
type Commit = (events: StoredEvent[]) => Promise<number | null>;

/**
 * After a batch failed for a reason other than a transient one: each partition is committed on its
 * own, and a partition that still fails is split in halves, first half first, until the one event
 * that cannot be applied is found. Everything before that event is committed (each part is one
 * transaction with its checkpoint move, so nothing is applied twice or skipped). Returns what was
 * applied and where each partition stalled, or null on a checkpoint conflict.
 */
export async function isolatePoison(
  events: StoredEvent[],
  commit: Commit,
  now: number,
): Promise<{ applied: number; stalls: StalledPartition[] } | null> {
  const byPartition = new Map<number, StoredEvent[]>();
  for (const event of events) {
    const list = byPartition.get(event.partition);
    if (list) list.push(event);
    else byPartition.set(event.partition, [event]);
  }
  let applied = 0;
  const stalls: StalledPartition[] = [];
  for (const partitionEvents of byPartition.values()) {
    const outcome = await commitUntilPoison(partitionEvents, commit);
    if (outcome === null) return null;
    applied += outcome.applied;
    if (outcome.poison) stalls.push(stallAt(outcome.poison.event, outcome.poison.error, now));
  }
  return { applied, stalls };
}

/** Commits `events` (one partition, log order) up to the first one that cannot be applied. */
async function commitUntilPoison(
  events: StoredEvent[],
  commit: Commit,
): Promise<{ applied: number; poison?: { event: StoredEvent; error: unknown } } | null> {
  try {
    const applied = await commit(events);
    return applied === null ? null : { applied };
  } catch (error) {
    if (isTransient(error)) throw error;
    if (events.length === 1) return { applied: 0, poison: { event: events[0]!, error } };
  }
  const half = Math.ceil(events.length / 2);
  const first = await commitUntilPoison(events.slice(0, half), commit);
  if (first === null || first.poison) return first;
  const second = await commitUntilPoison(events.slice(half), commit);
  return second === null ? null : { ...second, applied: first.applied + second.applied };
}
