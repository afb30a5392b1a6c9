import { eventFromStored, type RecordedEvent } from "../domain/task/index.ts";

/** An event read back from a partition stream, with its stream entry id (its position in the log). */
export type StoredEvent = RecordedEvent & {
  streamId: string;
  partition: number;
  /** The data as the log holds it (JSON text), when read from the log: copied without re-encoding. */
  rawData?: string;
};

/**
 * Parses an XRANGE/XREAD entry (`[id, [field, value, …]]`). The append script writes one entry per
 * event with flat fields — task, v (the task's version after it), type, data (JSON) — which keeps
 * entries small and lets any language read the log. A submission's spec is stored without the
 * fields equal to their defaults (domain/task/compact-spec.ts) and made whole here. An intake entry carries the same fields and
 * then `id`, the event's id in the log, which becomes its `streamId`.
 */
export function parseEntry(partition: number, entry: [string, string[]]): StoredEvent {
  return parseEntryUnless(partition, entry, undefined)!;
}

/**
 * parseEntry, or null when `skip` says the reader already holds the event (say, its own write):
 * asked before the data is parsed, it spares the reader the JSON work.
 */
export function parseEntryUnless(
  partition: number,
  entry: [string, string[]],
  skip: ((taskId: string, version: number) => boolean) | undefined,
): StoredEvent | null {
  const [entryId, fields] = entry;
  // The append script writes the fields in this order; anything else is read by name.
  const values: Record<string, string | undefined> =
    (fields.length === 8 || (fields.length === 10 && fields[8] === "id")) &&
    fields[0] === "task" &&
    fields[2] === "v" &&
    fields[4] === "type" &&
    fields[6] === "data"
      ? { task: fields[1], v: fields[3], type: fields[5], data: fields[7], id: fields[9] }
      : byName(fields);
  if (skip?.(values.task ?? "", Number(values.v))) return null;
  // The data as stored (a submission's spec without its defaults), made whole for the reader.
  return eventFromStored({
    streamId: values.id ?? entryId,
    partition,
    taskId: values.task ?? "",
    version: Number(values.v),
    type: values.type,
    data: JSON.parse(values.data ?? "null") as unknown,
    rawData: values.data ?? "null",
  } as StoredEvent);
}

function byName(fields: string[]): Record<string, string> {
  const values: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) values[fields[i]!] = fields[i + 1]!;
  return values;
}
