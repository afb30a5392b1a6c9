import type { RecordedEvent, TaskEvent } from "../../domain/task/index.ts";

/** An event read back from a partition stream, with its stream entry id (its position in the log). */
export type StoredEvent = RecordedEvent & { streamId: string; partition: number };

/**
 * One stream entry per event, with flat fields: task, v (the task's version after it), type,
 * data (JSON). Flat fields keep entries small and let any language read the log.
 */
export function entryFields(taskId: string, version: number, event: TaskEvent): string[] {
  return ["task", taskId, "v", String(version), "type", event.type, "data", JSON.stringify(event.data)];
}

/** Parses an XRANGE/XREAD entry (`[id, [field, value, …]]`). */
export function parseEntry(partition: number, entry: [string, string[]]): StoredEvent {
  const [streamId, fields] = entry;
  const values: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) values[fields[i]!] = fields[i + 1]!;
  return {
    streamId,
    partition,
    taskId: values.task ?? "",
    version: Number(values.v),
    type: values.type,
    data: JSON.parse(values.data ?? "null"),
  } as StoredEvent;
}

/** Milliseconds part of a stream id: when Redis appended the entry. */
export function streamIdTime(streamId: string): number {
  return Number(streamId.slice(0, streamId.indexOf("-")));
}
