import { describe, expect, it } from "vitest";
import type { DispatcherMessage } from "../proto/gen/taskstream/v1/workers.ts";
import { WorkerSession, type SessionStream } from "./worker-session.ts";

const info = {
  id: "w",
  name: "w",
  types: ["t"],
  labels: {},
  slots: 4,
  sdk: "test",
  keyId: null,
  namespaces: null,
};
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
const ack = (taskId: string): DispatcherMessage => ({
  msg: { $case: "ack", value: { taskId, attempt: 1, accepted: true, reason: "" } },
});

function session(acceptsBatches: boolean) {
  const written: DispatcherMessage[] = [];
  const stream: SessionStream = { acceptsBatches, send: (m) => written.push(m), close: () => {} };
  return { session: new WorkerSession(info, stream, 0), written };
}

describe("WorkerSession.send", () => {
  it("writes one turn's messages as one DispatcherBatch, in order, at the end of the turn", async () => {
    const { session: s, written } = session(true);
    s.send(ack("a"));
    s.send(ack("b"));
    s.send(ack("c"));
    expect(written).toEqual([]);
    await turn();
    expect(written).toEqual([
      { msg: { $case: "batch", value: { messages: [ack("a"), ack("b"), ack("c")] } } },
    ]);
  });

  it("writes a message alone when it is the only one of its turn", async () => {
    const { session: s, written } = session(true);
    s.send(ack("a"));
    await turn();
    s.send(ack("b"));
    await turn();
    expect(written).toEqual([ack("a"), ack("b")]);
  });

  it("writes one message at a time to a worker that does not accept batches", async () => {
    const { session: s, written } = session(false);
    s.send(ack("a"));
    s.send(ack("b"));
    await turn();
    expect(written).toEqual([ack("a"), ack("b")]);
  });

  it("drops what is queued when the stream goes away before the flush", async () => {
    const { session: s, written } = session(true);
    s.send(ack("a"));
    s.stream = null;
    s.send(ack("b"));
    await turn();
    expect(written).toEqual([]);
  });
});

describe("WorkerSession.wave", () => {
  it("is half the worker's slots, at least one", () => {
    const wave = (slots: number) => new WorkerSession({ ...info, slots }, null as never, 0).wave;
    expect([1, 2, 3, 10, 50].map(wave)).toEqual([1, 1, 2, 5, 25]);
  });
});
