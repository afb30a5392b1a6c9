import type { TaskState } from "../../domain/task/index.ts";
import type { StoredEvent } from "../../event-store/stream-format.ts";
import { streamIdTime } from "../../event-store/stream-ids.ts";
import type { CheckpointMove } from "../checkpoints.ts";
import type { Queryable } from "../task-table.ts";
import type { RowState } from "../task-row.ts";

/** One entry of the task feed: an event as projected, with the task's state after it. */
export interface FeedEntry {
  partition: number;
  streamId: string;
  taskId: string;
  version: number;
  eventType: string;
  taskType: string;
  state: RowState;
  priority: number;
  /** When the log recorded it, Unix ms. */
  at: number;
}

/**
 * What the projector publishes on `${prefix}:task-feed` after each commit: the batch's feed entries
 * in commit order and the checkpoint moves they sit between, so a reader can tell a batch that
 * follows what it has seen from one after a gap (docs/task-feed.md).
 */
export interface FeedBatch {
  moves: CheckpointMove[];
  entries: FeedEntry[];
}

/** The Redis channel of the projector's feed batches. */
export function taskFeedChannel(prefix: string): string {
  return `${prefix}:task-feed`;
}

/** The feed entry of an applied event; null for a task without a spec (never projected). */
export function feedEntry(event: StoredEvent, after: TaskState): FeedEntry | null {
  if (after.spec === null || after.state === "NEW") return null;
  return {
    partition: event.partition,
    streamId: event.streamId,
    taskId: event.taskId,
    version: event.version,
    eventType: event.type,
    taskType: after.spec.type,
    state: after.state,
    priority: after.spec.priority,
    at: streamIdTime(event.streamId),
  };
}

const INSERT_FEED = `
  insert into task_feed (partition, stream_ms, stream_seq, task_id, version, event_type, task_type, state,
                         priority, recorded_at)
  select x.partition, x.ms, x.seq, x.task_id, x.version, x.event_type, x.task_type, x.state, x.priority,
         to_timestamp(x.at / 1000.0)
  from rows from (json_to_recordset($1::json) as (partition int, ms bigint, seq bigint, task_id text,
         version int, event_type text, task_type text, state text, priority int, at double precision))
    with ordinality as x(partition, ms, seq, task_id, version, event_type, task_type, state, priority, at, n)
  order by x.n`;

/** Appends a batch's entries to `task_feed`, in the order given (their `seq` follows it). */
export async function insertFeed(db: Queryable, entries: FeedEntry[]): Promise<void> {
  if (entries.length === 0) return;
  const json = JSON.stringify(
    entries.map((e) => {
      const dash = e.streamId.indexOf("-");
      return {
        partition: e.partition,
        ms: Number(e.streamId.slice(0, dash)),
        seq: Number(e.streamId.slice(dash + 1)),
        task_id: e.taskId,
        version: e.version,
        event_type: e.eventType,
        task_type: e.taskType,
        state: e.state,
        priority: e.priority,
        at: e.at,
      };
    }),
  );
  await db.query({ name: "task-feed-insert", text: INSERT_FEED, values: [json] });
}
