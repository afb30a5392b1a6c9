import { describe, expect, it } from "vitest";
import { fold } from "../domain/task/index.ts";
import { noTrace, useDispatcher } from "../tests/support/dispatcher-fixture.ts";
import { atSweep, leading } from "../tests/support/signals.ts";

describe("rate and concurrency limits", () => {
  const fx = useDispatcher("limits");

  it("holds a queue to its token-bucket rate, set at run time over REST", async () => {
    const set = await fx.server.http.inject({
      method: "PUT",
      url: "/v1/queues/metered",
      payload: { ratePerSecond: 5, burst: 1 },
    });
    expect(set.statusCode).toBe(200);
    expect(set.json()).toMatchObject({ type: "metered", ratePerSecond: 5, burst: 1 });
    const w = fx.worker();
    await w.register(["metered"], { slots: 50 });
    for (let i = 0; i < 6; i++) await fx.commands.submit({ type: "metered" }, noTrace);
    const started = Date.now();
    for (let i = 0; i < 6; i++) {
      const a = await w.next("assignment", 10_000);
      w.send({ $case: "completed", value: { taskId: a.taskId, attempt: a.attempt, resultJson: "" } });
    }
    // One token at once, then one every 200 ms: six dispatches cannot take less than a second.
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });

  it("runs at most N tasks sharing a concurrency key, and frees the slot when one ends", async () => {
    const w = fx.worker();
    await w.register(["tenant-job"], { slots: 10 });
    const ids = [];
    for (let i = 0; i < 5; i++)
      ids.push(
        (
          await fx.commands.submit(
            { type: "tenant-job", concurrencyKey: "tenant-a", concurrencyLimit: 2 },
            noTrace,
          )
        ).id,
      );
    const other = (
      await fx.commands.submit(
        { type: "tenant-job", concurrencyKey: "tenant-b", concurrencyLimit: 2 },
        noTrace,
      )
    ).id;
    const first = [await w.next("assignment"), await w.next("assignment"), await w.next("assignment")];
    expect(first.map((a) => a.taskId)).toContain(other);
    await expect(w.next("assignment", 700)).rejects.toThrow(/no assignment/);
    const tenantA = first.filter((a) => a.taskId !== other);
    expect(tenantA).toHaveLength(2);
    w.send({ $case: "completed", value: { taskId: tenantA[0]!.taskId, attempt: 1, resultJson: "" } });
    const next = await w.next("assignment");
    expect(ids).toContain(next.taskId);
    await expect(w.next("assignment", 500)).rejects.toThrow(/no assignment/);
  });

  it("lets an operator override a key's limit at run time", async () => {
    const w = fx.worker();
    await w.register(["tenant-job-2"], { slots: 10 });
    for (let i = 0; i < 3; i++)
      await fx.commands.submit({ type: "tenant-job-2", concurrencyKey: "tenant-c" }, noTrace);
    await w.next("assignment");
    await expect(w.next("assignment", 500)).rejects.toThrow(/no assignment/);
    const set = await fx.server.http.inject({
      method: "PUT",
      url: "/v1/concurrency-limits/tenant-c",
      payload: { maxRunning: 3 },
    });
    expect(set.statusCode).toBe(200);
    await w.next("assignment", 5000);
    await w.next("assignment", 5000);
  });

  it("keeps a concurrency limit across a dispatcher restart: running tasks are counted from the log", async () => {
    const w = fx.worker();
    const workerId = await w.register(["sticky"], { slots: 10 });
    for (let i = 0; i < 3; i++)
      await fx.commands.submit({ type: "sticky", concurrencyKey: "tenant-d", concurrencyLimit: 2 }, noTrace);
    const held = [await w.next("assignment"), await w.next("assignment")];
    // A new term (as after a failover) rebuilds from the log; the worker reconnects still holding both.
    const dispatcher = fx.server.dispatcher!;
    await dispatcher.leadership.stop();
    await dispatcher.start(fx.server.grpcAddress);
    await leading(dispatcher);
    w.close();
    const again = fx.worker();
    await again.register(["sticky"], {
      slots: 10,
      workerId,
      resumeToken: w.resumeToken,
      active: held.map((a) => ({ taskId: a.taskId, attempt: a.attempt })),
    });
    await expect(again.next("assignment", 800)).rejects.toThrow(/no assignment/);
    again.send({
      $case: "completed",
      value: { taskId: held[0]!.taskId, attempt: held[0]!.attempt, resultJson: "" },
    });
    const third = await again.next("assignment", 5000);
    expect(fold(await fx.server.store.readTask(third.taskId)).state).toBe("ASSIGNED");
  });

  it("counts tasks no connected worker can run, in stats and the metric", async () => {
    await fx.commands.submit({ type: "needs-gpu", requires: { gpu: "h100" } }, noTrace);
    const w = fx.worker();
    await w.register(["needs-gpu"], { labels: { gpu: "none" } });
    // The leader counts them at each sweep.
    await atSweep(fx.server.dispatcher!, async () => {
      const metrics = (await fx.server.http.inject({ method: "GET", url: "/metrics" })).body;
      const match = /taskstream_tasks_unroutable (\d+)/.exec(metrics);
      return match && Number(match[1]) >= 1 ? true : undefined;
    });
  });
});
