import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deleteKeys } from "../redis-client.ts";
import { v7 as uuidv7 } from "uuid";
import { fold } from "../../domain/task/index.ts";
import { taskEvents as on, succeededLife } from "../../domain/testing/task-events.ts";
import { TasksProjector } from "../../projections/tasks-projector.ts";
import {
  createReadModelFixture,
  type ReadModelFixture,
} from "../../projections/testing/read-model-fixture.ts";
import { RedisEventLog } from "../redis-event-log.ts";
import { TaskHistory } from "../history.ts";
import { streamIdAfter } from "../stream-ids.ts";
import { ArchiveStore } from "./archive-store.ts";
import { Archiver } from "./archiver.ts";
import { TaskCommands } from "../../commands/task-commands.ts";

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** Retention and archive on real Redis and PostgreSQL (docs/retention-and-archive.md). */
describe("the archiver", () => {
  let fx: ReadModelFixture;
  let log: RedisEventLog;
  let projector: TasksProjector;
  let archive: ArchiveStore;
  let archiver: Archiver;
  let history: TaskHistory;
  const T0 = Date.now() - 60_000;

  beforeAll(async () => {
    fx = await createReadModelFixture("archive", 2);
    // No dispatcher reads this log's intake here: leave it out (its own test is below).
    log = new RedisEventLog(fx.redis, { partitions: 2, prefix: `${fx.prefix}-x`, intake: false });
    projector = new TasksProjector({ store: log, redis: fx.redis, pool: fx.pool });
    archive = new ArchiveStore(fx.pool);
    archiver = new Archiver({
      log,
      archive,
      pool: fx.pool,
      retentionMs: 0,
      archiveRetentionDays: 0,
      intervalMs: 1000,
      logger: quiet,
    });
    history = new TaskHistory(log, archive);
  });
  afterAll(async () => {
    await deleteKeys(fx.redis, `${fx.prefix}-x:*`);
    await fx.close();
  });

  const archivedRows = async (taskId: string) =>
    (
      await fx.pool.query<{ version: number }>(
        "select version from task_event_archive where task_id = $1 order by version",
        [taskId],
      )
    ).rows.map((r) => r.version);

  it("moves a finished task to the archive once every projector has passed it, and history reads it whole", async () => {
    const done = uuidv7();
    await log.append(done, 0, succeededLife(T0));
    // Not projected yet: not archived.
    expect(await archiver.runOnce()).toMatchObject({ archived: 0 });
    expect(await log.readTask(done)).toHaveLength(4);
    await projector.catchUp();
    expect((await archiver.runOnce()).archived).toBeGreaterThanOrEqual(1);
    expect(await log.readTask(done)).toEqual([]);
    expect(await archivedRows(done)).toEqual([1, 2, 3, 4]);
    const read = await history.read(done);
    expect(read.archived).toBe(true);
    expect(read.events.map((e) => [e.version, e.type])).toEqual([
      [1, "TaskSubmitted"],
      [2, "TaskAssigned"],
      [3, "TaskStarted"],
      [4, "TaskSucceeded"],
    ]);
    expect(fold(read.events).state).toBe("SUCCEEDED");
    // Nothing twice: another round changes nothing.
    expect((await archiver.runOnce()).archived).toBe(0);
    expect(await archivedRows(done)).toEqual([1, 2, 3, 4]);
  });

  it("never archives a task that is not finished, and a long-running task holds back nothing after it", async () => {
    const running = uuidv7();
    await log.append(running, 0, [on.submitted(T0), on.assigned(1, T0 + 1), on.started(1, T0 + 2)]);
    const later = uuidv7();
    await log.append(later, 0, succeededLife(T0 + 10));
    await projector.catchUp();
    await archiver.runOnce();
    expect(await log.readTask(running)).toHaveLength(3);
    expect(await archivedRows(running)).toEqual([]);
    expect(await log.readTask(later)).toEqual([]);
    expect(await archivedRows(later)).toEqual([1, 2, 3, 4]);
    // When it finishes, it goes too, its early entries with it.
    await log.append(running, 3, [on.succeeded(1, T0 + 20, "ok")]);
    await projector.catchUp();
    await archiver.runOnce();
    expect(await log.readTask(running)).toEqual([]);
    expect(await archivedRows(running)).toEqual([1, 2, 3, 4]);
  });

  it("finishes the work of a round that crashed after writing the archive: nothing lost, nothing twice", async () => {
    const task = uuidv7();
    await log.append(task, 0, succeededLife(T0));
    await projector.catchUp();
    // A round that died after its archive transaction committed, before removing from Redis.
    const events = await log.readTask(task);
    await archive.write([
      { taskId: task, finishedAt: Number(events.at(-1)!.streamId.split("-")[0]), events },
    ]);
    await archiver.runOnce();
    expect(await log.readTask(task)).toEqual([]);
    expect(await archivedRows(task)).toEqual([1, 2, 3, 4]);
  });

  it("defers a finished task changed after it finished until readers pass the change", async () => {
    const task = uuidv7();
    await log.append(task, 0, succeededLife(T0));
    await projector.catchUp();
    // A late report, refused and recorded after the task finished, not projected yet.
    await log.append(task, 4, [
      {
        type: "TaskResultRejected",
        data: { attempt: 1, currentAttempt: 1, reason: "TASK_TERMINAL", at: T0 + 5 },
      },
    ]);
    expect((await archiver.runOnce()).deferred).toBeGreaterThanOrEqual(1);
    expect(await log.readTask(task)).toHaveLength(5);
    await projector.catchUp();
    await archiver.runOnce();
    expect(await log.readTask(task)).toEqual([]);
    expect(await archivedRows(task)).toEqual([1, 2, 3, 4, 5]);
  });

  it("keeps what the leading dispatcher has not read from its intake", async () => {
    const withIntake = new RedisEventLog(fx.redis, { partitions: 1, prefix: `${fx.prefix}-x-intake` });
    const p = new TasksProjector({ store: withIntake, redis: fx.redis, pool: fx.pool });
    const a = new Archiver({
      log: withIntake,
      archive,
      pool: fx.pool,
      retentionMs: 0,
      archiveRetentionDays: 0,
      intervalMs: 1000,
      logger: quiet,
    });
    const task = uuidv7();
    await withIntake.append(task, 0, succeededLife(T0));
    await p.catchUp();
    await a.runOnce();
    expect(await withIntake.readTask(task)).toHaveLength(4);
    // The leader read its intake and trimmed it through what it read: now it may go.
    await withIntake.fence(1);
    await withIntake.trimIntake(0, 1, streamIdAfter(await withIntake.intakeHead(0)));
    expect(await withIntake.intakeTail(0)).toBeNull();
    await a.runOnce();
    expect(await withIntake.readTask(task)).toEqual([]);
    await deleteKeys(fx.redis, `${fx.prefix}-x-intake:*`);
  });

  it("lets the command side read an archived task and refuses to change it", async () => {
    const task = uuidv7();
    await log.append(task, 0, [
      on.submitted(T0),
      on.assigned(1, T0 + 1),
      on.failed(1, T0 + 2, null),
      on.deadLettered(1, T0 + 3),
    ]);
    await projector.catchUp();
    await archiver.runOnce();
    expect(await log.readTask(task)).toEqual([]);
    const commands = new TaskCommands(log, { maxPayloadBytes: 1 << 20 }, { history });
    expect(await commands.get(task)).toMatchObject({ id: task, state: "DEAD_LETTERED" });
    expect((await commands.history(task)).map((e) => e.version)).toEqual([1, 2, 3, 4]);
    await expect(commands.retry(task, null, "")).rejects.toThrow(/archived: it can no longer change/);
  });

  it("respects the retention period", async () => {
    const patient = new Archiver({
      log,
      archive,
      pool: fx.pool,
      retentionMs: 3600_000,
      archiveRetentionDays: 0,
      intervalMs: 1000,
      logger: quiet,
    });
    const task = uuidv7();
    await log.append(task, 0, succeededLife(Date.now()));
    await projector.catchUp();
    await patient.runOnce();
    expect(await log.readTask(task)).toHaveLength(4);
  });

  it("runs the next round at once while it is behind, not a batch per interval", async () => {
    const busy = new RedisEventLog(fx.redis, { partitions: 2, prefix: `${fx.prefix}-x-busy`, intake: false });
    const p = new TasksProjector({ store: busy, redis: fx.redis, pool: fx.pool });
    // Two tasks per partition per round, a round every 4 s: 16 tasks would take 16 s at that pace.
    const a = new Archiver({
      log: busy,
      archive,
      pool: fx.pool,
      retentionMs: 0,
      archiveRetentionDays: 0,
      intervalMs: 4000,
      batchSize: 2,
      logger: quiet,
    });
    const tasks = Array.from({ length: 16 }, () => uuidv7());
    for (const task of tasks) await busy.append(task, 0, succeededLife(T0));
    await p.catchUp();
    expect((await a.runOnce()).behind).toBe(true);
    const left = async () =>
      (await Promise.all(tasks.map((t) => busy.readTask(t)))).filter((h) => h.length > 0);
    expect(await left()).toHaveLength(12);
    const started = Date.now();
    a.start();
    try {
      while ((await left()).length > 0 && Date.now() - started < 15_000)
        await new Promise((resolve) => setTimeout(resolve, 50));
      // The first round waits one interval; the rest follow it at once.
      expect(await left()).toHaveLength(0);
      expect(Date.now() - started).toBeLessThan(8000);
    } finally {
      await a.stop();
    }
    expect((await a.runOnce()).behind).toBe(false);
    const keys = await fx.redis.keys(`${fx.prefix}-x-busy:*`);
    if (keys.length > 0) await fx.redis.del(...keys);
  });
});
