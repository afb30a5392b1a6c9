import type { EventLog } from "../event-store/event-log.ts";
import type { Logger } from "../observability/log.ts";
import type { IntakeFollower } from "./intake-follower.ts";
import type { LiveTasks } from "./live-tasks.ts";
import { encodeSnapshot } from "./snapshot-codec.ts";

/**
 * Takes a partition owner's snapshots (docs/snapshots.md): the partition's unfinished tasks as of a log
 * position P, so that the next leader folds the snapshot and only the log after P — a takeover
 * that costs the live tasks, not the history. Everything at or before P is folded when the
 * snapshot is taken: other writers' events because the intake follower has read past the intake
 * head taken after P (a log entry and its intake copy are written by one script), the leader's own
 * because every write started before P was read has settled.
 */
export class Snapshotter {
  private readonly log: EventLog;
  private readonly partition: number;
  private readonly epoch: number;
  private readonly live: LiveTasks;
  private readonly intake: IntakeFollower;
  private readonly logger: Logger;
  private timer: NodeJS.Timeout | null = null;
  private taking: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    log: EventLog,
    partition: number,
    epoch: number,
    live: LiveTasks,
    intake: IntakeFollower,
    logger: Logger,
  ) {
    this.log = log;
    this.partition = partition;
    this.epoch = epoch;
    this.live = live;
    this.intake = intake;
    this.logger = logger;
  }

  /** Takes snapshots every `intervalMs`, the first one after `firstAfterMs`. */
  start(intervalMs: number, firstAfterMs = intervalMs): void {
    const tick = () => {
      if (this.stopped) return;
      this.taking = this.takeAll()
        .catch((error: unknown) => {
          if (!this.stopped) this.logger.warn({ err: error }, "snapshot failed; the next one will try again");
        })
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, intervalMs);
        });
    };
    this.timer = setTimeout(tick, firstAfterMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.taking.catch(() => undefined);
  }

  /** One snapshot of the partition. */
  async takeAll(): Promise<void> {
    if (!this.stopped) await this.take(this.partition);
  }

  private async take(partition: number): Promise<void> {
    const position = await this.log.head(partition);
    const intakeHead = await this.log.intakeHead(partition);
    await Promise.all([this.intake.readPast(partition, intakeHead), this.live.settled()]);
    const tasks = [...this.live.unfinished()].filter(
      ([taskId]) => this.log.partitionOf(taskId) === partition,
    );
    const snapshot = encodeSnapshot({ partition, position, epoch: this.epoch, at: Date.now(), tasks });
    await this.log.saveSnapshot(partition, this.epoch, snapshot);
  }
}
