import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TasksProjector } from "./tasks-projector.ts";
import { verifyReadModel, verifySummary } from "./verify.ts";
import {
  createReadModelFixture,
  newTaskId,
  on,
  succeededLife,
  type ReadModelFixture,
} from "./testing/read-model-fixture.ts";

describe("verifyReadModel", () => {
  let fx: ReadModelFixture;
  const ids = [newTaskId(), newTaskId(), newTaskId()];

  beforeAll(async () => {
    fx = await createReadModelFixture("verify");
    await fx.store.append(ids[0]!, 0, succeededLife(1000, { nested: { b: 1, a: [1, 2] } }));
    await fx.store.append(ids[1]!, 0, [on.submitted(2000), on.assigned(1, 2001), on.failed(1, 2002, 3000)]);
    await fx.store.append(ids[2]!, 0, [on.submitted(3000)]);
    await new TasksProjector({ store: fx.store, redis: fx.redis, pool: fx.pool }).catchUp();
  });
  afterAll(async () => {
    await fx.close();
  });

  it("finds the read model equal to the fold of the log, for every task in the log", async () => {
    expect(await verifyReadModel({ store: fx.store, pool: fx.pool })).toEqual({
      checked: 3,
      total: 3,
      mismatches: [],
    });
    expect(await verifyReadModel({ store: fx.store, pool: fx.pool, taskIds: ids.slice(0, 2) })).toEqual({
      checked: 2,
      total: 2,
      mismatches: [],
    });
    const limited = await verifyReadModel({ store: fx.store, pool: fx.pool, limit: 1 });
    expect(limited).toMatchObject({ checked: 1, total: 3 });
    expect(verifySummary(limited)).toBe(
      "checked 1 of 3 tasks (limited by --limit): 0 mismatches among those checked; 2 tasks were not checked",
    );
  });

  it("reports the fields of a tampered row and a missing row", async () => {
    await fx.pool.query("update tasks set state = 'CANCELLED', attempt = 7 where id = $1", [ids[0]]);
    await fx.pool.query("delete from tasks where id = $1", [ids[2]]);
    const report = await verifyReadModel({ store: fx.store, pool: fx.pool, taskIds: ids });
    expect(report.checked).toBe(3);
    expect(report.mismatches).toEqual([
      { taskId: ids[0], field: "state", log: "SUCCEEDED", readModel: "CANCELLED" },
      { taskId: ids[0], field: "attempt", log: 1, readModel: 7 },
      { taskId: ids[2], field: "row", log: "1 events", readModel: null },
    ]);
  });
});
