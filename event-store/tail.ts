import { setTimeout as sleep } from "node:timers/promises";
import type { Redis } from "ioredis";
import { parseEntryUnless, type StoredEvent } from "./stream-format.ts";
import type { FollowOptions } from "./event-log.ts";

/** What a tail needs of the Redis log: where each partition's log and intake live. */
interface StreamKeys {
  streamKey(partition: number): string;
  intakeKey(partition: number): string;
}

/**
 * Follows partition streams with blocking XREAD on a connection of its own (a blocked connection
 * can serve nothing else), yielding batches in log order per partition. RedisEventLog.follow's
 * engine. The caller owns progress:
 * the positions advance as batches are yielded, and a consumer that persists its checkpoint
 * resumes by passing it back in `from`.
 */
export async function* tailPartitions(
  store: StreamKeys,
  connection: Redis,
  options: FollowOptions,
): AsyncGenerator<StoredEvent[]> {
  const positions = new Map(options.from);
  const batchSize = options.batchSize ?? 1000;
  const blockMs = options.blockMs ?? 1000;
  const keyOf = (p: number) => (options.streams === "intake" ? store.intakeKey(p) : store.streamKey(p));
  const partitionByKey = new Map([...positions.keys()].map((p) => [keyOf(p), p]));
  while (!options.signal.aborted) {
    const keys = [...positions.keys()].map(keyOf);
    const ids = [...positions.values()];
    let reply: [string, [string, string[]][]][] | null;
    try {
      reply = await connection.xread("COUNT", batchSize, "BLOCK", blockMs, "STREAMS", ...keys, ...ids);
    } catch (error) {
      if (options.signal.aborted) return;
      throw error;
    }
    if (!reply) continue;
    let full = false;
    const batch: StoredEvent[] = [];
    for (const [key, entries] of reply) {
      const partition = partitionByKey.get(key)!;
      for (const entry of entries) {
        const event = parseEntryUnless(partition, entry, options.skip);
        if (event) batch.push(event);
      }
      if (entries.length >= batchSize) full = true;
      const last = entries.at(-1);
      if (last) positions.set(partition, last[0]);
    }
    if (batch.length > 0) yield batch;
    for (const [key] of reply) {
      const partition = partitionByKey.get(key)!;
      options.read?.(partition, positions.get(partition)!);
    }
    if (!full && options.pauseMs) await sleep(options.pauseMs);
  }
}
