import { once } from "node:events";
import { afterEach, describe, expect, it, vi } from "vitest";
import { DEFAULT_RETRY, fold, type TaskSpec } from "../domain/task/index.ts";
import type { MemoryEventLog } from "../event-store/memory-event-log.ts";
import type { WorkerMessage } from "../proto/gen/taskstream/v1/workers.ts";
import type { DispatcherConfig } from "./context.ts";
import { Term, type TermEvents } from "./term.ts";
import {
  FakeSessionStream,
  FixedSettings,
  memoryLog,
  quietLog,
  RecordingDirectory,
  registerMessage,
  submitTask,
  turn,
  unitConfig,
  unitMetrics,
} from "./testing/term-doubles.ts";

const terms: Term[] = [];
afterEach(() => {
  for (const term of terms.splice(0)) term.close("test over");
  vi.useRealTimers();
});

/** A term over an in-memory log, with stub surroundings, and what it announced. */
function termOver(store: MemoryEventLog = memoryLog(2), config: Partial<DispatcherConfig> = {}, epoch = 1) {
  const directory = new RecordingDirectory();
  const term = new Term(epoch, {
    store,
    registry: directory,
    settings: new FixedSettings(),
    publishStats: () => Promise.resolve(),
    config: unitConfig(config),
    metrics: unitMetrics(),
    log: quietLog(),
    candidate: "127.0.0.1:0",
    onFatal: () => undefined,
  });
  terms.push(term);
  const announced: string[] = [];
  for (const name of ["leading", "closed", "workerLost"] as (keyof TermEvents)[])
    term.on(name, () => void announced.push(name));
  /** A worker registered with the term, its stream kept. */
  const worker = (types = ["echo"], slots = 4) => {
    const stream = new FakeSessionStream();
    const session = term.register(registerMessage({ types, slots }), stream);
    return { session, stream, report: (msg: WorkerMessage["msg"]) => term.report(session, msg) };
  };
  const submit = async (spec: Partial<TaskSpec> = {}) => (await submitTask(store, null, spec)).id;
  const history = async (id: string) => (await store.readTask(id)).map((event) => event.type);
  return { term, store, directory, announced, worker, submit, history };
}

const completed = (taskId: string, attempt: number, resultJson: string): WorkerMessage["msg"] => ({
  $case: "completed",
  value: { taskId, attempt, resultJson },
});

describe("Term", () => {
  it("hands a submitted task to a registered worker and records its completion", async () => {
    const { term, directory, announced, worker, submit, history } = termOver();
    await term.start();
    expect(announced).toEqual(["leading"]);
    const { session, stream, report } = worker();
    expect(directory.registered).toEqual([session.id]);

    const id = await submit();
    const assignment = await stream.next("assignment");
    expect(assignment).toMatchObject({ taskId: id, attempt: 1, type: "echo" });
    await report({ $case: "started", value: { taskId: id, attempt: 1 } });
    await report(completed(id, 1, '{"ok":true}'));

    expect(await stream.next("ack")).toEqual({ taskId: id, attempt: 1, accepted: true, reason: "" });
    expect(await history(id)).toEqual(["TaskSubmitted", "TaskAssigned", "TaskStarted", "TaskSucceeded"]);
    expect(fold(await term.store.readTask(id))).toMatchObject({ state: "SUCCEEDED", result: { ok: true } });
  });

  it("refuses another worker's report of an attempt, and records the refusal", async () => {
    const { term, worker, submit, history } = termOver();
    await term.start();
    const owner = worker(["echo"]);
    const intruder = worker(["other"]);
    const id = await submit();
    await owner.stream.next("assignment");

    await intruder.report(completed(id, 1, '"stolen"'));

    expect(await intruder.stream.next("ack")).toEqual({
      taskId: id,
      attempt: 1,
      accepted: false,
      reason: "WRONG_WORKER",
    });
    const rejection = (await term.store.readTask(id)).at(-1);
    expect(rejection).toMatchObject({
      type: "TaskResultRejected",
      data: { reason: "WRONG_WORKER", workerId: intruder.session.id },
    });
    await owner.report(completed(id, 1, '"mine"'));
    expect(await owner.stream.next("ack")).toMatchObject({ accepted: true });
    expect(fold(await term.store.readTask(id))).toMatchObject({ state: "SUCCEEDED", result: "mine" });
    expect((await history(id)).filter((type) => type === "TaskSucceeded")).toHaveLength(1);
  });

  it("retries the attempt of a worker lost past its reconnect grace, on another worker", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "Date"] });
    const { term, directory, worker, submit } = termOver(memoryLog(2), { reconnectGraceMs: 200 });
    await term.start();
    const doomed = worker();
    const id = await submit({ retry: { ...DEFAULT_RETRY, initialBackoffMs: 0 } });
    await doomed.stream.next("assignment");
    const survivor = worker();
    term.disconnected(doomed.session); // its stream broke, and it never comes back

    const lost = once(term, "workerLost");
    await vi.advanceTimersByTimeAsync(1000); // the next sweep
    expect(await lost).toEqual([{ workerId: doomed.session.id, reason: "disconnected", attempts: 1 }]);

    expect(await survivor.stream.next("assignment")).toMatchObject({ taskId: id, attempt: 2 });
    expect(fold(await term.store.readTask(id)).lastError).toMatchObject({ type: "WORKER_LOST" });
    expect(directory.unregistered).toEqual([doomed.session.id]);
  });

  it("never starts when closed while it rebuilds, and accepts nothing", async () => {
    const store = memoryLog(2);
    const { term, announced, worker, history } = termOver(store);
    const waiting = (await submitTask(store, null)).id;
    const readAll = store.readAll.bind(store);
    store.readAll = (partition, options) => {
      if (partition === 0) term.close("lease lost"); // the lease is lost while the log is read
      return readAll(partition, options);
    };

    await expect(term.start()).rejects.toThrow(/closed while it rebuilt/);

    expect(term.accepting).toBe(false);
    expect(announced).toEqual(["closed"]);
    const { stream } = worker();
    term.placement.schedule();
    await turn();
    await turn();
    expect(stream.received).toEqual([]);
    expect(await history(waiting)).toEqual(["TaskSubmitted"]);
  });

  it("refuses to start with an epoch the log has seen superseded", async () => {
    const store = memoryLog(2);
    await store.fence(3);
    const { term, announced } = termOver(store, {}, 2);
    await expect(term.start()).rejects.toThrow(/epoch 2 is not the newest/);
    expect(term.accepting).toBe(false);
    expect(announced).toEqual([]);
  });
});
