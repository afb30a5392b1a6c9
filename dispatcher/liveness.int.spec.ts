import { describe, expect, it } from "vitest";
import { status } from "@grpc/grpc-js";
import { noTrace, useDispatcher } from "../tests/support/dispatcher-fixture.ts";
import { announced, logState } from "../tests/support/signals.ts";
import type { TermEvents } from "./term.ts";

type Lost = TermEvents["workerLost"][0];

describe("worker liveness on the real services", () => {
  const fx = useDispatcher("liveness");

  it("loses a connected worker that goes silent, after the heartbeat timeout, and retries its attempt elsewhere", async () => {
    const silent = fx.worker();
    // Registers, then never sends anything again: no heartbeat, no report; its stream stays open.
    const silentId = await silent.register(["hushed"]);
    const { id } = await fx.commands.submit({ type: "hushed", retry: { initialBackoffMs: 0 } }, noTrace);
    expect(await silent.next("assignment")).toMatchObject({ taskId: id, attempt: 1 });
    const registeredAt = Date.now();
    // The worker's host notices its silence and tells every partition; the task's partition retries it.
    const term = fx.server.dispatcher!.termFor(id)!;

    const [lost] = await announced(term, "workerLost", (info: Lost) => info.workerId === silentId);
    expect(lost).toEqual({ workerId: silentId, reason: "heartbeat timeout", attempts: 1 });
    expect(Date.now() - registeredAt).toBeGreaterThanOrEqual(fx.server.config.heartbeatTimeoutMs - 100);
    expect(await silent.closed()).toMatchObject({ code: status.UNAVAILABLE, details: "heartbeat timeout" });

    const survivor = fx.worker();
    await survivor.register(["hushed"]);
    expect(await survivor.next("assignment")).toMatchObject({ taskId: id, attempt: 2 });
    const state = await logState(fx.server.store, id, (s) => s.attempt === 2);
    expect(state.lastError).toMatchObject({ type: "WORKER_LOST" });
    expect(state.lastError?.message).toMatch(/heartbeat timeout/);
  });
});
