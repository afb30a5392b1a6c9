import { EventEmitter } from "node:events";
import type { TaskEvent } from "../domain/task/index.ts";
import type { EventLog } from "../event-store/event-log.ts";
import { FollowingService } from "../event-store/following-service.ts";
import type { StoredEvent } from "../event-store/stream-format.ts";
import { compareStreamIds, streamIdAfter } from "../event-store/stream-ids.ts";
import type { Logger } from "../observability/log.ts";
import type { LiveTasks } from "./live-tasks.ts";

/**
 * The leader's view of what others write: it follows the partitions' intakes (the copies of the
 * unfenced writers' events — submissions, cancel requests, revivals — docs/dispatcher-intake.md)
 * from the heads taken before the rebuild, folds them into the live tasks, and trims what it has
 * read, fenced by the term's epoch. Its own writes it folds as it makes them.
 */
export class IntakeFollower extends FollowingService<TaskEvent> {
  private readonly live: LiveTasks;
  private readonly epoch: number;
  private readonly logger: Logger;
  /** Per partition, the last intake entry folded, and the one the intake was last trimmed to. */
  private readonly read = new Map<number, string>();
  private readonly trimmed = new Map<number, string>();
  /** Announces each move of a read position (readPast waits on it). */
  private readonly progress = new EventEmitter();

  constructor(store: EventLog, epoch: number, live: LiveTasks, heads: Map<number, string>, logger: Logger) {
    super(store, {
      streams: "intake",
      // A read at most every 2 ms: many entries per round trip under load, little added delay.
      pauseMs: 2,
      // Events the rebuild already folded (the intake and the log overlap at the start).
      skip: (taskId, version) => (live.states.get(taskId)?.version ?? 0) >= version,
      read: (partition, entryId) => {
        this.read.set(partition, entryId);
        this.progress.emit("read");
      },
    });
    this.live = live;
    this.epoch = epoch;
    this.logger = logger;
    for (const [partition, head] of heads) this.read.set(partition, head);
  }

  /**
   * Resolves once the follower has read the partition's intake up to `entryId` (an intake entry
   * id, as `intakeHead` gives it); rejects after `timeoutMs`.
   */
  async readPast(partition: number, entryId: string, timeoutMs = 10_000): Promise<void> {
    const reached = () => compareStreamIds(this.read.get(partition) ?? "0-0", entryId) >= 0;
    if (reached()) return;
    await new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!reached()) return;
        cleanup();
        resolve();
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`intake of partition ${partition} not read to ${entryId} within ${timeoutMs} ms`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.progress.off("read", check);
      };
      this.progress.on("read", check);
    });
  }

  protected override positions(): Map<number, string> {
    return new Map(this.read);
  }

  protected override async handle(batch: StoredEvent[]): Promise<boolean> {
    for (const event of batch) this.live.apply(event);
    return true;
  }

  protected override onFailure(error: unknown): void {
    super.onFailure(error);
    this.logger.warn({ err: error }, "intake read failed; following again");
  }

  /**
   * Drops the intake entries this term has folded — through the last one read, so an intake that
   * is caught up is empty (the archiver reads its oldest entry as "not yet read") — fenced by the
   * term's epoch.
   */
  trim(): void {
    for (const [partition, entryId] of this.read) {
      if (this.trimmed.get(partition) === entryId || entryId === "0-0") continue;
      this.trimmed.set(partition, entryId);
      void this.log.trimIntake(partition, this.epoch, streamIdAfter(entryId)).catch((error: unknown) => {
        if (this.following) this.logger.warn({ err: error, partition }, "intake trim failed");
      });
    }
  }
}
