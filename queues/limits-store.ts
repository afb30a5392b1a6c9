/**
 * The dispatch limits every partition's owner shares (docs/partition-ownership.md): a token bucket
 * per queue and a permit per running task of a concurrency key. In Redis (shared-limits.ts) for the
 * dispatchers of a cluster; in memory (memory-limits.ts) for tests.
 */
export interface LimitsStore {
  /** Takes up to `wanted` tokens of the queue's bucket; also says how long until the next one. */
  takeTokens(
    type: string,
    rate: number,
    burst: number,
    wanted: number,
  ): Promise<{ granted: number; waitMs: number }>;
  /** Takes one of the key's `limit` running slots for the task; false when all are taken. */
  acquirePermit(key: string, taskId: string, partition: number, limit: number): Promise<boolean>;
  /** Records that the task runs under the key, whatever the count (found running in the log). */
  holdPermit(key: string, taskId: string, partition: number): Promise<void>;
  releasePermit(key: string, taskId: string): Promise<void>;
  /** The permits the partition's tasks hold, per key (to free those a crashed owner left behind). */
  permitsOf(partition: number): Promise<Map<string, string[]>>;
}
