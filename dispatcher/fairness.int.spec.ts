import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TaskCommands } from "../commands/task-commands.ts";
import { RawWorker } from "../tests/support/raw-worker.ts";
import { startTestServer } from "../tests/support/server.ts";
import type { RunningServer } from "../cli/server.ts";
import { leading, until } from "../tests/support/signals.ts";

const noTrace = { traceparent: null, tracestate: null };
const AGING = 5;

/**
 * No starvation, by count: a flood of priority 9 keeps the only worker saturated while priority-0
 * tasks trickle in; every one of them must be dispatched within the documented bound of K + 9
 * dispatches of more urgent work (ready-queue.ts), here K = 5.
 */
describe("fair priorities under a saturating flood", () => {
  let server: RunningServer;
  let commands: TaskCommands;
  let worker: RawWorker;

  beforeAll(async () => {
    server = await startTestServer(
      { roles: new Set(["api", "dispatcher"]), agingBound: new Array<number>(10).fill(AGING) },
      "fair",
    );
    commands = new TaskCommands(server.store, { maxPayloadBytes: 1 << 20 });
    await leading(server.dispatcher!);
  });
  afterAll(async () => {
    worker?.close();
    await server.close();
  });

  it("dispatches every low-priority task within K + 9 higher-priority dispatches", async () => {
    const readyLow = () => server.dispatcher!.term!.ready.depthByPriority()[0] ?? 0;
    for (let i = 0; i < 200; i++) await commands.submit({ type: "flood", priority: 9 }, noTrace);
    worker = new RawWorker(server.grpcAddress);
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
          await until(server.dispatcher!.term!.intake!, "handled", () => readyLow() > before);
          low.set(id, 0);
        }
      }
      worker.send({
        $case: "completed",
        value: { taskId: assignment.taskId, attempt: assignment.attempt, resultJson: "" },
      });
    }
    expect(measured.length).toBeGreaterThanOrEqual(10);
    expect(Math.max(...measured)).toBeLessThanOrEqual(AGING + 9);
    // With only one level waiting below the flood, the bound is met exactly: K dispatches, not more.
    expect(measured.every((n) => n === AGING)).toBe(true);
    console.log(
      `fairness: ${measured.length} priority-0 tasks, higher-priority dispatches before each: max ${Math.max(...measured)} (bound ${AGING + 9})`,
    );
  });
});
