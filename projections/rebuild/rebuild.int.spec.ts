import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { verifyReadModel } from "../verify.ts";
import { createRebuildFixture, type RebuildFixture } from "./testing/rebuild-fixture.ts";

/** `taskstream projections rebuild` against real Redis and PostgreSQL (docs/projection-rebuild.md). */
describe("projection rebuild", () => {
  let fx: RebuildFixture;

  beforeEach(async () => {
    fx = await createRebuildFixture("rebuild");
  });
  afterEach(async () => {
    await fx?.close();
  });

  const tableOid = async () =>
    (await fx.pool.query<{ oid: number }>("select 'tasks'::regclass::oid as oid")).rows[0]!.oid;

  it("rebuilds from the archive and the log a read model equal to the live one, in fresh tables", async () => {
    await fx.seed(60);
    await fx.live.catchUp();
    expect((await fx.archiver.runOnce()).archived).toBeGreaterThan(20);
    await fx.seed(40);
    await fx.live.catchUp();
    const { rows: archived } = await fx.pool.query<{ n: number }>(
      "select count(distinct task_id)::int as n from task_event_archive",
    );
    expect(archived[0]!.n).toBeGreaterThan(20);
    const before = await fx.snapshot();
    expect(before.tasks).toHaveLength(100);
    const oldTable = await tableOid();

    const report = await fx.rebuild({ pageSize: 40 });

    expect(await tableOid()).not.toBe(oldTable);
    expect(await fx.snapshot()).toEqual(before);
    expect(report).toMatchObject({ resumed: false, tasks: 100, generation: 1 });
    expect(report.archiveEvents).toBeGreaterThan(0);
    expect(report.logEvents).toBeGreaterThan(0);
    expect(report.verify).toMatchObject({ checked: 100, mismatches: [], behind: 0 });
    expect((await verifyReadModel({ store: fx.log, pool: fx.pool, archive: fx.archive })).mismatches).toEqual([]);
    // Nothing left behind: no rebuild state, checkpoint or schema; the archiver is no longer held back.
    const { rows: left } = await fx.pool.query(
      `select (select count(*)::int from projection_rebuilds) as rebuilds,
              (select count(*)::int from projection_checkpoints where projector like '%-rebuild') as checkpoints,
              (select count(*)::int from pg_namespace where nspname like $1) as schemas`,
      [`${fx.schema}\\_%`],
    );
    expect(left[0]).toEqual({ rebuilds: 0, checkpoints: 0, schemas: 0 });
  });
});
