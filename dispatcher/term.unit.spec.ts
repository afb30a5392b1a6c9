import { once } from "node:events";
import { v7 as uuidv7 } from "uuid";
import { afterEach, describe, expect, it, vi } from "vitest";
import { actorOf, DEFAULT_RETRY, fold, StaleEpochError, type TaskSpec } from "../domain/task/index.ts";
import type { MemoryEventLog } from "../event-store/memory-event-log.ts";
import type { WorkerMessage } from "../proto/gen/taskstream/v1/workers.ts";
import { MemoryLimits } from "../queues/memory-limits.ts";
import type { DispatcherConfig } from "./context.ts";
import { Term, type TermEvents } from "./term.ts";
import {
  FakeHost,
  FixedSettings,
  memoryLog,
  quietLog,
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

/** A term of partition 0 over a one-partition in-memory log, a fake host, and what it announced. */
function termOver(store: MemoryEventLog = memoryLog(1), config: Partial<DispatcherConfig> = {}, epoch = 1) {
  const host = new FakeHost();
  const log = quietLog();
  const fenced: number[] = [];
  const term = new Term(0, epoch, {
    store,
    settings: new FixedSettings(),
    limits: new MemoryLimits(),
    publishStats: () => Promise.resolve(),
    fencedOut: () => void fenced.push(epoch),
    config: unitConfig(config),
    metrics: unitMetrics(),
    log,
    toHost: host.toHost,
  });
  host.attach(term);
  terms.push(term);
  const announced: string[] = [];
  for (const name of ["leading", "closed", "workerLost"] as (keyof TermEvents)[])
    term.on(name, () => void announced.push(name));
  /** A worker joined through the host with `slots` credits. */
  const worker = (types = ["echo"], slots = 4) => {
    const id = uuidv7();
    const joined = host.join(0, id, types, slots);
    return { id, ...joined, send: (msg: WorkerMessage["msg"]) => joined.report({ msg }) };
  };
  const submit = async (spec: Partial<TaskSpec> = {}) => (await submitTask(store, null, spec)).id;
  const history = async (id: string) => (await store.readTask(id)).map((event) => event.type);
  return { term, store, host, log, announced, fenced, worker, submit, history };
}

const completed = (taskId: string, attempt: number, resultJson: string): WorkerMessage["msg"] => ({
  $case: "completed",
  value: { taskId, attempt, resultJson },
});

describe("Term (one partition, as its owner runs it)", () => {
  it("hands a submitted task to a joined worker within its credits and records its completion", async () => {
    const { term, announced, worker, submit, history } = termOver();
    await term.start();
    expect(announced).toEqual(["leading"]);
    const w = worker();

    const id = await submit();
    const assignment = await w.stream.next("assignment");
    expect(assignment).toMatchObject({ taskId: id, attempt: 1, type: "echo" });
    w.send({ $case: "started", value: { taskId: id, attempt: 1 } });
    w.send(completed(id, 1, '{"ok":true}'));

    expect(await w.stream.next("ack")).toEqual({ taskId: id, attempt: 1, accepted: true, reason: "" });
    expect(await history(id)).toEqual(["TaskSubmitted", "TaskAssigned", "TaskStarted", "TaskSucceeded"]);
    expect(fold(await term.store.readTask(id))).toMatchObject({ state: "SUCCEEDED", result: { ok: true } });
    // Who caused each: the owner (its epoch) assigned it, the worker reported through its host.
    const epoch = actorOf((await term.store.readTask(id))[1]!);
    expect(epoch).toMatch(/^d:\d+$/);
    expect((await term.store.readTask(id)).slice(2).map((event) => actorOf(event))).toEqual([
      `w:${w.id}/host-1`,
      `w:${w.id}/host-1`,
    ]);
  });

  it("never assigns a worker more attempts than the credits its host lent, and says what it still wants", async () => {
    const { term, host, worker, submit } = termOver();
    await term.start();
    const ids = [await submit(), await submit(), await submit()];
    const w = worker(["echo"], 2);
    const first = [await w.stream.next("assignment"), await w.stream.next("assignment")];
    await turn();
    await turn();
    expect(w.stream.all("assignment")).toHaveLength(2);
    expect(ids).toEqual(expect.arrayContaining(first.map((a) => a.taskId)));
    // One task is left that the worker could run: the host is told, to lend it a slot when one frees.
    expect(host.all("wanted").at(-1)).toMatchObject({ workerId: w.id, count: 1, priority: 5 });
  });

  it("gives back credits it cannot use, and tells the host when an attempt ends without its result", async () => {
    const { term, host, worker, submit } = termOver();
    await term.start();
    const w = worker(["echo"], 3);
    const id = await submit({ timeouts: { scheduleToStartMs: null, startToCloseMs: 50, heartbeatMs: null } });
    await w.stream.next("assignment");
    // Credits it has no work for (a host lending on an old want): all go back.
    term.fromHost(host.id, {
      $case: "credits",
      value: { partition: 0, workerId: w.id, count: 2, elsewhere: [] },
    });
    await turn();
    await turn();
    expect(host.all("returned").reduce((sum, r) => sum + r.count, 0)).toBe(2);
    // The attempt times out: its slot is the host's again.
    await vi.waitFor(() =>
      expect(host.all("ended")).toEqual([{ partition: 0, workerId: w.id, taskId: id, attempt: 1 }]),
    );
  });

  it("refuses another worker's report of an attempt, and records the refusal", async () => {
    const { term, worker, submit, history } = termOver();
    await term.start();
    const owner = worker(["echo"]);
    const intruder = worker(["other"]);
    const id = await submit();
    await owner.stream.next("assignment");

    intruder.send(completed(id, 1, '"stolen"'));

    expect(await intruder.stream.next("ack")).toEqual({
      taskId: id,
      attempt: 1,
      accepted: false,
      reason: "WRONG_WORKER",
    });
    const rejection = (await term.store.readTask(id)).at(-1);
    expect(rejection).toMatchObject({
      type: "TaskResultRejected",
      data: { reason: "WRONG_WORKER", workerId: intruder.id },
    });
    owner.send(completed(id, 1, '"mine"'));
    expect(await owner.stream.next("ack")).toMatchObject({ accepted: true });
    expect(fold(await term.store.readTask(id))).toMatchObject({ state: "SUCCEEDED", result: "mine" });
    expect((await history(id)).filter((type) => type === "TaskSucceeded")).toHaveLength(1);
  });

  it("retries the attempt of a worker gone past its reconnect grace, on another worker", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "Date"] });
    const { term, worker, submit } = termOver(memoryLog(1), { reconnectGraceMs: 200 });
    await term.start();
    const doomed = worker();
    const id = await submit({ retry: { ...DEFAULT_RETRY, initialBackoffMs: 0 } });
    await doomed.stream.next("assignment");
    const survivor = worker();
    doomed.left(false); // its stream broke, and it never comes back through any host

    const lost = once(term, "workerLost");
    await vi.advanceTimersByTimeAsync(1000); // the next sweep
    expect(await lost).toEqual([{ workerId: doomed.id, reason: "disconnected", attempts: 1 }]);

    expect(await survivor.stream.next("assignment")).toMatchObject({ taskId: id, attempt: 2 });
    expect(fold(await term.store.readTask(id)).lastError).toMatchObject({ type: "WORKER_LOST" });
  });

  it("retries at once the attempts of a worker its host reports lost", async () => {
    const { term, worker, submit } = termOver();
    await term.start();
    const doomed = worker();
    const id = await submit({ retry: { ...DEFAULT_RETRY, initialBackoffMs: 0 } });
    await doomed.stream.next("assignment");
    const lost = once(term, "workerLost");
    doomed.left(true, "heartbeat timeout");
    expect(await lost).toEqual([{ workerId: doomed.id, reason: "heartbeat timeout", attempts: 1 }]);
    const survivor = worker();
    expect(await survivor.stream.next("assignment")).toMatchObject({ taskId: id, attempt: 2 });
  });

  it("never starts when closed while it rebuilds, and accepts nothing", async () => {
    const store = memoryLog(1);
    const { term, announced, worker, history } = termOver(store);
    const waiting = (await submitTask(store, null)).id;
    const readAll = store.readAll.bind(store);
    store.readAll = (partition, options) => {
      term.close("lease lost"); // the claim is lost while the log is read
      return readAll(partition, options);
    };

    await expect(term.start()).rejects.toThrow(/closed while it rebuilt/);

    expect(term.accepting).toBe(false);
    expect(announced).toEqual(["closed"]);
    const w = worker();
    term.placement.schedule();
    await turn();
    await turn();
    expect(w.stream.received).toEqual([]);
    expect(await history(waiting)).toEqual(["TaskSubmitted"]);
  });

  it("closes at its first write refused for a newer epoch, and writes nothing", async () => {
    const store = memoryLog(1);
    const { term, worker, submit, history, announced, fenced } = termOver(store, {}, 1);
    await term.start();
    await store.claim(0, 5); // another dispatcher claimed the partition meanwhile
    const w = worker();
    const id = await submit();
    await vi.waitFor(() => expect(announced).toContain("closed"));
    expect(fenced).toEqual([1]);
    expect(term.accepting).toBe(false);
    expect(w.stream.all("assignment")).toEqual([]);
    expect(await history(id)).toEqual(["TaskSubmitted"]);
    await expect(
      store.append(id, 1, [{ type: "TaskCancelRequested", data: { reason: "r", at: 1 } }], { epoch: 1 }),
    ).rejects.toBeInstanceOf(StaleEpochError);
  });
});
