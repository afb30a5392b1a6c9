import { setTimeout as sleep } from "node:timers/promises";
import { parseEntryUnless, type StoredEvent } from "./stream-format.ts";
import type { FollowOptions } from "./event-log.ts";
import { slotOfRedisKey, type RedisClient } from "./redis-client.ts";

/** What a tail needs of the Redis log: where each partition's log and intake live. */
interface StreamKeys {
  streamKey(partition: number): string;
  intakeKey(partition: number): string;
}

/**
 * Follows partitions with blocking reads on connections of their own (`open` makes one, closed
 * when following ends). On one Redis, one XREAD covers every partition. On a Redis Cluster a
 * command's keys must share a hash slot, and each partition has a slot of its own (its `{pN}` tag):
 * there, each slot's partitions are followed on a connection of their own, and the batches of all
 * of them are yielded as they come, each in log order for its partitions.
 */
export async function* followPartitions(
  store: StreamKeys,
  open: () => RedisClient,
  options: FollowOptions & { split: boolean },
): AsyncGenerator<StoredEvent[]> {
  const groups = options.split ? bySlot(store, options) : [options.from];
  const stop = new AbortController();
  const abort = () => stop.abort();
  options.signal.addEventListener("abort", abort, { once: true });
  const connections = groups.map(() => open());
  const closeAll = () => connections.forEach((connection) => connection.disconnect());
  stop.signal.addEventListener("abort", closeAll, { once: true });
  try {
    const tails = groups.map((from, i) =>
      tailPartitions(store, connections[i]!, { ...options, from, signal: stop.signal }),
    );
    yield* tails.length === 1 ? tails[0]! : merge(tails);
  } finally {
    options.signal.removeEventListener("abort", abort);
    stop.abort();
  }
}

/** The followed partitions grouped by the hash slot of the stream each one is read from. */
function bySlot(store: StreamKeys, options: FollowOptions): Map<number, string>[] {
  const groups = new Map<number, Map<number, string>>();
  for (const [partition, position] of options.from) {
    const key = options.streams === "intake" ? store.intakeKey(partition) : store.streamKey(partition);
    const slot = slotOfRedisKey(key);
    if (!groups.has(slot)) groups.set(slot, new Map());
    groups.get(slot)!.set(partition, position);
  }
  return [...groups.values()];
}

/**
 * The values of several iterators, each as soon as it comes; each iterator is asked for its next
 * value only after the one before was consumed (so a tail's `read` callback keeps its meaning).
 * The first error ends the whole.
 */
async function* merge<T>(sources: AsyncIterator<T>[]): AsyncGenerator<T> {
  const pending = new Map<number, Promise<{ index: number; result: IteratorResult<T> }>>();
  const pull = (index: number) =>
    pending.set(
      index,
      sources[index]!.next().then((result) => ({ index, result })),
    );
  sources.forEach((_, index) => pull(index));
  try {
    while (pending.size > 0) {
      const { index, result } = await Promise.race(pending.values());
      if (result.done) {
        pending.delete(index);
        continue;
      }
      yield result.value;
      pull(index);
    }
  } finally {
    // The others end once their connections close; what they answer then is of no interest.
    for (const promise of pending.values()) promise.catch(() => undefined);
  }
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
  connection: RedisClient,
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
