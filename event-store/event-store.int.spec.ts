import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { v7 as uuidv7 } from "uuid";
import {
  ConcurrencyError,
  DEFAULT_RETRY,
  DEFAULT_TIMEOUTS,
  StaleEpochError,
  slotOfKey,
  withSlot,
  type TaskEvent,
  type TaskSpec,
} from "../domain/task/index.ts";
import { testServices, uniquePrefix } from "../tests/support/services.ts";
import { EventStore } from "./event-store.ts";

const spec: TaskSpec = {
  type: "echo",
  payload: { hello: "world" },
  priority: 5,
  requires: {},
  idempotencyKey: null,
  runAt: null,
  retry: DEFAULT_RETRY,
  timeouts: DEFAULT_TIMEOUTS,
  metadata: {},
  concurrency: null,
  traceparent: null,
  tracestate: null,
};
const submitted: TaskEvent = { type: "TaskSubmitted", data: { spec, submittedAt: 1 } };
const assigned = (attempt: number): TaskEvent => ({
  type: "TaskAssigned",
  data: { attempt, workerId: "w", assignedAt: 2, deadlineAt: null },
});

describe("EventStore on a real Redis", () => {
  let redis: Redis;
  let store: EventStore;

  beforeAll(() => {
    redis = new Redis(testServices.redisUrl, { enableAutoPipelining: true });
    store = new EventStore(redis, { partitions: 4, prefix: uniquePrefix("store") });
  });
  afterAll(() => redis.disconnect());

  it("appends a task's events in order and reads them back", async () => {
    const id = uuidv7();
    const first = await store.append(id, 0, [submitted]);
    expect(first).toMatchObject({ kind: "appended", version: 1 });
    await store.append(id, 1, [assigned(1)]);
    const events = await store.readTask(id);
    expect(events.map((e) => [e.type, e.version])).toEqual([
      ["TaskSubmitted", 1],
      ["TaskAssigned", 2],
    ]);
    expect(events[0]!.data).toEqual(submitted.data);
    expect(events[0]!.partition).toBe(store.partitionOf(id));
  });

  it("rejects an append at a stale expected version and writes nothing", async () => {
    const id = uuidv7();
    await store.append(id, 0, [submitted]);
    await expect(store.append(id, 0, [submitted])).rejects.toBeInstanceOf(ConcurrencyError);
    await expect(store.append(id, 5, [assigned(1)])).rejects.toBeInstanceOf(ConcurrencyError);
    expect(await store.readTask(id)).toHaveLength(1);
  });

  it("lets exactly one of many concurrent writers at the same version win", async () => {
    const id = uuidv7();
    await store.append(id, 0, [submitted]);
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () => store.append(id, 1, [assigned(1)])),
    );
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    expect(await store.readTask(id)).toHaveLength(2);
  });

  it("deduplicates submissions by idempotency key, answering the first task id", async () => {
    const key = `order-${uuidv7()}`;
    const firstId = withSlot(uuidv7(), slotOfKey(key));
    const secondId = withSlot(uuidv7(), slotOfKey(key));
    expect(store.partitionOf(firstId)).toBe(store.partitionOf(secondId));
    expect(await store.append(firstId, 0, [submitted], { idempotencyKey: key })).toMatchObject({
      kind: "appended",
    });
    expect(await store.append(secondId, 0, [submitted], { idempotencyKey: key })).toEqual({
      kind: "deduplicated",
      requestHash: null,
      taskId: firstId,
    });
    expect(await store.readTask(secondId)).toHaveLength(0);
  });

  it("forgets an idempotency key after the dedup window", async () => {
    const shortStore = new EventStore(redis, {
      partitions: 4,
      prefix: uniquePrefix("dedup"),
      dedupWindowMs: 50,
    });
    const key = `k-${uuidv7()}`;
    await shortStore.append(withSlot(uuidv7(), slotOfKey(key)), 0, [submitted], { idempotencyKey: key });
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(
      await shortStore.append(withSlot(uuidv7(), slotOfKey(key)), 0, [submitted], { idempotencyKey: key }),
    ).toMatchObject({ kind: "appended" });
  });

  it("fences: a write with an epoch lower than the highest seen is rejected and changes nothing", async () => {
    const id = uuidv7();
    await store.append(id, 0, [submitted]);
    await store.append(id, 1, [assigned(1)], { epoch: 7 });
    await expect(store.append(id, 2, [assigned(2)], { epoch: 6 })).rejects.toBeInstanceOf(StaleEpochError);
    expect(await store.readTask(id)).toHaveLength(2);
    // The command API's unfenced writes are still accepted.
    await store.append(id, 2, [{ type: "TaskCancelRequested", data: { reason: "r", at: 3 } }]);
  });

  it("fence() raises every partition's epoch so an older leader is locked out everywhere", async () => {
    const fenced = new EventStore(redis, { partitions: 4, prefix: uniquePrefix("fence") });
    expect(await fenced.fence(10)).toBe(true);
    expect(await fenced.fence(9)).toBe(false);
    const id = uuidv7();
    await fenced.append(id, 0, [submitted]);
    await expect(fenced.append(id, 1, [assigned(1)], { epoch: 9 })).rejects.toBeInstanceOf(StaleEpochError);
  });

  it("settles each of many appends made in one turn on its own, though they share script calls", async () => {
    const own = new EventStore(redis, { partitions: 2, prefix: uniquePrefix("batch") });
    const existing = uuidv7();
    await own.append(existing, 0, [submitted]);
    const key = `batch-${uuidv7()}`;
    const keyed = withSlot(uuidv7(), slotOfKey(key));
    await own.append(keyed, 0, [submitted], { idempotencyKey: key });
    const fresh = Array.from({ length: 300 }, () => uuidv7());
    const [conflict, dedup, ...appended] = await Promise.allSettled([
      own.append(existing, 0, [submitted]),
      own.append(withSlot(uuidv7(), slotOfKey(key)), 0, [submitted], { idempotencyKey: key }),
      ...fresh.map((id) => own.append(id, 0, [submitted, assigned(1)])),
    ]);
    expect(conflict.status === "rejected" && conflict.reason instanceof ConcurrencyError).toBe(true);
    expect(dedup).toEqual({
      status: "fulfilled",
      value: { kind: "deduplicated", taskId: keyed, requestHash: null },
    });
    expect(appended.every((r) => r.status === "fulfilled" && r.value.kind === "appended")).toBe(true);
    for (const id of fresh.slice(0, 5)) {
      expect((await own.readTask(id)).map((e) => e.version)).toEqual([1, 2]);
    }
  });

  it("rejects every append of a fenced batch and writes none of them", async () => {
    const own = new EventStore(redis, { partitions: 1, prefix: uniquePrefix("fenced-batch") });
    expect(await own.fence(5)).toBe(true);
    const ids = [uuidv7(), uuidv7(), uuidv7()];
    const results = await Promise.allSettled(ids.map((id) => own.append(id, 0, [submitted], { epoch: 4 })));
    expect(results.every((r) => r.status === "rejected" && r.reason instanceof StaleEpochError)).toBe(true);
    expect(await own.readPartition(0, "0", 10)).toEqual([]);
  });

  it("reads a partition from a position onwards", async () => {
    const own = new EventStore(redis, { partitions: 1, prefix: uniquePrefix("part") });
    const ids = [uuidv7(), uuidv7(), uuidv7()];
    for (const id of ids) await own.append(id, 0, [submitted]);
    const all = await own.readPartition(0, "0", 10);
    expect(all.map((e) => e.taskId)).toEqual(ids);
    const rest = await own.readPartition(0, all[0]!.streamId, 10);
    expect(rest.map((e) => e.taskId)).toEqual(ids.slice(1));
  });
});
