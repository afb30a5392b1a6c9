import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { withSlot } from "../domain/task/index.ts";
import { verifyReadModel } from "./verify.ts";
import { TasksProjector } from "./tasks-projector.ts";
import { taskUpdatesChannel, type TaskRow } from "./task-row.ts";
import {
  createReadModelFixture,
  newTaskId,
  on,
  succeededLife,
  taskSpec,
  type ReadModelFixture,
} from "./testing/read-model-fixture.ts";
import { projectionSpec, readModelView } from "./testing/projection-spec.ts";
import { until } from "../tests/support/signals.ts";

const T0 = Date.parse("2030-01-01T00:00:00.000Z");
/** A message the test publishes after the projector's, to know it has heard all of theirs. */
const SENTINEL = '"end of the test\'s messages"';

describe("TasksProjector", () => {
  let fx: ReadModelFixture;
  let projector: TasksProjector;
  const extra: TasksProjector[] = [];

  beforeAll(async () => {
    fx = await createReadModelFixture("proj");
    projector = new TasksProjector({ store: fx.store, redis: fx.redis, pool: fx.pool });
  });
  afterEach(async () => {
    await Promise.all(extra.splice(0).map((p) => p.stop()));
  });
  afterAll(async () => {
    await fx.close();
  });

  const checkpoints = async () =>
    (
      await fx.pool.query<{ partition: number; stream_id: string }>(
        "select partition, stream_id from projection_checkpoints where projector = $1 order by partition",
        [projector.checkpointKey],
      )
    ).rows;

  it("given nothing, when a task is submitted, then a QUEUED row and its event", async () => {
    const id = newTaskId();
    const spec = taskSpec({
      type: "resize",
      priority: 7,
      payload: { url: "x" },
      idempotencyKey: "k-1",
      metadata: { a: "b" },
    });
    await projectionSpec(fx, projector)
      .given()
      .when([id, [on.submitted(T0, spec)]])
      .then(async (view) => {
        expect(await view.row(id)).toMatchObject({
          id,
          type: "resize",
          state: "QUEUED",
          priority: 7,
          attempt: 0,
          maxAttempts: spec.retry.maxAttempts,
          payload: { url: "x" },
          result: null,
          idempotencyKey: "k-1",
          metadata: { a: "b" },
          availableAt: T0,
          createdAt: T0,
          updatedAt: T0,
          version: 1,
          partition: fx.store.partitionOf(id),
        });
        expect((await view.events(id)).map((e) => [e.version, e.type])).toEqual([[1, "TaskSubmitted"]]);
      });
  });

  it("given a submitted task, when it runs and succeeds, then SUCCEEDED with its result and every event in order", async () => {
    const id = newTaskId();
    const [submitted, ...rest] = succeededLife(T0, { answer: 42 });
    await projectionSpec(fx, projector)
      .given([id, [submitted!]])
      .when([id, rest])
      .then(async (view) => {
        const row = await view.row(id);
        expect(row).toMatchObject({
          state: "SUCCEEDED",
          attempt: 1,
          result: { answer: 42 },
          workerId: "worker-1",
          version: 4,
        });
        expect(row!.updatedAt).toBe(T0 + 3);
        const events = await view.events(id);
        expect(events.map((e) => e.type)).toEqual([
          "TaskSubmitted",
          "TaskAssigned",
          "TaskStarted",
          "TaskSucceeded",
        ]);
        expect(row!.lastStreamId).toBe(events.at(-1)!.stream_id);
      });
  });

  it("keeps each event's data in the history byte for byte as the log holds it", async () => {
    const id = newTaskId();
    await fx.store.append(id, -1, succeededLife(T0, { answer: 42, nested: { list: [1, "two"] } }));
    await projector.catchUp();
    const logged = (await fx.store.readTask(id)).map((event) => event.rawData);
    const { rows } = await fx.pool.query<{ data: string }>(
      `select (e -> 'data')::text as data from task_event_runs r, json_array_elements(r.events) e
       where r.task_id = $1 order by (e ->> 'version')::int`,
      [id],
    );
    expect(logged).toHaveLength(4);
    expect(rows.map((row) => row.data)).toEqual(logged);
  });

  it("given a running task, when its attempt fails with a retry and a cancel is requested, then QUEUED with the error", async () => {
    const id = newTaskId();
    await projectionSpec(fx, projector)
      .given([id, [on.submitted(T0), on.assigned(1, T0 + 1), on.started(1, T0 + 2)]])
      .when([id, [on.failed(1, T0 + 3, T0 + 1000, "disk full"), on.cancelRequested(T0 + 4)]])
      .then(async (view) => {
        expect(await view.row(id)).toMatchObject({
          state: "QUEUED",
          attempt: 1,
          workerId: null,
          availableAt: T0 + 1000,
          lastError: { message: "disk full", type: "Error", nonRetryable: false },
          cancelRequested: true,
          version: 5,
        });
      });
  });

  it("replaying the log from the start changes nothing: events at or below a row's version are skipped", async () => {
    const id = newTaskId();
    await fx.store.append(id, 0, succeededLife(T0 + 10));
    await projector.catchUp();
    const view = readModelView(fx.pool);
    const [rowBefore, eventsBefore] = [await view.row(id), await view.events(id)];
    const countBefore = await fx.pool.query("select count(*)::int as n from task_events");

    await fx.pool.query("update projection_checkpoints set stream_id = '0-0' where projector = $1", [
      projector.checkpointKey,
    ]);
    expect(await projector.catchUp()).toBe(0);

    expect(await view.row(id)).toEqual(rowBefore);
    expect(await view.events(id)).toEqual(eventsBefore);
    expect((await fx.pool.query("select count(*)::int as n from task_events")).rows).toEqual(
      countBefore.rows,
    );
  });

  it("moves the checkpoint in the batch's transaction: an event that cannot be written leaves its checkpoint, rows and events as they were", async () => {
    await projector.catchUp();
    const slot = 3;
    const good = withSlot(newTaskId(), slot);
    const bad = withSlot(newTaskId(), slot);
    const { streamIds } = (await fx.store.append(good, 0, [on.submitted(T0)])) as { streamIds: string[] };
    await fx.store.append(bad, 0, [on.submitted(T0, taskSpec({ type: "explode" }))]);
    await fx.pool.query("alter table tasks add constraint crash_test check (type <> 'explode')");
    try {
      await expect(projector.catchUp()).rejects.toThrow(/crash_test/);
      // The event before the poison one committed with its checkpoint; the poison one did not.
      const partition = fx.store.partitionOf(bad);
      expect((await checkpoints()).find((c) => c.partition === partition)?.stream_id).toBe(streamIds[0]);
      const view = readModelView(fx.pool);
      expect(await view.row(bad)).toBeUndefined();
      expect(await view.events(bad)).toEqual([]);
      expect(await view.events(good)).toHaveLength(1);
    } finally {
      await fx.pool.query("alter table tasks drop constraint crash_test");
    }
    // After the "restart" the rest projects exactly once.
    expect(await projector.catchUp()).toBe(1);
    const view = readModelView(fx.pool);
    expect((await view.row(bad))?.state).toBe("QUEUED");
    expect(await view.events(good)).toHaveLength(1);
  });

  it("rebuilds from the log a row lost outside the projector before folding its next event", async () => {
    const id = newTaskId();
    await fx.store.append(id, 0, [on.submitted(T0), on.assigned(1, T0 + 1)]);
    await projector.catchUp();
    await fx.pool.query("delete from tasks where id = $1", [id]);
    await fx.store.append(id, 2, [on.started(1, T0 + 2)]);
    expect(await projector.catchUp()).toBe(1);
    expect(await readModelView(fx.pool).row(id)).toMatchObject({
      state: "RUNNING",
      attempt: 1,
      version: 3,
      createdAt: T0,
    });
  });

  it("records each event once in the history when the whole log is replayed over a lost row", async () => {
    const id = newTaskId();
    await fx.store.append(id, 0, [on.submitted(T0), on.assigned(1, T0 + 1)]);
    await projector.catchUp();
    await fx.store.append(id, 2, [on.started(1, T0 + 2)]);
    await projector.catchUp(); // the history now holds two runs: versions 1–2 and 3
    await fx.pool.query("delete from tasks where id = $1", [id]);
    await fx.pool.query("delete from projection_checkpoints");
    await fx.store.append(id, 3, [on.succeeded(1, T0 + 3, null)]);
    await new TasksProjector({ store: fx.store, redis: fx.redis, pool: fx.pool }).catchUp();
    const view = readModelView(fx.pool);
    expect((await view.events(id)).map((e) => [e.version, e.type])).toEqual([
      [1, "TaskSubmitted"],
      [2, "TaskAssigned"],
      [3, "TaskStarted"],
      [4, "TaskSucceeded"],
    ]);
    expect(await view.row(id)).toMatchObject({ state: "SUCCEEDED", version: 4 });
  });

  it("two instances racing over one log project every event exactly once", async () => {
    await projector.catchUp();
    const rivals = [fx.newPool(), fx.newPool()].map(
      (pool) => new TasksProjector({ store: fx.store, redis: fx.redis, pool, batchSize: 5 }),
    );
    const ids = Array.from({ length: 40 }, () => newTaskId());
    await Promise.all(ids.map((id, i) => fx.store.append(id, 0, succeededLife(T0 + i))));
    const applied = await Promise.all([...rivals, ...rivals].map((p) => p.catchUp()));

    expect(applied.reduce((a, b) => a + b, 0)).toBe(ids.length * 4);
    expect(rivals[0]!.projectedEvents + rivals[1]!.projectedEvents).toBe(ids.length * 4);
    const { rows } = await fx.pool.query<{ n: number; versions: number[] }>(
      "select count(*)::int as n, array_agg(distinct version) as versions from tasks where id = any($1)",
      [ids],
    );
    expect(rows[0]).toEqual({ n: ids.length, versions: [4] });
    const events = await fx.pool.query<{ n: number }>(
      "select count(*)::int as n from task_events where task_id = any($1)",
      [ids],
    );
    expect(events.rows[0]!.n).toBe(ids.length * 4);
  });

  it("when started, follows the log, calls onCommitted and publishes each changed row", async () => {
    await projector.catchUp();
    const committed: TaskRow[] = [];
    const batches: [number, number][] = [];
    const live = new TasksProjector({
      store: fx.store,
      redis: fx.redis,
      pool: fx.pool,
      blockMs: 100,
      onCommitted: (rows) => committed.push(...rows),
      onBatch: (events, lagMs) => batches.push([events, lagMs]),
    });
    extra.push(live);
    const subscriber = fx.redis.duplicate();
    // Collected as they come, asserted after: an assertion inside the callback would throw into
    // the Redis client, not fail the test.
    const messages: unknown[] = [];
    let sentinelHeard!: () => void;
    const heard = new Promise<void>((resolve) => (sentinelHeard = resolve));
    subscriber.on("message", (_channel: string, message: string) => {
      if (message === SENTINEL) sentinelHeard();
      else messages.push(JSON.parse(message));
    });
    await subscriber.subscribe(taskUpdatesChannel(fx.prefix));
    try {
      await live.start();
      const id = newTaskId();
      // A batch is handled once its rows are published.
      const handled = until(live, "handled", () => live.projectedEvents >= 4);
      const appended = await fx.store.append(id, 0, succeededLife(Date.now()));
      if (appended.kind !== "appended") throw new Error("not appended");
      await live.waitFor({ [fx.store.partitionOf(id)]: appended.streamIds.at(-1)! });

      expect(committed.filter((row) => row.id === id).at(-1)).toMatchObject({
        state: "SUCCEEDED",
        version: 4,
      });
      expect(live.projectedEvents).toBe(4);
      expect(batches.reduce((n, [events]) => n + events, 0)).toBe(4);
      expect(live.lagMs).toBeGreaterThanOrEqual(0);
      expect(live.lagMs).toBeLessThan(10_000);
      await handled;
      // Published after the projector's messages, so heard after every one of them.
      await fx.redis.publish(taskUpdatesChannel(fx.prefix), SENTINEL);
      await heard;
      // One non-empty array of rows per committed batch, the task's last row SUCCEEDED.
      expect(messages).toHaveLength(live.committedBatches);
      for (const rows of messages) expect(Array.isArray(rows) && rows.length > 0).toBe(true);
      const rowsOfTask = (messages as TaskRow[][]).flat().filter((row) => row.id === id);
      expect(rowsOfTask.at(-1)?.state).toBe("SUCCEEDED");
    } finally {
      subscriber.disconnect();
    }
  });

  it("publishes a batch's rows only while some process listens on the channel", async () => {
    await projector.catchUp();
    const live = new TasksProjector({ store: fx.store, redis: fx.redis, pool: fx.pool, blockMs: 100 });
    extra.push(live);
    await live.start();
    /** A task's whole life, projected and its batch handled: its rows published (or not) by then. */
    const project = async () => {
      const id = newTaskId();
      const target = live.projectedEvents + 4;
      const handled = until(live, "handled", () => live.projectedEvents >= target);
      await fx.store.append(id, 0, succeededLife(Date.now()));
      await handled;
      return id;
    };
    await project();
    expect(live.unheardBatches).toBeGreaterThan(0);

    const subscriber = fx.redis.duplicate();
    const published: string[] = [];
    let sentinelHeard = () => {};
    subscriber.on("message", (_channel: string, message: string) => {
      if (message === SENTINEL) sentinelHeard();
      else published.push(...(JSON.parse(message) as TaskRow[]).map((row) => row.id));
    });
    await subscriber.subscribe(taskUpdatesChannel(fx.prefix));
    try {
      const unheard = live.unheardBatches;
      const id = await project();
      // Published after the projector's messages, so heard after every one of them.
      const heard = new Promise<void>((resolve) => (sentinelHeard = resolve));
      await fx.redis.publish(taskUpdatesChannel(fx.prefix), SENTINEL);
      await heard;
      expect(published).toContain(id);
      expect(live.unheardBatches).toBe(unheard);
    } finally {
      subscriber.disconnect();
    }
  });

  it("two started instances share the work through their checkpoints", async () => {
    await projector.catchUp();
    const rivals = [fx.newPool(), fx.newPool()].map(
      (pool) => new TasksProjector({ store: fx.store, redis: fx.redis, pool, blockMs: 50, batchSize: 8 }),
    );
    extra.push(...rivals);
    await Promise.all(rivals.map((p) => p.start()));
    const ids = Array.from({ length: 30 }, () => newTaskId());
    const last = new Map<number, string>();
    for (const [i, id] of ids.entries()) {
      const appended = await fx.store.append(id, 0, succeededLife(T0 + i));
      if (appended.kind === "appended") last.set(fx.store.partitionOf(id), appended.streamIds.at(-1)!);
    }
    await Promise.all(rivals.map((p) => p.waitFor(last)));
    expect(rivals[0]!.projectedEvents + rivals[1]!.projectedEvents).toBe(ids.length * 4);
    const events = await fx.pool.query<{ n: number }>(
      "select count(*)::int as n from task_events where task_id = any($1)",
      [ids],
    );
    expect(events.rows[0]!.n).toBe(ids.length * 4);
  });

  it("does not fold onto rows it remembers once another instance has projected past them", async () => {
    await projector.catchUp();
    // `first` follows the log but pauses 1.5 s after each commit; `second` projects in that pause.
    const first = new TasksProjector({
      store: fx.store,
      redis: fx.redis,
      pool: fx.pool,
      blockMs: 50,
      minCommitIntervalMs: 1500,
    });
    extra.push(first);
    const second = new TasksProjector({ store: fx.store, redis: fx.redis, pool: fx.newPool() });
    await first.start();
    const id = newTaskId();
    const partition = fx.store.partitionOf(id);
    const submitted = await fx.store.append(id, 0, [on.submitted(T0)]);
    if (submitted.kind !== "appended") throw new Error("not appended");
    await first.waitFor({ [partition]: submitted.streamIds[0]! }); // remembers the row at version 1
    await fx.store.append(id, 1, [on.assigned(1, T0 + 1), on.started(1, T0 + 2)]);
    await second.catchUp(); // the row moves to version 3 behind `first`'s back
    const last = await fx.store.append(id, 3, [on.succeeded(1, T0 + 3, { n: 1 })]);
    if (last.kind !== "appended") throw new Error("not appended");
    await first.waitFor({ [partition]: last.streamIds[0]! });
    const report = await verifyReadModel({ store: fx.store, pool: fx.pool, taskIds: [id] });
    expect(report.mismatches).toEqual([]);
    expect(await readModelView(fx.pool).row(id)).toMatchObject({
      state: "SUCCEEDED",
      version: 4,
      attempt: 1,
    });
    expect(first.conflicts).toBe(1);
  });

  it("writes a remembered row whole when the read model lost it", async () => {
    await projector.catchUp();
    const id = newTaskId();
    await fx.store.append(id, 0, [on.submitted(T0, taskSpec({ type: "lost", payload: { p: 1 } }))]);
    await projector.catchUp();
    await fx.pool.query("delete from tasks where id = $1", [id]);
    await fx.store.append(id, 1, [on.assigned(1, T0 + 1)]);
    await projector.catchUp();
    expect(await readModelView(fx.pool).row(id)).toMatchObject({
      type: "lost",
      payload: { p: 1 },
      state: "ASSIGNED",
      version: 2,
    });
  });
});
