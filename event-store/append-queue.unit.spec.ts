import { describe, expect, it } from "vitest";
import { AppendQueue, MAX_TASKS_PER_CALL, ROUNDS_IN_FLIGHT, type QueuedAppend } from "./append-queue.ts";

const append = (taskId: string): QueuedAppend => ({
  taskId,
  expectedVersion: 0,
  fields: [],
  idemKey: null,
  requestHash: "",
  resolve: () => undefined,
  reject: () => undefined,
});
const turn = () => new Promise((resolve) => setImmediate(resolve));

describe("AppendQueue", () => {
  it("sends every lane in one round, keeps two rounds in flight, and sends what queued meanwhile next", async () => {
    expect(ROUNDS_IN_FLIGHT).toBe(2);
    const calls: { partition: number; epoch: number | undefined; ids: string[]; done: () => void }[] = [];
    const queue = new AppendQueue(
      (partition, epoch, appends) =>
        new Promise<void>((done) =>
          calls.push({ partition, epoch, ids: appends.map((a) => a.taskId), done }),
        ),
    );
    queue.push(0, 7, append("a"));
    queue.push(0, 7, append("b"));
    queue.push(1, 7, append("c"));
    queue.push(0, undefined, append("d"));
    expect(calls).toHaveLength(0); // nothing leaves before the end of the turn
    await turn();
    expect(calls.map((c) => [c.partition, c.epoch, c.ids])).toEqual([
      [0, 7, ["a", "b"]],
      [1, 7, ["c"]],
      [0, undefined, ["d"]],
    ]);
    // A second round leaves while the first is in flight.
    queue.push(0, 7, append("e"));
    queue.push(1, 7, append("f"));
    await turn();
    expect(calls.slice(3).map((c) => [c.partition, c.ids])).toEqual([
      [0, ["e"]],
      [1, ["f"]],
    ]);
    // A third waits until a round in flight is answered, whole.
    queue.push(2, 7, append("g"));
    await turn();
    calls[0]!.done();
    calls[1]!.done();
    await turn();
    await turn();
    expect(calls).toHaveLength(5); // the first round waits for its last call
    calls[2]!.done();
    await turn();
    await turn();
    expect(calls.slice(5).map((c) => [c.partition, c.ids])).toEqual([[2, ["g"]]]);
  });

  it("splits a long queue into calls of at most MAX_TASKS_PER_CALL", async () => {
    const sizes: number[] = [];
    const queue = new AppendQueue((_p, _e, appends) => {
      sizes.push(appends.length);
      return Promise.resolve();
    });
    for (let i = 0; i < MAX_TASKS_PER_CALL + 10; i++) queue.push(2, 1, append(`t${i}`));
    for (let i = 0; i < 4; i++) await turn();
    expect(sizes).toEqual([MAX_TASKS_PER_CALL, 10]);
  });
});
