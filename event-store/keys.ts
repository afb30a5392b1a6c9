import { partitionOfTaskId, slotOfKey } from "../domain/task/index.ts";

/**
 * Redis key layout. Every key of a partition carries the hash tag `{p<N>}`, so one partition lives
 * in one Redis Cluster slot and a single script can touch all of its keys atomically.
 *   ts:{pN}:events         the partition's event stream (the source of truth)
 *   ts:{pN}:task:<id>      the stream ids of one task's events, in order (its version = length)
 *   ts:{pN}:idem:<key>     idempotency key → task id, expiring with the dedup window
 *   ts:{pN}:epoch          the highest dispatcher fencing epoch this partition has accepted
 *   ts:{pN}:intake         a copy of the events unfenced writers (the command API) appended, for the
 *                          leading dispatcher, trimmed as it reads them (docs/dispatcher-intake.md)
 */
export interface PartitionKeys {
  partition: number;
  events: string;
  epoch: string;
  intake: string;
}

export function partitionKeys(partition: number, prefix = "ts"): PartitionKeys {
  const tag = `${prefix}:{p${partition}}`;
  return { partition, events: `${tag}:events`, epoch: `${tag}:epoch`, intake: `${tag}:intake` };
}

export function taskHistoryKey(taskId: string, partitions: number, prefix = "ts"): string {
  return `${prefix}:{p${partitionOfTaskId(taskId, partitions)}}:task:${taskId}`;
}

export function idempotencyKey(key: string, partitions: number, prefix = "ts"): string {
  return `${prefix}:{p${slotOfKey(key) % partitions}}:idem:${key}`;
}
