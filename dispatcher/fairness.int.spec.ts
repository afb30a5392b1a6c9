import { afterEach, describe, expect, it } from "vitest";
import { TaskCommands } from "../commands/task-commands.ts";
import { RawWorker } from "../tests/support/raw-worker.ts";
import { eventually, startTestServer } from "../tests/support/server.ts";
import { readyDepth } from "../tests/support/terms.ts";
import type { RunningServer } from "../cli/server.ts";
import { until } from "../tests/support/signals.ts";

const noTrace = { traceparent: null, tracestate: null };
const AGING = 5;

/**
 * No starvation, by count: a flood of priority 9 keeps the only worker saturated while priority-0
 * tasks trickle in; every one of them must be dispatched within the documented bound of K + 9
 * dispatches of more urgent work within a partition (ready-queue.ts), and K + 9 + (P − 1) with the
 * flood spread over P partitions (docs/partition-ownership.md), here K = 5.
 */
describe("fair priorities under a saturating flood", () => {
  const cleanup: (() => unknown)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  async function flood(partitions: number): Promise<number[]> {
    const server: RunningServer = await startTestServer(
      { roles: new Set(["api", "dispatcher"]), agingBound: new Array<number>(10).fill(AGING), partitions },
      `fair${partitions}`,
    );
    cleanup.push(() => server.close());
    const commands = new TaskCommands(server.store, { maxPayloadBytes: 1 << 20 });
    await eventually(() => (server.dispatcher!.leading ? true : undefined), 15_000, "leadership");
    const readyLow = () => readyDepth(server.dispatcher!)[0] ?? 0;
    for (let i = 0; i < 200; i++) await commands.submit({ type: "flood", priority: 9 }, noTrace);
    await eventually(
      () => ((readyDepth(server.dispatcher!)[9] ?? 0) >= 200 ? true : undefined),
      5000,
      "flood ready",
    );
    const worker = new RawWorker(server.grpcAddress);
    cleanup.push(() => worker.close());
    await worker.register(["flood"], { slots: 1 });

    const low = new Map<string, number>(); // low task id → higher dispatches seen since it was ready
    const measured: number[] = [];
    for (let dispatches = 0; dispatches < 400; dispatches++) {
      const assignment = await worker.next("assignment");
      if (low.has(assignment.taskId)) {
        measured.push(low.get(assignment.taskId)!);
        low.delete(assignment.taskId);
      } else {
        for (const [id, seen] of low) low.set(id, seen + 1);
        // Keep the flood going, and every 25 dispatches let one priority-0 task trickle in.
        await commands.submit({ type: "flood", priority: 9 }, noTrace);
        if (dispatches % 25 === 0 && low.size === 0) {
          const before = readyLow();
          const { id } = await commands.submit({ type: "flood", priority: 0 }, noTrace);
          await until(server.dispatcher!, "intake", () => readyLow() > before);
          low.set(id, 0);
        }
      }
      worker.send({
        $case: "completed",
        value: { taskId: assignment.taskId, attempt: assignment.attempt, resultJson: "" },
      });
    }
    expect(measured.length).toBeGreaterThanOrEqual(10);
    console.log(
      `fairness over ${partitions} partition(s): ${measured.length} priority-0 tasks, higher-priority dispatches before each: max ${Math.max(...measured)}`,
    );
    return measured;
  }

  it("in one partition, dispatches every low-priority task after exactly K higher-priority dispatches", async () => {
    const measured = await flood(1);
    // With only one level waiting below the flood, the bound is met exactly: K dispatches, not more.
    expect(measured.every((n) => n === AGING)).toBe(true);
  });

  it("with the flood over eight partitions, within K + 9 + 7 higher-priority dispatches", async () => {
    const measured = await flood(8);
    expect(Math.max(...measured)).toBeLessThanOrEqual(AGING + 9 + 7);
  });
});
