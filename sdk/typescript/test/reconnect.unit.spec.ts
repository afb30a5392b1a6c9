import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import type { TaskContext } from "../src/types.ts";
import { echo, fakeDispatcher, gate, worker } from "./harness.ts";

describe("Worker: broken streams and failover", () => {
  it("re-sends a result whose ack was lost, after re-registering with the same id and the attempt", async () => {
    const fake = await fakeDispatcher({ autoAck: false, heartbeatIntervalMs: 20 });
    const w = worker({ addresses: [fake.address], handlers: { echo } });
    const disconnects: unknown[] = [];
    w.on("disconnected", (info) => disconnects.push(info));
    await w.start();
    const first = await fake.stream(0);
    first.assign({ taskId: "t1", type: "echo", payloadJson: "42" });
    await first.next("completed");
    first.close(status.UNAVAILABLE, "connection reset");

    const second = await fake.stream(1);
    expect(disconnects).toEqual([
      { address: fake.address, code: status.UNAVAILABLE, details: "connection reset" },
    ]);
    expect(fake.registers[1]).toMatchObject({ workerId: "w-1", active: [{ taskId: "t1", attempt: 1 }] });
    expect(await second.next("completed")).toEqual({ taskId: "t1", attempt: 1, resultJson: "42" });

    // Once acknowledged, the result is forgotten: the next connection neither lists nor re-sends it.
    const acked = new Promise((resolve) => w.once("ack", resolve));
    second.ack("t1");
    await expect(acked).resolves.toMatchObject({ taskId: "t1", accepted: true });
    second.close();
    const third = await fake.stream(2);
    expect(fake.registers[2]).toMatchObject({ workerId: "w-1", active: [] });
    // Re-sent results go out right after registration, before any heartbeat.
    await third.next("heartbeat");
    expect(third.log.filter((m) => m.$case === "completed")).toEqual([]);
  });

  it("resumes its identity with the resume token, and registers afresh when the token is refused", async () => {
    const fake = await fakeDispatcher();
    const w = worker({ addresses: [fake.address], handlers: { echo } });
    await w.start();
    expect(fake.registers[0]).toMatchObject({ workerId: "", resumeToken: "" });
    // Waits until the worker has taken stream 1's Registered, so the listener below sees the next one.
    const resumed = new Promise((resolve) => w.once("registered", resolve));
    (await fake.stream(0)).close();
    await expect(resumed).resolves.toMatchObject({ workerId: "w-1" });
    expect(fake.registers[1]).toMatchObject({ workerId: "w-1", resumeToken: "token-w-1" });

    fake.tokenSuffix = "-rotated"; // tokens issued so far no longer prove anything
    const renamed = new Promise((resolve) => w.once("registered", resolve));
    (await fake.stream(1)).close();
    await expect(renamed).resolves.toMatchObject({ workerId: "w-2" });
    expect(fake.registers[2]).toMatchObject({ workerId: "w-1", resumeToken: "token-w-1" });
    expect(fake.registers[3]).toMatchObject({ workerId: "", resumeToken: "" });
    expect(w.id).toBe("w-2");
  });

  it("keeps a handler running across a reconnect and reports its result on the new stream", async () => {
    const fake = await fakeDispatcher();
    const release = gate();
    const w = worker({
      addresses: [fake.address],
      handlers: { hold: async () => (await release.promise, "late") },
    });
    await w.start();
    const first = await fake.stream(0);
    first.assign({ taskId: "t1", type: "hold", attempt: 4 });
    await first.next("started");
    first.close();
    const second = await fake.stream(1);
    expect(fake.registers[1]).toMatchObject({ workerId: "w-1", active: [{ taskId: "t1", attempt: 4 }] });
    release.open();
    expect(await second.next("completed")).toEqual({ taskId: "t1", attempt: 4, resultJson: '"late"' });
    expect(first.log.map((m) => m.$case)).toEqual(["started"]);
  });

  it("keeps progress and results produced while disconnected and sends them in order on reconnect", async () => {
    const fake = await fakeDispatcher();
    const release = gate();
    let context: TaskContext | undefined;
    const w = worker({
      addresses: [fake.address],
      handlers: {
        hold: async (_p, ctx) => {
          context = ctx;
          await release.promise;
          ctx.heartbeat({ at: "offline" });
          return "done";
        },
      },
    });
    await w.start();
    const first = await fake.stream(0);
    first.assign({ taskId: "t1", type: "hold" });
    await first.next("started");
    // Released the moment the stream is down; the reconnect waits at least 50 ms of backoff.
    w.once("disconnected", () => release.open());
    first.close();
    const second = await fake.stream(1);
    await second.next("completed");
    expect(second.log.map((m) => m.$case)).toEqual(["progress", "completed"]);
    expect(second.log[0]).toMatchObject({ value: { detailsJson: '{"at":"offline"}' } });
    expect(context?.signal.aborted).toBe(false);
  });

  it("moves to the next address when the first answers UNAVAILABLE 'not leader'", async () => {
    const standby = await fakeDispatcher({ refuse: "not leader" });
    const leader = await fakeDispatcher();
    const w = worker({ addresses: [standby.address, leader.address], handlers: { echo } });
    const disconnects: unknown[] = [];
    w.on("disconnected", (info) => disconnects.push(info));
    const registered = new Promise((resolve) => w.once("registered", resolve));
    await w.start();
    await expect(registered).resolves.toMatchObject({ address: leader.address });
    expect(standby.registers).toHaveLength(1);
    expect(disconnects).toEqual([
      { address: standby.address, code: status.UNAVAILABLE, details: "not leader" },
    ]);
    const stream = await leader.stream();
    stream.assign({ taskId: "t1", type: "echo", payloadJson: '"hi"' });
    expect((await stream.next("completed")).resultJson).toBe('"hi"');
  });

  it("goes round the list: an unreachable address, a standby, then the leader", async () => {
    const gone = await fakeDispatcher();
    const goneAddress = gone.address;
    await gone.stop();
    const standby = await fakeDispatcher({ refuse: "not leader" });
    const leader = await fakeDispatcher();
    const w = worker({ addresses: [goneAddress, standby.address, leader.address], handlers: { echo } });
    const addresses: string[] = [];
    w.on("disconnected", ({ address }) => addresses.push(address));
    await w.start();
    expect(addresses).toEqual([goneAddress, standby.address]);
    expect(w.id).toBe("w-1");
  });

  it("retries a dispatcher whose stream broke, but moves on from one that lost leadership", async () => {
    const a = await fakeDispatcher();
    const b = await fakeDispatcher();
    const w = worker({ addresses: [a.address, b.address], handlers: { echo } });
    await w.start();
    (await a.stream(0)).close(status.UNAVAILABLE, "connection reset");
    (await a.stream(1)).close(status.UNAVAILABLE, "not leader");
    await b.stream(0);
    expect(b.registers).toEqual([expect.objectContaining({ workerId: "w-1" })]);
    expect(a.registers).toHaveLength(2);
  });
});
