import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { v7 as uuidv7 } from "uuid";
import type { ScheduleEvent } from "../../domain/schedule/index.ts";
import {
  scheduleStore,
  type ScheduleStore,
  type StoredScheduleEvent,
} from "../../event-store/schedule-store.ts";
import { announced } from "../../tests/support/signals.ts";
import { createReadModelFixture, type ReadModelFixture } from "../testing/read-model-fixture.ts";
import { SchedulesProjector } from "./schedules-projector.ts";

const T0 = Date.parse("2030-01-01T00:00:00.000Z");
const MIN = 60_000;
const created = (cron = "* * * * *"): ScheduleEvent => ({
  type: "ScheduleCreated",
  data: {
    cron,
    timeZone: "Europe/Berlin",
    task: { type: "report", priority: 7 },
    catchUp: "LATEST",
    createdAt: T0,
  },
});
const fired = (fireAt: number, taskId: string | null = `task-${fireAt}`): ScheduleEvent => ({
  type: "ScheduleFired",
  data: { fireAt, taskId, error: taskId ? null : "payload: too large", at: fireAt + 5 },
});

describe("schedules projector", () => {
  let fixture: ReadModelFixture;
  let store: ScheduleStore;
  let projector: SchedulesProjector;
  const row = async (id: string) =>
    (await fixture.pool.query<Record<string, unknown>>("select * from schedules where id = $1", [id]))
      .rows[0];
  const firings = async (id: string) =>
    (
      await fixture.pool.query<{ fire_at: Date; task_id: string | null; error: string | null }>(
        "select fire_at, task_id, error from schedule_firings where schedule_id = $1 order by fire_at",
        [id],
      )
    ).rows.map((r) => ({ fireAt: r.fire_at.getTime(), taskId: r.task_id, error: r.error }));
  const eventTypes = async (id: string) =>
    (
      await fixture.pool.query<{ type: string }>(
        "select type from schedule_events where schedule_id = $1 order by version",
        [id],
      )
    ).rows.map((r) => r.type);

  beforeEach(async () => {
    fixture = await createReadModelFixture("sched-proj");
    store = scheduleStore(fixture.redis, fixture.prefix);
    projector = new SchedulesProjector({ store, pool: fixture.pool });
  });
  afterEach(async () => {
    await projector.stop();
    await fixture.close();
  });

  it("given a schedule's life in the log, the read model holds its row, its firings and its history", async () => {
    const id = uuidv7();
    await store.append(id, -1, [created(), fired(T0 + MIN), fired(T0 + 2 * MIN, null)]);
    await store.append(id, -1, [{ type: "SchedulePaused", data: { at: T0 + 150_000 } }]);
    await store.append(id, -1, [{ type: "ScheduleResumed", data: { at: T0 + 10 * MIN + 1 } }]);
    expect(await projector.catchUp()).toBe(5);
    expect(await row(id)).toMatchObject({
      status: "ACTIVE",
      cron: "* * * * *",
      time_zone: "Europe/Berlin",
      task: { type: "report", priority: 7 },
      catch_up: "LATEST",
      firings: 2,
      last_fired_at: new Date(T0 + 2 * MIN),
      next_fire_at: new Date(T0 + 11 * MIN), // the resumption does not owe the firings missed while paused
      version: 5,
    });
    expect(await firings(id)).toEqual([
      { fireAt: T0 + MIN, taskId: `task-${T0 + MIN}`, error: null },
      { fireAt: T0 + 2 * MIN, taskId: null, error: "payload: too large" },
    ]);
    expect(await eventTypes(id)).toEqual([
      "ScheduleCreated",
      "ScheduleFired",
      "ScheduleFired",
      "SchedulePaused",
      "ScheduleResumed",
    ]);
  });

  it("applies each event once: a replay from the start, and two racing instances, change nothing", async () => {
    const ids = [uuidv7(), uuidv7()];
    for (const id of ids) await store.append(id, -1, [created(), fired(T0 + MIN)]);
    const other = new SchedulesProjector({ store, pool: fixture.newPool() });
    const [a, b] = await Promise.all([projector.catchUp(), other.catchUp()]);
    expect(a + b).toBe(4);
    await fixture.pool.query("update projection_checkpoints set stream_id = '0-0' where projector = $1", [
      projector.checkpointKey,
    ]);
    expect(await new SchedulesProjector({ store, pool: fixture.pool }).catchUp()).toBe(0);
    for (const id of ids) {
      expect(await row(id)).toMatchObject({ version: 2, firings: 1 });
      expect(await firings(id)).toHaveLength(1);
    }
  });

  it("follows the stream while running, and rebuilds a row lost by hand from the log", async () => {
    const id = uuidv7();
    /** Resolves once the running projector has handled (committed) the schedule's event `version`. */
    const handled = (version: number) =>
      announced(projector, "handled", (batch: StoredScheduleEvent[]) =>
        batch.some((event) => event.taskId === id && event.version === version),
      );
    await projector.start();
    const first = handled(1);
    await store.append(id, -1, [created()]);
    await first;
    expect(await row(id)).toMatchObject({ version: 1 });
    await fixture.pool.query("delete from schedules where id = $1", [id]);
    const second = handled(2);
    await store.append(id, -1, [{ type: "ScheduleDeleted", data: { at: T0 + 1 } }]);
    await second;
    expect(await row(id)).toMatchObject({ status: "DELETED", version: 2, next_fire_at: null });
  });
});
