import { partitionOfTaskId, slotOfKey } from "../domain/task/index.ts";

/**
 * Redis key layout. Every key of a partition carries the hash tag `{p<N>}`, so one partition lives
 * in one Redis Cluster slot and a single script can touch all of its keys atomically.
 *   ts:{pN}:events         the partition's event stream (the source of truth)
 *   ts:{pN}:ids:<bucket>   per task of the bucket, the stream ids of its events, in order, space-
 *                          separated (its version = their count): one small hash per 1/4096 of a
 *                          partition's tasks instead of a key per task (a key costs ~250 bytes of
 *                          Redis, a hash field ~110)
 *   ts:{pN}:idem:<key>     idempotency key → task id, expiring with the dedup window
 *   ts:{pN}:epoch          the highest dispatcher fencing epoch this partition has accepted
 *   ts:{pN}:snapshot       the leader's snapshot of the partition's live tasks at a log position
 *   ts:{pN}:intake         a copy of the events unfenced writers (the command API) appended, for the
 *                          leading dispatcher, trimmed as it reads them (docs/dispatcher-intake.md)
 */
export interface PartitionKeys {
  partition: number;
  events: string;
  epoch: string;
  intake: string;
  snapshot: string;
}

export function partitionKeys(partition: number, prefix = "ts"): PartitionKeys {
  const tag = `${prefix}:{p${partition}}`;
  return {
    partition,
    events: `${tag}:events`,
    epoch: `${tag}:epoch`,
    intake: `${tag}:intake`,
    snapshot: `${tag}:snapshot`,
  };
}

/** Buckets per partition of the task index (the last three hex digits of the id: its random part). */
export const TASK_INDEX_BUCKETS = 4096;

/** The hash that holds the task's event ids (its field is the task id). */
export function taskIndexKey(taskId: string, partitions: number, prefix = "ts"): string {
  const bucket = taskId.slice(-3).toLowerCase();
  return `${prefix}:{p${partitionOfTaskId(taskId, partitions)}}:ids:${/^[0-9a-f]{3}$/.test(bucket) ? bucket : "000"}`;
}

export function idempotencyKey(key: string, partitions: number, prefix = "ts"): string {
  return `${prefix}:{p${slotOfKey(key) % partitions}}:idem:${key}`;
}
