import { describe, expect, it } from "vitest";
import { v7 as uuidv7 } from "uuid";
import {
  ConcurrencyError,
  StaleEpochError,
  slotOfKey,
  withSlot,
  type TaskEvent,
} from "../domain/task/index.ts";
import { taskEvents as on } from "../domain/testing/task-events.ts";
import type { EventLog, StoredOf } from "./event-log.ts";

/** How a contract run makes logs: with options, and a way to let time pass for the dedup window. */
export interface LogFactory {
  make(options: { partitions: number; dedupWindowMs?: number; intake?: boolean }): EventLog;
  /** Lets `ms` of the log's time pass (sleeps for a real log; moves the clock of a memory one). */
  elapse(ms: number): Promise<void>;
}

const submitted = on.submitted(1);
const assigned = (attempt: number) => on.assigned(attempt, 2);
const cancelRequested = on.cancelRequested(3);

/** Reads the intake of a partition until it holds `count` entries (or times out). */
async function readIntake(log: EventLog, partition: number, count: number): Promise<StoredOf<TaskEvent>[]> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 5000);
  const events: StoredOf<TaskEvent>[] = [];
  try {
    for await (const batch of log.follow({
      streams: "intake",
      from: new Map([[partition, "0-0"]]),
      blockMs: 50,
      signal: abort.signal,
    })) {
      events.push(...batch);
      if (events.length >= count) break;
    }
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
  return events;
}

/**
 * The contract every EventLog keeps, as Emmett runs one spec against each event store: version
 * checks, idempotency keys, fencing, the intake, reads and following. Run by
 * memory-event-log.unit.spec.ts and redis-event-log.int.spec.ts.
 */
export function eventLogContract(name: string, factory: () => LogFactory): void {
  describe(`EventLog contract: ${name}`, () => {
    it("appends an aggregate's events in order and reads them back, with versions and positions", async () => {
      const log = factory().make({ partitions: 4 });
      const id = uuidv7();
      expect(await log.append(id, 0, [submitted])).toMatchObject({ kind: "appended", version: 1 });
      await log.append(id, 1, [assigned(1)]);
      const events = await log.readTask(id);
      expect(events.map((e) => [e.type, e.version])).toEqual([
        ["TaskSubmitted", 1],
        ["TaskAssigned", 2],
      ]);
      expect(events[0]!.data).toEqual(submitted.data);
      expect(events[0]!.partition).toBe(log.partitionOf(id));
      expect(await log.readTask(uuidv7())).toEqual([]);
    });

    it("rejects an append at a stale expected version and writes nothing", async () => {
      const log = factory().make({ partitions: 4 });
      const id = uuidv7();
      await log.append(id, 0, [submitted]);
      await expect(log.append(id, 0, [submitted])).rejects.toBeInstanceOf(ConcurrencyError);
      await expect(log.append(id, 5, [assigned(1)])).rejects.toBeInstanceOf(ConcurrencyError);
      expect(await log.readTask(id)).toHaveLength(1);
    });

    it("lets exactly one of many concurrent writers at the same version win", async () => {
      const log = factory().make({ partitions: 4 });
      const id = uuidv7();
      await log.append(id, 0, [submitted]);
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, () => log.append(id, 1, [assigned(1)])),
      );
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      expect(await log.readTask(id)).toHaveLength(2);
    });

    it("deduplicates by idempotency key, answering the first id and the request it came with", async () => {
      const log = factory().make({ partitions: 4 });
      const key = `order-${uuidv7()}`;
      const first = withSlot(uuidv7(), slotOfKey(key));
      const second = withSlot(uuidv7(), slotOfKey(key));
      expect(
        await log.append(first, 0, [submitted], { idempotencyKey: key, requestHash: "h1" }),
      ).toMatchObject({
        kind: "appended",
      });
      expect(await log.append(second, 0, [submitted], { idempotencyKey: key, requestHash: "h2" })).toEqual({
        kind: "deduplicated",
        taskId: first,
        requestHash: "h1",
      });
      expect(await log.readTask(second)).toHaveLength(0);
    });

    it("answers a submission re-sent after a lost reply (same id, same key) as a duplicate, not a conflict", async () => {
      const log = factory().make({ partitions: 4 });
      const key = `resent-${uuidv7()}`;
      const id = withSlot(uuidv7(), slotOfKey(key));
      await log.append(id, 0, [submitted], { idempotencyKey: key, requestHash: "h" });
      expect(await log.append(id, 0, [submitted], { idempotencyKey: key, requestHash: "h" })).toEqual({
        kind: "deduplicated",
        taskId: id,
        requestHash: "h",
      });
      expect(await log.readTask(id)).toHaveLength(1);
    });

    it("forgets an idempotency key after the dedup window", async () => {
      const f = factory();
      const log = f.make({ partitions: 4, dedupWindowMs: 50 });
      const key = `k-${uuidv7()}`;
      await log.append(withSlot(uuidv7(), slotOfKey(key)), 0, [submitted], { idempotencyKey: key });
      await f.elapse(120);
      expect(
        await log.append(withSlot(uuidv7(), slotOfKey(key)), 0, [submitted], { idempotencyKey: key }),
      ).toMatchObject({ kind: "appended" });
    });

    it("fences: a write with an epoch lower than the highest seen is rejected and changes nothing", async () => {
      const log = factory().make({ partitions: 4 });
      const id = uuidv7();
      await log.append(id, 0, [submitted]);
      await log.append(id, 1, [assigned(1)], { epoch: 7 });
      await expect(log.append(id, 2, [assigned(2)], { epoch: 6 })).rejects.toBeInstanceOf(StaleEpochError);
      expect(await log.readTask(id)).toHaveLength(2);
      // The command API's unfenced writes are still accepted.
      await log.append(id, 2, [cancelRequested]);
    });

    it("claim() hands out a higher epoch each time, past the floor, fencing off the earlier owners", async () => {
      const log = factory().make({ partitions: 2 });
      const first = await log.claim(1);
      const second = await log.claim(1);
      expect(second).toBe(first + 1);
      expect(await log.claim(1, 1000)).toBe(1000);
      expect(await log.claim(1, 5)).toBe(1001);
      const id = withSlot(uuidv7(), 1);
      await log.append(id, 0, [submitted]);
      await expect(log.append(id, 1, [assigned(1)], { epoch: second })).rejects.toBeInstanceOf(
        StaleEpochError,
      );
      await log.append(id, 1, [assigned(1)], { epoch: 1001 });
      // Partition 0 is not fenced by partition 1's claims.
      expect(await log.claim(0)).toBe(1);
    });

    it("fence() raises every partition's epoch and answers the highest held", async () => {
      const log = factory().make({ partitions: 4 });
      expect(await log.fence(10)).toBe(10);
      expect(await log.fence(9)).toBe(10);
      const id = uuidv7();
      await log.append(id, 0, [submitted]);
      await expect(log.append(id, 1, [assigned(1)], { epoch: 9 })).rejects.toBeInstanceOf(StaleEpochError);
    });

    it("settles each of many appends made at once on its own", async () => {
      const log = factory().make({ partitions: 2 });
      const existing = uuidv7();
      await log.append(existing, 0, [submitted]);
      const key = `batch-${uuidv7()}`;
      const keyed = withSlot(uuidv7(), slotOfKey(key));
      await log.append(keyed, 0, [submitted], { idempotencyKey: key });
      const fresh = Array.from({ length: 300 }, () => uuidv7());
      const [conflict, dedup, ...appended] = await Promise.allSettled([
        log.append(existing, 0, [submitted]),
        log.append(withSlot(uuidv7(), slotOfKey(key)), 0, [submitted], { idempotencyKey: key }),
        ...fresh.map((id) => log.append(id, 0, [submitted, assigned(1)])),
      ]);
      expect(conflict.status === "rejected" && conflict.reason instanceof ConcurrencyError).toBe(true);
      expect(dedup).toEqual({
        status: "fulfilled",
        value: { kind: "deduplicated", taskId: keyed, requestHash: null },
      });
      expect(appended.every((r) => r.status === "fulfilled" && r.value.kind === "appended")).toBe(true);
      for (const id of fresh.slice(0, 5))
        expect((await log.readTask(id)).map((e) => e.version)).toEqual([1, 2]);
    });

    it("reads a partition from a position onwards, and all of it a page at a time", async () => {
      const log = factory().make({ partitions: 1 });
      const ids = [uuidv7(), uuidv7(), uuidv7(), uuidv7(), uuidv7()];
      for (const id of ids) await log.append(id, 0, [submitted]);
      const all = await log.readPartition(0, "0", 10);
      expect(all.map((e) => e.taskId)).toEqual(ids);
      expect((await log.readPartition(0, all[0]!.streamId, 10)).map((e) => e.taskId)).toEqual(ids.slice(1));
      const pages: string[][] = [];
      for await (const page of log.readAll(0, { pageSize: 2 })) pages.push(page.map((e) => e.taskId));
      expect(pages).toEqual([ids.slice(0, 2), ids.slice(2, 4), ids.slice(4)]);
      const rest: string[] = [];
      for await (const page of log.readAll(0, { after: all[2]!.streamId }))
        rest.push(...page.map((e) => e.taskId));
      expect(rest).toEqual(ids.slice(3));
    });

    it("follows a partition: what is appended later arrives in order, until the signal aborts", async () => {
      const log = factory().make({ partitions: 1 });
      const abort = new AbortController();
      const seen: string[] = [];
      const ids = [uuidv7(), uuidv7(), uuidv7()];
      const following = (async () => {
        for await (const batch of log.follow({
          from: new Map([[0, "0"]]),
          blockMs: 50,
          signal: abort.signal,
        })) {
          seen.push(...batch.map((e) => e.taskId));
          if (seen.length >= ids.length) abort.abort();
        }
      })();
      for (const id of ids) await log.append(id, 0, [submitted]);
      await following;
      expect(seen).toEqual(ids);
    });

    it("copies unfenced writers' events to the intake with their log positions, and not the dispatcher's", async () => {
      const log = factory().make({ partitions: 1 });
      const id = uuidv7();
      await log.append(id, 0, [submitted]);
      await log.append(id, 1, [assigned(1)], { epoch: 3 });
      await log.append(id, 2, [cancelRequested]);
      const entries = await log.readPartition(0, "0", 10);
      const intake = await readIntake(log, 0, 2);
      expect(intake.map((e) => [e.type, e.version, e.streamId])).toEqual([
        ["TaskSubmitted", 1, entries[0]!.streamId],
        ["TaskCancelRequested", 3, entries[2]!.streamId],
      ]);
      expect(intake[0]!.taskId).toBe(id);
      expect(await log.intakeHead(0)).not.toBe("0-0");
    });

    it("writes no intake for a log that turns it off, nor for an append that fails its checks", async () => {
      const quiet = factory().make({ partitions: 1, intake: false });
      await quiet.append(uuidv7(), 0, [submitted]);
      expect(await quiet.intakeHead(0)).toBe("0-0");
      const log = factory().make({ partitions: 1 });
      const id = uuidv7();
      await log.append(id, 0, [submitted]);
      const head = await log.intakeHead(0);
      await expect(log.append(id, 0, [submitted])).rejects.toThrow();
      expect(await log.intakeHead(0)).toBe(head);
    });

    it("trims the intake before an entry, fenced by the epoch", async () => {
      const log = factory().make({ partitions: 1 });
      for (let i = 0; i < 5; i++) await log.append(uuidv7(), 0, [submitted]);
      expect(await readIntake(log, 0, 5)).toHaveLength(5);
      const head = await log.intakeHead(0);
      expect(await log.fence(8)).toBe(8);
      await expect(log.trimIntake(0, 7, head)).rejects.toBeInstanceOf(StaleEpochError);
      // Everything before the head goes; the head itself stays (a reader resumes after it).
      expect(await log.trimIntake(0, 8, head)).toBe(4);
      expect(await log.intakeHead(0)).toBe(head);
      expect(await readIntake(log, 0, 1)).toHaveLength(1);
    });

    it("tells the log position of the oldest event waiting in the intake", async () => {
      const log = factory().make({ partitions: 1 });
      expect(await log.intakeTail(0)).toBeNull();
      const first = uuidv7();
      await log.append(first, 0, [submitted]);
      await log.append(uuidv7(), 0, [submitted]);
      const [entry] = await log.readPartition(0, "0", 1);
      expect(await log.intakeTail(0)).toBe(entry!.streamId);
    });

    it("removes an archived aggregate's entries and index, unless its history changed", async () => {
      const log = factory().make({ partitions: 1 });
      const done = uuidv7();
      const moved = uuidv7();
      const kept = uuidv7();
      await log.append(done, 0, [submitted, assigned(1)]);
      await log.append(kept, 0, [submitted]);
      await log.append(moved, 0, [submitted]);
      await log.append(moved, 1, [assigned(1)]);
      expect(
        await log.dropArchived(0, [
          { id: done, version: 2 },
          { id: moved, version: 1 },
        ]),
      ).toEqual([true, false]);
      expect(await log.readTask(done)).toEqual([]);
      expect((await log.readTask(moved)).map((e) => e.version)).toEqual([1, 2]);
      expect((await log.readPartition(0, "0", 10)).map((e) => e.taskId)).toEqual([kept, moved, moved]);
      // Removed, a task starts again from nothing (its id is never reused: the archive holds it).
      expect(await log.dropArchived(0, [{ id: done, version: 2 }])).toEqual([false]);
    });

    it("tells a partition's newest position and size, and keeps a snapshot fenced by the epoch", async () => {
      const log = factory().make({ partitions: 1 });
      expect(await log.head(0)).toBe("0-0");
      expect(await log.loadSnapshot(0)).toBeNull();
      expect(await log.size(0)).toBe(0);
      const { streamIds } = (await log.append(uuidv7(), 0, [submitted])) as { streamIds: string[] };
      expect(await log.head(0)).toBe(streamIds[0]);
      expect(await log.size(0)).toBe(1);
      await log.fence(4);
      await log.saveSnapshot(0, 4, Buffer.from("four"));
      await expect(log.saveSnapshot(0, 3, Buffer.from("three"))).rejects.toBeInstanceOf(StaleEpochError);
      expect((await log.loadSnapshot(0))?.toString()).toBe("four");
    });
  });
}
