import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { v7 as uuidv7 } from "uuid";
import { StaleEpochError } from "../domain/task/index.ts";
import { on } from "../projections/testing/read-model-fixture.ts";
import { testServices, uniquePrefix } from "../tests/support/services.ts";
import { EventStore } from "./event-store.ts";
import { tailPartitions } from "./tail.ts";
import type { StoredEvent } from "./stream-format.ts";

// The events of the usual life of a task, as the read side's tests build them.
const submitted = on.submitted(1);
const assigned = on.assigned(1, 2);
const cancelRequested = on.cancelRequested(3);

describe("the dispatcher intake (docs/dispatcher-intake.md)", () => {
  let redis: Redis;

  beforeAll(() => {
    redis = new Redis(testServices.redisUrl, { enableAutoPipelining: true });
  });
  afterAll(() => redis.disconnect());

  /** Everything in the partition's intake, parsed as the dispatcher parses it. */
  async function intakeEvents(store: EventStore, partition: number): Promise<StoredEvent[]> {
    const abort = new AbortController();
    const connection = redis.duplicate();
    const events: StoredEvent[] = [];
    try {
      const from = new Map([[partition, "0-0"]]);
      for await (const batch of tailPartitions(store, connection, {
        streams: "intake",
        from,
        blockMs: 50,
        signal: abort.signal,
      })) {
        events.push(...batch);
        if ((await redis.xlen(store.intakeKey(partition))) <= events.length) break;
      }
    } finally {
      abort.abort();
      connection.disconnect();
    }
    return events;
  }

  it("copies the unfenced writers' events with their log ids, and leaves the dispatcher's own out", async () => {
    const store = new EventStore(redis, { partitions: 1, prefix: uniquePrefix("intake") });
    const id = uuidv7();
    await store.append(id, 0, [submitted]);
    await store.append(id, 1, [assigned], { epoch: 3 });
    await store.append(id, 2, [cancelRequested]);
    const log = await store.readPartition(0, "0", 10);
    expect(log.map((e) => e.type)).toEqual(["TaskSubmitted", "TaskAssigned", "TaskCancelRequested"]);

    const intake = await intakeEvents(store, 0);
    expect(intake.map((e) => [e.type, e.version, e.streamId])).toEqual([
      ["TaskSubmitted", 1, log[0]!.streamId],
      ["TaskCancelRequested", 3, log[2]!.streamId],
    ]);
    expect(intake[0]!.data).toEqual(submitted.data);
    expect(intake[0]!.taskId).toBe(id);
  });

  it("writes no intake for a store that turns it off, nor for an append that fails its checks", async () => {
    const quiet = new EventStore(redis, { partitions: 1, prefix: uniquePrefix("no-intake"), intake: false });
    await quiet.append(uuidv7(), 0, [submitted]);
    expect(await redis.exists(quiet.intakeKey(0))).toBe(0);

    const store = new EventStore(redis, { partitions: 1, prefix: uniquePrefix("intake-conflict") });
    const id = uuidv7();
    await store.append(id, 0, [submitted]);
    await expect(store.append(id, 0, [submitted])).rejects.toThrow();
    expect(await redis.xlen(store.intakeKey(0))).toBe(1);
  });

  it("trims what a leader has read, fenced by its epoch", async () => {
    const store = new EventStore(redis, { partitions: 1, prefix: uniquePrefix("intake-trim") });
    for (let i = 0; i < 5; i++) await store.append(uuidv7(), 0, [submitted]);
    const entries = await redis.xrange(store.intakeKey(0), "-", "+");
    expect(entries).toHaveLength(5);
    expect(await store.intakeHead(0)).toBe(entries[4]![0]);

    expect(await store.fence(8)).toBe(true);
    await expect(store.trimIntake(0, 7, entries[3]![0])).rejects.toBeInstanceOf(StaleEpochError);
    expect(await redis.xlen(store.intakeKey(0))).toBe(5);

    expect(await store.trimIntake(0, 8, entries[3]![0])).toBe(3);
    const left = await redis.xrange(store.intakeKey(0), "-", "+");
    expect(left.map(([entryId]) => entryId)).toEqual([entries[3]![0], entries[4]![0]]);
  });

  it("has a head of 0-0 while nothing was ever announced", async () => {
    const store = new EventStore(redis, { partitions: 1, prefix: uniquePrefix("intake-empty") });
    expect(await store.intakeHead(0)).toBe("0-0");
  });
});
