/**
 * Task ids and partitions. A task id is a UUIDv7 whose last byte names its partition slot
 * (slot mod partition count = partition), so any process can find a task's stream from its id
 * alone. A submission with an idempotency key takes its slot from a hash of the key: two
 * submissions of one key meet in one partition, where one atomic script can deduplicate them.
 */
export const PARTITION_SLOTS = 256;

/** FNV-1a 32-bit hash of a string's UTF-16 code units; stable across languages that mirror it. */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

export function slotOfKey(idempotencyKey: string): number {
  return fnv1a(idempotencyKey) % PARTITION_SLOTS;
}

/** Replaces a UUID's last byte with `slot`. */
export function withSlot(uuid: string, slot: number): string {
  return uuid.slice(0, -2) + slot.toString(16).padStart(2, "0");
}

export function slotOfTaskId(taskId: string): number {
  const slot = Number.parseInt(taskId.slice(-2), 16);
  return Number.isNaN(slot) ? fnv1a(taskId) % PARTITION_SLOTS : slot;
}

export function partitionOfTaskId(taskId: string, partitions: number): number {
  return slotOfTaskId(taskId) % partitions;
}
