import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { testServices, uniquePrefix } from "../tests/support/services.ts";
import { migrate, migrationFiles } from "../migrations/migrate.ts";

describe("migrate", () => {
  const schema = uniquePrefix("migrate")
    .replace(/[^a-z0-9]/gi, "_")
    .toLowerCase();
  const pools: pg.Pool[] = [];
  const poolOnSchema = () => {
    const pool = new pg.Pool({
      connectionString: testServices.pgUrl,
      options: `-c search_path=${schema}`,
      max: 2,
    });
    pools.push(pool);
    return pool;
  };

  beforeAll(async () => {
    const pool = new pg.Pool({ connectionString: testServices.pgUrl, max: 1 });
    await pool.query(`create schema ${schema}`);
    await pool.end();
  });
  afterAll(async () => {
    await pools[0]?.query(`drop schema ${schema} cascade`);
    await Promise.all(pools.map((pool) => pool.end()));
  });

  it("applies every migration once even when two processes migrate at the same time", async () => {
    const files = await migrationFiles();
    expect(files[0]).toBe("001_read_models.sql");
    const [a, b] = await Promise.all([migrate(poolOnSchema()), migrate(poolOnSchema())]);
    expect([...a, ...b].sort()).toEqual(files);
    const { rows } = await pools[0]!.query<{ name: string }>(
      "select name from schema_migrations order by name",
    );
    expect(rows.map((row) => row.name)).toEqual(files);
  });

  it("is a no-op when up to date, and the tables are there", async () => {
    expect(await migrate(poolOnSchema())).toEqual([]);
    const { rows } = await pools[0]!.query<{ table_name: string }>(
      "select table_name from information_schema.tables where table_schema = $1 order by table_name",
      [schema],
    );
    expect(rows.map((row) => row.table_name)).toEqual([
      "analytics_hours",
      "analytics_minutes",
      "analytics_open_attempts",
      "analytics_worker_hours",
      "analytics_worker_minutes",
      "api_keys",
      "archive_cursors",
      "projection_checkpoints",
      "projection_rebuilds",
      "read_model_generations",
      "schedule_events",
      "schedule_firings",
      "schedules",
      "schema_migrations",
      "task_event_archive",
      "task_event_runs",
      "task_events",
      "task_feed",
      "task_feed_horizon",
      "task_state_counts",
      "tasks",
    ]);
  });
});
