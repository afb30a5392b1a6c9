import { afterEach, describe, expect, it } from "vitest";
import { taskEvents } from "../domain/testing/task-events.ts";
import type { MemoryEventLog } from "../event-store/memory-event-log.ts";
import type { StoredEvent } from "../event-store/stream-format.ts";
import { IntakeFollower } from "./intake-follower.ts";
import { LiveTasks } from "./live-tasks.ts";
import { memoryLog, quietLog, submitTask, turn } from "./testing/term-doubles.ts";

const followers: IntakeFollower[] = [];
afterEach(async () => {
  await Promise.all(followers.splice(0).map((f) => f.stop()));
});

/** Every partition's intake head now: where a term starts following. */
async function headsOf(store: MemoryEventLog): Promise<Map<number, string>> {
  const partitions = Array.from({ length: store.partitions }, (_, p) => p);
  return new Map(await Promise.all(partitions.map(async (p) => [p, await store.intakeHead(p)] as const)));
}

/** A follower for epoch `epoch` from the intake heads as they are now, with every batch it handled. */
async function followFromHeads(store: MemoryEventLog, live: LiveTasks, epoch = 1) {
  const log = quietLog();
  const follower = new IntakeFollower(store, epoch, live, await headsOf(store), log);
  followers.push(follower);
  const batches: StoredEvent[][] = [];
  follower.on("handled", (batch) => batches.push(batch));
  /** Resolves once the follower has handled a batch after which `done` holds (or at once if it does). */
  const handledUntil = (done: () => boolean) =>
    new Promise<void>((resolve) => {
      if (done()) return resolve();
      const check = () => {
        if (!done()) return;
        follower.off("handled", check);
        resolve();
      };
      follower.on("handled", check);
    });
  return { follower, batches, handledUntil, log };
}

describe("IntakeFollower", () => {
  it("folds what other writers append after the heads, and nothing from before them", async () => {
    const store = memoryLog(2);
    const live = new LiveTasks(store, 1, () => undefined);
    const before = await submitTask(store, null);
    const { follower, handledUntil } = await followFromHeads(store, live);
    await follower.start();

    const first = await submitTask(store, null);
    const second = await submitTask(store, null);
    await handledUntil(() => live.states.has(first.id) && live.states.has(second.id));

    expect(live.states.get(first.id)?.state).toBe("QUEUED");
    expect(live.states.get(second.id)?.state).toBe("QUEUED");
    // An append before the heads is the rebuild's to read (docs/dispatcher-intake.md), not the intake's.
    expect(live.states.has(before.id)).toBe(false);
  });

  it("skips the intake entries the rebuild already folded, and folds their task's later events", async () => {
    const store = memoryLog();
    const live = new LiveTasks(store, 1, () => undefined);
    const { follower, batches, handledUntil } = await followFromHeads(store, live);
    // Appended between the heads and the rebuild: in the intake past the head, and in the log read.
    const overlap = await submitTask(store, null);
    for await (const page of store.readAll(0)) for (const event of page) live.apply(event);
    await follower.start();

    await store.append(overlap.id, 1, [taskEvents.cancelRequested(Date.now())]);
    const later = await submitTask(store, null);
    await handledUntil(() => live.states.has(later.id) && live.states.get(overlap.id)!.cancelRequested);

    const handled = batches.flat().map((event) => `${event.taskId}@${event.version}`);
    expect(handled).not.toContain(`${overlap.id}@1`);
    expect(handled).toEqual(expect.arrayContaining([`${overlap.id}@2`, `${later.id}@1`]));
  });

  it("trims the intake through the last entry it folded, once per position, and keeps what it has not read", async () => {
    const store = memoryLog();
    const live = new LiveTasks(store, 1, () => undefined);
    const { follower, handledUntil } = await followFromHeads(store, live);
    const trims: string[] = [];
    const trimIntake = store.trimIntake.bind(store);
    store.trimIntake = (partition, epoch, beforeId) => (
      trims.push(beforeId),
      trimIntake(partition, epoch, beforeId)
    );
    follower.trim(); // nothing read yet (an empty intake's head is 0-0): nothing to trim
    expect(trims).toEqual([]);
    await follower.start();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await submitTask(store, null)).id);
    await handledUntil(() => ids.every((id) => live.states.has(id)));
    await follower.stop();
    const unread = [(await submitTask(store, null)).id, (await submitTask(store, null)).id];
    expect(store.intakeLength(0)).toBe(5);

    follower.trim();
    expect(store.intakeLength(0)).toBe(unread.length);
    follower.trim();
    expect(trims).toHaveLength(1);
  });

  it("trims nothing once a newer epoch fenced the log: a stale term cannot drop what the next one needs", async () => {
    const store = memoryLog();
    const live = new LiveTasks(store, 1, () => undefined);
    const { follower, handledUntil, log } = await followFromHeads(store, live, 1);
    await follower.start();
    const task = await submitTask(store, null);
    await handledUntil(() => live.states.has(task.id));
    await submitTask(store, null);
    await handledUntil(() => live.states.size === 2);
    await store.fence(2);

    follower.trim();
    await turn();

    expect(store.intakeLength(0)).toBe(2);
    expect(log.warnings).toContain("intake trim failed");
    // The newer term's own follower, from the heads it took, trims the same intake.
    const newer = await followFromHeads(store, new LiveTasks(store, 2, () => undefined), 2);
    newer.follower.trim();
    expect(store.intakeLength(0)).toBe(0);
  });
});
