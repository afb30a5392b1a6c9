import { v7 as uuidv7 } from "uuid";
import { describe, expect, it } from "vitest";
import { PARTITION_SLOTS, fnv1a, partitionOfTaskId, slotOfKey, slotOfTaskId, withSlot } from "./partition.ts";

/** How the event store places an idempotency key (event-store/keys.ts). */
const partitionOfKey = (key: string, partitions: number) => slotOfKey(key) % partitions;

describe("partition", () => {
  it("fnv1a matches the reference FNV-1a 32-bit values", () => {
    expect(fnv1a("")).toBe(0x811c9dc5);
    expect(fnv1a("a")).toBe(0xe40c292c);
    expect(fnv1a("foobar")).toBe(0xbf9cf968);
  });

  it("withSlot and slotOfTaskId round-trip every slot", () => {
    for (let slot = 0; slot < PARTITION_SLOTS; slot++) {
      const id = withSlot(uuidv7(), slot);
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(slotOfTaskId(id)).toBe(slot);
    }
  });

  it("withSlot keeps all but the last byte", () => {
    const uuid = uuidv7();
    expect(withSlot(uuid, 0xab).slice(0, -2)).toBe(uuid.slice(0, -2));
  });

  it("slotOfKey stays within the slots", () => {
    for (const key of ["", "a", "order-42", "ключ", "🙂"]) {
      const slot = slotOfKey(key);
      expect(Number.isInteger(slot) && slot >= 0 && slot < PARTITION_SLOTS).toBe(true);
    }
  });

  it("falls back to a hash for an id that does not end in a hex byte", () => {
    expect(slotOfTaskId("task-xyz")).toBe(fnv1a("task-xyz") % PARTITION_SLOTS);
  });

  it.each([1, 3, 8, 16, 256])("puts an id slotted by its key in the key's partition, of %i", (partitions) => {
    for (let i = 0; i < 200; i++) {
      const key = `idem-${i}-${partitions}`;
      const id = withSlot(uuidv7(), slotOfKey(key));
      const partition = partitionOfTaskId(id, partitions);
      expect(partition).toBe(partitionOfKey(key, partitions));
      expect(partition).toBeGreaterThanOrEqual(0);
      expect(partition).toBeLessThan(partitions);
    }
  });
});
