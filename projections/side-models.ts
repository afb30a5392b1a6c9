import type { TaskState } from "../domain/task/index.ts";
import type { StoredEvent } from "../event-store/stream-format.ts";
import { AnalyticsAccumulator } from "./analytics/accumulator.ts";
import { writeAnalytics } from "./analytics/analytics-table.ts";
import { feedEntry, insertFeed, type FeedEntry } from "./feed/feed-table.ts";
import { applyStateCounts, stateCountDeltas } from "./state-counts.ts";
import type { Queryable } from "./task-table.ts";
import type { TaskRow } from "./task-row.ts";

/**
 * The read models that ride on the tasks projector's batches — analytics per minute, the task
 * feed, counts by state — gathered while a batch folds and written in that batch's transaction, so
 * they move exactly when the `tasks` rows and the checkpoints move: once per event, never skipped,
 * never twice (docs/analytics.md). One instance per batch attempt.
 */
export class SideModels {
  private readonly analytics = new AnalyticsAccumulator();
  /** The batch's feed entries, in the order the fold applied them. */
  readonly feed: FeedEntry[] = [];

  /** The fold's observer (`foldBatch`'s `onApplied`). */
  readonly observe = (event: StoredEvent, before: TaskState, after: TaskState): void => {
    this.analytics.observe(event, before, after);
    const entry = feedEntry(event, after);
    if (entry) this.feed.push(entry);
  };

  /** Writes them, given the rows as they were before the batch and the rows it changed. */
  async write(
    db: Queryable,
    before: ReadonlyMap<string, TaskRow>,
    changed: readonly TaskRow[],
  ): Promise<void> {
    await applyStateCounts(db, stateCountDeltas(before, changed));
    await writeAnalytics(db, this.analytics);
    await insertFeed(db, this.feed);
  }
}
