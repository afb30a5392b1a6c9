import { afterAll, describe, expect, it } from "vitest";
import { Worker } from "../../sdk/typescript/src/index.ts";
import { RedisEventLog } from "../../event-store/redis-event-log.ts";
import { TaskCommands } from "../../commands/task-commands.ts";
import { fold, type TaskState } from "../../domain/task/index.ts";
import { eventually } from "../support/server.ts";
import { uniquePrefix, connectTestRedis } from "../support/services.ts";
import { isLeading, spawnServer, type ServerProcess } from "../support/process-cluster.ts";

/**
 * Invariant 1 under a crash: the leading dispatcher is killed with SIGKILL (no lease revocation, no
 * goodbye) while tasks run; the standby takes over after the lease expires, and every acknowledged
 * task still reaches exactly one terminal state.
 */
describe("crash of the leading dispatcher", () => {
  const processes: ServerProcess[] = [];
  const workers: Worker[] = [];
  const redis = connectTestRedis();
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop({ graceMs: 1000 })));
    await Promise.all(processes.map((p) => p.kill()));
    redis.disconnect();
  });

  it("loses no acknowledged task and records one terminal event per task", async () => {
    const prefix = uniquePrefix("crash");
    const a = await spawnServer(prefix, "dispatcher");
    processes.push(a);
    await eventually(async () => ((await isLeading(a)) ? true : undefined), 20_000, "first leader");
    const b = await spawnServer(prefix, "dispatcher");
    processes.push(b);

    const store = new RedisEventLog(redis, { partitions: 8, prefix });
    const commands = new TaskCommands(store, { maxPayloadBytes: 1 << 20 });
    const runs = new Map<string, number>();
    let underWay!: () => void;
    const fiftyRun = new Promise<void>((resolve) => (underWay = resolve));
    const worker = new Worker({
      addresses: [a.grpcAddress, b.grpcAddress],
      name: "survivor",
      slots: 20,
      handlers: {
        work: async (payload: unknown, ctx) => {
          runs.set(ctx.taskId, (runs.get(ctx.taskId) ?? 0) + 1);
          if (runs.size >= 50) underWay();
          await new Promise((resolve) => setTimeout(resolve, 20));
          return payload;
        },
      },
    });
    workers.push(worker);
    await worker.start();

    const ids: string[] = [];
    for (let i = 0; i < 300; i++)
      ids.push(
        (
          await commands.submit(
            { type: "work", payload: i, retry: { initialBackoffMs: 100 } },
            { traceparent: null, tracestate: null },
          )
        ).id,
      );
    await fiftyRun; // work under way
    await a.kill();
    await eventually(async () => ((await isLeading(b)) ? true : undefined), 30_000, "standby takes over");

    const states = await eventually(
      async () => {
        const folded = await Promise.all(ids.map(async (id) => fold(await store.readTask(id))));
        return folded.every((s) => s.state === "SUCCEEDED") ? folded : undefined;
      },
      90_000,
      "every task SUCCEEDED",
    );
    for (const [i, id] of ids.entries()) {
      const history = await store.readTask(id);
      expect(history.filter((e) => e.type === "TaskSucceeded")).toHaveLength(1);
      expect((states[i] as TaskState).result).toBe(i);
    }
    expect([...runs.keys()].sort()).toEqual([...ids].sort());
  });
});
