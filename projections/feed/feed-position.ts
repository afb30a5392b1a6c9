/** A stream id as two numbers: milliseconds and sequence ("1719999999999-3" → [1719999999999, 3]). */
export type StreamPoint = readonly [ms: number, seq: number];

/**
 * A position in the task feed: for each partition of the log, the stream id of the last entry a
 * reader has seen (absent: none yet). Stream ids only grow within a partition, so "every event past
 * this position" is well defined whatever order the projector committed partitions in, and survives
 * the feed's own numbering being redone (docs/task-feed.md).
 */
export type FeedPosition = Map<number, StreamPoint>;

export function parseStreamId(streamId: string): StreamPoint {
  const dash = streamId.indexOf("-");
  return dash < 0
    ? [Number(streamId), 0]
    : [Number(streamId.slice(0, dash)), Number(streamId.slice(dash + 1))];
}

/** Negative, zero or positive as `a` is before, at or after `b`. */
export function comparePoints(a: StreamPoint, b: StreamPoint): number {
  return a[0] - b[0] || a[1] - b[1];
}

/** Whether the reader at `position` has already seen the entry at `point` of `partition`. */
export function covers(position: FeedPosition, partition: number, point: StreamPoint): boolean {
  const seen = position.get(partition);
  return seen !== undefined && comparePoints(point, seen) <= 0;
}

/** Moves `position` forward in `partition` to `point` (never back). */
export function advance(position: FeedPosition, partition: number, point: StreamPoint): void {
  if (!covers(position, partition, point)) position.set(partition, point);
}

/** Opaque to clients: base64url of "partition:ms-seq" pairs joined by ",". */
export function encodePosition(position: FeedPosition): string {
  const parts = [...position]
    .sort(([a], [b]) => a - b)
    .map(([partition, [ms, seq]]) => `${partition}:${ms}-${seq}`);
  return Buffer.from(parts.join(",")).toString("base64url");
}

const PAIR = /^(\d{1,3}):(\d{1,15})-(\d{1,15})$/;

/** Reads a cursor made by encodePosition; null for anything else. */
export function decodePosition(cursor: string): FeedPosition | null {
  if (!/^[\w-]*$/.test(cursor) || cursor.length > 16_384) return null;
  const text = Buffer.from(cursor, "base64url").toString("utf8");
  const position: FeedPosition = new Map();
  if (text === "") return position;
  for (const pair of text.split(",")) {
    const match = PAIR.exec(pair);
    if (!match) return null;
    position.set(Number(match[1]), [Number(match[2]), Number(match[3])]);
  }
  return position;
}
