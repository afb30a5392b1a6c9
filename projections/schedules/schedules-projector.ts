import type pg from "pg";
import { evolve, fold, initialState, type ScheduleEvent } from "../../domain/schedule/index.ts";
import { FollowingService } from "../../event-store/following-service.ts";
import {
  SCHEDULE_PARTITION,
  type ScheduleStore,
  type StoredScheduleEvent,
} from "../../event-store/schedule-store.ts";
import { advanceCheckpoints, loadCheckpoints } from "../checkpoints.ts";
import { compareStreamIds, STREAM_START } from "../../event-store/stream-ids.ts";
import type { Queryable } from "../task-table.ts";
import { insertScheduleEvents, loadSchedules, upsertSchedules, type ScheduleRow } from "./schedule-table.ts";

export interface SchedulesProjectorOptions {
  store: ScheduleStore;
  pool: pg.Pool;
  /** Most events per transaction (default 1000). */
  batchSize?: number;
  /** How long one blocking read waits for news, in ms (default 1000). */
  blockMs?: number;
  /** Pause after an error before the loop tries again, in ms (default 1000). */
  retryMs?: number;
  /** Errors of the running loop (it retries). */
  onError?: (error: unknown) => void;
}

/**
 * Folds the schedule stream into `schedules`, `schedule_firings` and `schedule_events`, exactly
 * once, by the pattern of the tasks projector (docs/projection-checkpoints.md): each batch's rows,
 * events and checkpoint move commit in one transaction, the checkpoint (`${prefix}:sched:schedules`,
 * partition 0) by compare-and-set; an event at or below its row's version is skipped; a row that
 * does not follow its history (lost by hand) is rebuilt from the log first.
 */
export class SchedulesProjector extends FollowingService<ScheduleEvent> {
  /** The `projector` key of this projector's checkpoint row. */
  readonly checkpointKey: string;
  private readonly options: SchedulesProjectorOptions;
  private position = STREAM_START;

  constructor(options: SchedulesProjectorOptions) {
    super(options.store, {
      batchSize: options.batchSize ?? 1000,
      blockMs: options.blockMs,
      retryMs: options.retryMs,
    });
    this.options = options;
    this.checkpointKey = `${options.store.prefix}:schedules`;
  }

  /** Projects everything in the stream now; returns the events this call applied. */
  async catchUp(): Promise<number> {
    await this.exclusive(() => this.reload());
    let applied = 0;
    const pages = this.options.store.readAll(SCHEDULE_PARTITION, {
      after: this.position,
      pageSize: this.batchSize,
    });
    for await (const page of pages) applied += (await this.exclusive(() => this.commit(page))) ?? 0;
    return applied;
  }

  private get batchSize(): number {
    return this.options.batchSize ?? 1000;
  }

  protected override prepare(): Promise<void> {
    return this.reload();
  }

  protected override positions(): Map<number, string> {
    return new Map([[SCHEDULE_PARTITION, this.position]]);
  }

  /** Commits one batch; false (follow again from the reloaded checkpoint) after a conflict. */
  protected override async handle(batch: StoredScheduleEvent[]): Promise<boolean> {
    return (await this.commit(batch)) !== null;
  }

  protected override onFailure(error: unknown): void {
    super.onFailure(error);
    this.options.onError?.(error);
  }

  /** Commits one batch; returns the events applied, or null when another instance got there first. */
  private async commit(batch: StoredScheduleEvent[]): Promise<number | null> {
    const fresh = batch.filter((event) => compareStreamIds(event.streamId, this.position) > 0);
    if (fresh.length === 0) return 0;
    const next = fresh.at(-1)!.streamId;
    const client = await this.options.pool.connect();
    try {
      await client.query("begin");
      const move = { partition: SCHEDULE_PARTITION, expected: this.position, next };
      if (!(await advanceCheckpoints(client, this.checkpointKey, [move]))) {
        await client.query("rollback");
        client.release();
        await this.reload();
        return null;
      }
      const applied = await this.write(client, fresh);
      await client.query("commit");
      client.release();
      this.position = next;
      return applied;
    } catch (error) {
      const rolledBack = await client.query("rollback").then(
        () => true,
        () => false,
      );
      client.release(!rolledBack);
      throw error;
    }
  }

  private async write(db: Queryable, events: StoredScheduleEvent[]): Promise<number> {
    const rows = await loadSchedules(db, [...new Set(events.map((e) => e.taskId))]);
    const changed = new Map<string, ScheduleRow>();
    const applied: StoredScheduleEvent[] = [];
    for (const event of events) {
      let row = rows.get(event.taskId) ?? {
        id: event.taskId,
        state: initialState(),
        lastStreamId: STREAM_START,
      };
      if (event.version <= row.state.version) continue; // folded already (a replay)
      if (event.version !== row.state.version + 1) row = await this.rebuild(event);
      row = { id: row.id, state: evolve(row.state, event), lastStreamId: event.streamId };
      rows.set(row.id, row);
      changed.set(row.id, row);
      applied.push(event);
    }
    await upsertSchedules(db, [...changed.values()]);
    await insertScheduleEvents(db, applied);
    return applied.length;
  }

  /** The row as it stood just before `event`, folded from the schedule's history in the log. */
  private async rebuild(event: StoredScheduleEvent): Promise<ScheduleRow> {
    const before = (await this.options.store.readTask(event.taskId)).filter((e) => e.version < event.version);
    if (before[0]?.type !== "ScheduleCreated" && event.type !== "ScheduleCreated")
      throw new Error(`schedule ${event.taskId}: its history does not begin with ScheduleCreated`);
    return { id: event.taskId, state: fold(before), lastStreamId: before.at(-1)?.streamId ?? STREAM_START };
  }

  private async reload(): Promise<void> {
    const checkpoints = await loadCheckpoints(this.options.pool, this.checkpointKey, 1);
    this.position = checkpoints.get(SCHEDULE_PARTITION) ?? STREAM_START;
  }
}
