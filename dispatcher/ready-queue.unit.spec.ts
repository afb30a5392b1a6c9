import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ReadyQueue, type ReadyTask } from "./ready-queue.ts";

const worker = { types: new Set(["t"]), labels: { zone: "a" } };
const always = () => true;
let seq = 0;
const task = (priority: number, extra: Partial<ReadyTask> = {}): ReadyTask => ({
  taskId: `task-${seq++}`,
  type: "t",
  priority,
  requires: {},
  concurrencyKey: null,
  ...extra,
});

describe("ReadyQueue", () => {
  it("serves the most urgent first and FIFO within a priority", () => {
    const queue = new ReadyQueue();
    const [a, b, c, d] = [task(1), task(9), task(5), task(9)];
    for (const t of [a, b, c, d]) queue.push(t);
    const order = [1, 2, 3, 4].map(() => queue.take(worker, always)?.taskId);
    expect(order).toEqual([b.taskId, d.taskId, c.taskId, a.taskId]);
    expect(queue.take(worker, always)).toBeUndefined();
  });

  it("only hands out tasks whose type the worker handles and whose labels it carries", () => {
    const queue = new ReadyQueue();
    const other = task(9, { type: "u" });
    const gpu = task(9, { requires: { gpu: "yes" } });
    const plain = task(1);
    for (const t of [other, gpu, plain]) queue.push(t);
    expect(queue.take(worker, always)?.taskId).toBe(plain.taskId);
    expect(queue.take(worker, always)).toBeUndefined();
    expect(queue.take({ types: new Set(["t"]), labels: { gpu: "yes" } }, always)?.taskId).toBe(gpu.taskId);
  });

  it("offers a worker limited to namespaces only their tasks", () => {
    const queue = new ReadyQueue();
    const [ofA, ofB, unnamed] = [task(9, { namespace: "team-a" }), task(5, { namespace: "team-b" }), task(1)];
    for (const t of [ofA, ofB, unnamed]) queue.push(t);
    const teamB = { ...worker, namespaces: new Set(["team-b"]) };
    expect(queue.take(teamB, always)?.taskId).toBe(ofB.taskId);
    expect(queue.take(teamB, always)).toBeUndefined();
    expect(queue.take({ ...worker, namespaces: new Set(["default"]) }, always)?.taskId).toBe(unnamed.taskId);
    expect(queue.take(worker, always)?.taskId).toBe(ofA.taskId);
  });

  it("skips a queue out of rate tokens and a task whose concurrency key is full", () => {
    const queue = new ReadyQueue();
    const limited = task(9, { type: "slow" });
    const keyed = task(8, { concurrencyKey: "tenant-1" });
    const free = task(7);
    for (const t of [limited, keyed, free]) queue.push(t);
    const both = { types: new Set(["t", "slow"]), labels: {} };
    const filter = {
      typeOpen: (type: string) => type !== "slow",
      taskOpen: (t: ReadyTask) => t.concurrencyKey !== "tenant-1",
    };
    expect(queue.take(both, always, filter)?.taskId).toBe(free.taskId);
    expect(queue.take(both, always, filter)).toBeUndefined();
    expect(queue.take(both, always)?.taskId).toBe(limited.taskId);
  });

  it("drops entries that are no longer current", () => {
    const queue = new ReadyQueue();
    const stale = task(9);
    const fresh = task(9);
    queue.push(stale);
    queue.push(fresh);
    expect(queue.take(worker, (t) => t.taskId !== stale.taskId)?.taskId).toBe(fresh.taskId);
    expect(queue.size).toBe(0);
  });

  it("serves a waiting low priority within its aging bound under a flood of priority 9", () => {
    const bound = 5;
    const queue = new ReadyQueue(new Array<number>(10).fill(bound));
    for (let i = 0; i < 100; i++) queue.push(task(9));
    const low = task(0);
    queue.push(low);
    let higherBefore = 0;
    for (;;) {
      const next = queue.take(worker, always)!;
      if (next.taskId === low.taskId) break;
      higherBefore++;
      queue.push(task(9));
    }
    expect(higherBefore).toBe(bound);
  });

  it("keeps every head within K + 9 dispatches of more urgent work, whatever arrives (property)", () => {
    const bound = 3;
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.integer({ min: 0, max: 9 }), { maxLength: 4 }), {
          minLength: 1,
          maxLength: 300,
        }),
        (arrivals) => {
          const queue = new ReadyQueue(new Array<number>(10).fill(bound));
          const levels = Array.from({ length: 10 }, () => [] as string[]);
          /** For the task at the head of each level: higher-priority dispatches seen while at the head. */
          const passedAtHead = new Map<string, number>();
          const step = (arriving: number[]) => {
            for (const p of arriving) {
              const t = task(p);
              queue.push(t);
              levels[p]!.push(t.taskId);
            }
            const next = queue.take(worker, always);
            if (!next) return;
            expect(levels[next.priority]![0]).toBe(next.taskId); // FIFO within a level
            levels[next.priority]!.shift();
            passedAtHead.delete(next.taskId);
            for (let p = 0; p < next.priority; p++) {
              const head = levels[p]![0];
              if (head === undefined) continue;
              const passed = (passedAtHead.get(head) ?? 0) + 1;
              passedAtHead.set(head, passed);
              expect(passed).toBeLessThanOrEqual(bound + 9);
            }
          };
          for (const arriving of arrivals) step(arriving);
          for (let i = 0; i < 2000 && queue.size > 0; i++) step([]);
        },
      ),
      { numRuns: 300 },
    );
  });
});
