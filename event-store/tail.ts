import { setTimeout as sleep } from "node:timers/promises";
import type { Redis } from "ioredis";
import { parseEntryUnless, type StoredEvent } from "./stream-format.ts";
import type { EventStore } from "./event-store.ts";

export interface TailOptions {
  /** Partitions to follow, each from the stream id after which to start ('0' = from the beginning). */
  from: Map<number, string>;
  /** Most entries per partition per read. */
  batchSize?: number;
  /** How long one blocking read waits for news, in ms. */
  blockMs?: number;
  /**
   * Pause after a read that was not full, in ms (default 0): under a steady trickle each read then
   * brings many entries instead of one or two — fewer round trips for both sides, for at most this
   * much delay.
   */
  pauseMs?: number;
  signal: AbortSignal;
  /** Entries the caller already holds (by task and version): left out, their data never parsed. */
  skip?: (taskId: string, version: number) => boolean;
  /**
   * Which streams to follow: the partitions' logs (default), or their intakes — the copies of the
   * unfenced writers' events that the leading dispatcher follows (docs/dispatcher-intake.md).
   */
  streams?: "log" | "intake";
  /** Told the id of the last entry read in a partition, once the batch holding it is yielded. */
  read?: (partition: number, entryId: string) => void;
}

/**
 * Follows partition streams with blocking XREAD on a connection of its own (a blocked connection
 * can serve nothing else), yielding batches in log order per partition. The caller owns progress:
 * the positions advance as batches are yielded, and a consumer that persists its checkpoint
 * resumes by passing it back in `from`.
 */
export async function* tailPartitions(
  store: EventStore,
  connection: Redis,
  options: TailOptions,
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
