import type { TaskEvent } from "../domain/task/index.ts";
import type { ArchiveStore } from "./archive/archive-store.ts";
import type { EventLog, StoredOf } from "./event-log.ts";

/** A task's history, and where it was read from. */
export interface History {
  events: StoredOf<TaskEvent>[];
  /** Whether its first events came from the archive (the task finished and left the log). */
  archived: boolean;
}

/**
 * A task's whole history across the live log and the PostgreSQL archive, read as one, in order,
 * with nothing missing or doubled at the seam (docs/retention-and-archive.md): a task is archived
 * whole and only then removed from the log whole, so the log holds either all of a task's events
 * (read from there) or none of them (read from the archive). While both hold it — archived, not
 * yet removed — the log is the one read.
 */
export class TaskHistory {
  private readonly log: EventLog;
  private readonly archive: ArchiveStore | null;

  constructor(log: EventLog, archive: ArchiveStore | null) {
    this.log = log;
    this.archive = archive;
  }

  async read(taskId: string): Promise<History> {
    const live = await this.log.readTask(taskId);
    if (this.archive === null || live[0]?.version === 1) return { events: live, archived: false };
    const old = await this.archive.readTask(taskId);
    const from = live[0]?.version ?? Number.POSITIVE_INFINITY;
    const events = [...old.filter((event) => event.version < from), ...live];
    return { events, archived: old.length > 0 };
  }
}
