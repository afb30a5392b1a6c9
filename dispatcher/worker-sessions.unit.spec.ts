import { describe, expect, it } from "vitest";
import { status } from "@grpc/grpc-js";
import { fold, type TaskEvent, type TaskState } from "../domain/task/index.ts";
import { taskEvents as on } from "../domain/testing/task-events.ts";
import { FakeSessionStream, registerMessage } from "./testing/term-doubles.ts";
import { WorkerSessions } from "./worker-sessions.ts";

const T0 = Date.parse("2030-01-01T00:00:00.000Z");
const limits = { heartbeatTimeoutMs: 1000, reconnectGraceMs: 500 };

/** Task states as the log has them: id → fold of its events. */
function logSays(histories: Record<string, TaskEvent[]>): (taskId: string) => TaskState | undefined {
  const states = new Map(Object.entries(histories).map(([id, events]) => [id, fold(events)]));
  return (taskId) => states.get(taskId);
}

const nothing = logSays({});

describe("WorkerSessions.register", () => {
  it("opens a session under the worker's id, or a new id for a new worker", () => {
    const sessions = new WorkerSessions();
    const named = sessions.register(
      registerMessage({ workerId: "w-1" }),
      new FakeSessionStream(),
      nothing,
      T0,
    );
    const fresh = sessions.register(registerMessage(), new FakeSessionStream(), nothing, T0);

    expect(named.session.id).toBe("w-1");
    expect(fresh.session.id).not.toBe("");
    expect(fresh.session.id).not.toBe("w-1");
    expect(sessions.size).toBe(2);
    expect(named.forgotten).toEqual([]);
  });

  it("keeps the attempts of a resumed identity, and the older stream stops speaking for it", () => {
    const sessions = new WorkerSessions();
    const oldStream = new FakeSessionStream();
    const { session: old } = sessions.register(registerMessage({ workerId: "w-1" }), oldStream, nothing, T0);
    sessions.hold("t-1", old, 1);

    const resumed = sessions.register(
      registerMessage({ workerId: "w-1", active: [{ taskId: "t-1", attempt: 1 }] }),
      new FakeSessionStream(),
      nothing,
      T0 + 10,
    );

    expect([...resumed.session.attempts]).toEqual([["t-1", 1]]);
    expect(resumed.forgotten).toEqual([]);
    expect(sessions.isCurrent(old)).toBe(false);
    expect(sessions.isCurrent(resumed.session)).toBe(true);
    expect(oldStream.closed).toEqual({ code: status.CANCELLED, details: "replaced by a newer connection" });
    expect(sessions.holderOf("t-1")).toBe(resumed.session);
  });

  it("adopts only the attempts the log says are this worker's, current and out", () => {
    const sessions = new WorkerSessions();
    const stateOf = logSays({
      mine: [on.submitted(T0), on.assigned(2, T0 + 1, "w-1")],
      running: [on.submitted(T0), on.assigned(1, T0 + 1, "w-1"), on.started(1, T0 + 2, "w-1")],
      theirs: [on.submitted(T0), on.assigned(1, T0 + 1, "w-2")],
      stale: [on.submitted(T0), on.assigned(3, T0 + 1, "w-1")],
      queued: [on.submitted(T0)],
      done: [on.submitted(T0), on.assigned(1, T0 + 1, "w-1"), on.succeeded(1, T0 + 2, null)],
    });
    const active = [
      { taskId: "mine", attempt: 2 },
      { taskId: "running", attempt: 1 },
      { taskId: "theirs", attempt: 1 },
      { taskId: "stale", attempt: 2 },
      { taskId: "queued", attempt: 1 },
      { taskId: "done", attempt: 1 },
      { taskId: "unknown", attempt: 1 },
    ];

    const { session } = sessions.register(
      registerMessage({ workerId: "w-1", active }),
      new FakeSessionStream(),
      stateOf,
      T0,
    );

    expect(Object.fromEntries(session.attempts)).toEqual({ mine: 2, running: 1 });
    expect(sessions.holderOf("mine")).toBe(session);
    expect(sessions.holderOf("theirs")).toBeUndefined();
  });

  it("reports the attempts it held that the reconnecting worker no longer lists, but not one being assigned", () => {
    const sessions = new WorkerSessions();
    const { session: old } = sessions.register(
      registerMessage({ workerId: "w-1" }),
      new FakeSessionStream(),
      nothing,
      T0,
    );
    sessions.hold("kept", old, 1);
    sessions.hold("lost", old, 2);
    sessions.hold("being-assigned", old, 0);

    const { forgotten } = sessions.register(
      registerMessage({ workerId: "w-1", active: [{ taskId: "kept", attempt: 1 }] }),
      new FakeSessionStream(),
      nothing,
      T0 + 10,
    );

    expect(forgotten).toEqual([["lost", 2]]);
  });
});

describe("WorkerSessions.sweep", () => {
  it("loses a session gone past the reconnect grace; a silent one is its host's to report", () => {
    const sessions = new WorkerSessions();
    const open = (id: string, lastSeenAt: number) => {
      const stream = new FakeSessionStream();
      const { session } = sessions.register(registerMessage({ workerId: id }), stream, nothing, lastSeenAt);
      return { session, stream };
    };
    const silent = open("silent", T0);
    const chatty = open("chatty", T0 + 900);
    const gone = open("gone", T0);
    const returning = open("returning", T0);
    sessions.disconnected(gone.session, T0 + 400);
    sessions.disconnected(returning.session, T0 + 700);

    const lost = sessions.sweep(T0 + 1001, limits);

    expect(lost.map(({ session, reason }) => [session.id, reason])).toEqual([["gone", "disconnected"]]);
    expect(silent.stream.closed).toBeNull();
    expect(chatty.stream.closed).toBeNull();
    expect([...sessions.values()].map((s) => s.id).sort()).toEqual(["chatty", "returning", "silent"]);
    expect(sessions.sweep(T0 + 1001, limits)).toEqual([]);
  });

  it("keeps a disconnected session through the grace, offering no slot, and loses it after", () => {
    const sessions = new WorkerSessions();
    const { session } = sessions.register(
      registerMessage({ workerId: "w-1", slots: 3 }),
      new FakeSessionStream(),
      nothing,
      T0,
    );
    sessions.disconnected(session, T0);

    expect(session.freeSlots).toBe(0);
    expect(sessions.sweep(T0 + limits.reconnectGraceMs, limits)).toEqual([]);
    expect(sessions.sweep(T0 + limits.reconnectGraceMs + 1, limits)).toEqual([
      { session, reason: "disconnected" },
    ]);
  });
});

describe("WorkerSessions holders", () => {
  it("takes a slot per attempt held and frees it when unheld", () => {
    const sessions = new WorkerSessions();
    const { session } = sessions.register(
      registerMessage({ workerId: "w-1", slots: 2 }),
      new FakeSessionStream(),
      nothing,
      T0,
    );
    sessions.hold("a", session, 1);
    sessions.hold("b", session, 0); // being assigned: a slot already

    expect(session.freeSlots).toBe(0);
    expect(sessions.holderOf("a")).toBe(session);
    expect(sessions.holds("a", 1)).toBe(true);
    expect(sessions.holds("a", 2)).toBe(false);

    expect(sessions.unhold("a")).toEqual({ session, attempt: 1 });
    expect(session.freeSlots).toBe(1);
    expect(sessions.holderOf("a")).toBeUndefined();
    expect(sessions.unhold("a")).toBeNull();
  });

  it("still counts an attempt whose result is being written as held, until it is unheld", () => {
    const sessions = new WorkerSessions();
    const { session } = sessions.register(registerMessage(), new FakeSessionStream(), nothing, T0);
    sessions.hold("a", session, 1);
    session.attempts.delete("a");
    session.finishing.set("a", 1);

    expect(sessions.holds("a", 1)).toBe(true);
    sessions.unhold("a");
    expect(sessions.holds("a", 1)).toBe(false);
    expect(session.finishing.size).toBe(0);
  });

  it("forgets every session when the term closes (the hosts join their workers to the next owner)", () => {
    const sessions = new WorkerSessions();
    const streams = [new FakeSessionStream(), new FakeSessionStream()];
    for (const stream of streams) sessions.register(registerMessage(), stream, nothing, T0);

    sessions.clear();

    expect(sessions.size).toBe(0);
    expect(streams.map((s) => s.closed)).toEqual([null, null]);
  });
});
