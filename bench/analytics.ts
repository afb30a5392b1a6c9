/**
 * The cost of the console's read queries at 1,000,000 tasks (docs/analytics.md): seeds, in a
 * PostgreSQL schema of its own, what the projector would have written for a day of 1,000,000 tasks —
 * per-minute analytics rows for 20 task types, per-minute worker rows for 50 workers, the counts by
 * state, the task feed (4 events a task) and the `tasks` rows themselves — then times each query
 * (median of 5 after a warm-up) and prints a table and one JSON line. The schema is dropped after.
 *
 *   node bench/analytics.ts [--tasks 1000000] [--pg-url postgres://…]    (npm run bench:analytics)
 */
import { parseArgs } from "node:util";
import pg from "pg";
import { migrate } from "../migrations/migrate.ts";
import {
  analyticsByType,
  analyticsSeries,
  busiestWorkers,
  countsByState,
  type StatsWindow,
} from "../read-api/queries/analytics.ts";
import { FeedStore } from "../read-api/feed/feed-store.ts";
import { listTasks } from "../read-api/queries/task-list.ts";

const { values } = parseArgs({
  options: { tasks: { type: "string", default: "1000000" }, "pg-url": { type: "string" } },
});
const TASKS = Number(values.tasks);
const TYPES = 20;
const WORKERS = 50;
const MINUTES = 24 * 60;
const PARTITIONS = 8;
const url =
  values["pg-url"] ?? process.env.TASKSTREAM_PG_URL ?? "postgres://postgres@127.0.0.1:15432/taskstream";
const schema = `bench_analytics_${process.pid}`;

const admin = new pg.Pool({ connectionString: url, max: 1 });
await admin.query(`create schema ${schema}`);
const pool = new pg.Pool({ connectionString: url, options: `-c search_path=${schema}`, max: 4 });
try {
  await migrate(pool);
  const now = Math.floor(Date.now() / 60_000) * 60_000;
  const start = now - MINUTES * 60_000;
  const seeded = Date.now();
  await seed(pool, start);
  const seedSeconds = (Date.now() - seeded) / 1000;
  await pool.query("vacuum analyze");

  const window = (minutes: number): StatsWindow => ({
    from: new Date(now + 60_000 - minutes * 60_000),
    to: new Date(now + 60_000),
    minutes,
  });
  const feed = new FeedStore(pool, PARTITIONS, "bench");
  const middle = await feed.readPast(new Map(), null, 1); // a cursor near the start of the feed
  const results: Record<string, number> = {};
  const measure = async (name: string, work: () => Promise<unknown>) => {
    await work();
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      await work();
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    results[name] = Math.round(times[2]! * 100) / 100;
  };
  for (const [label, minutes] of [
    ["1h", 60],
    ["24h", MINUTES],
  ] as const) {
    await measure(`stats totals+byType (${label})`, () => analyticsByType(pool, window(minutes), null));
    await measure(`stats totals, one type (${label})`, () =>
      analyticsByType(pool, window(minutes), "type-3"),
    );
    // The resolver's default step: a minute for 1h, an hour (from analytics_hours) for 24h.
    await measure(`stats series (${label}, ${minutes >= 720 ? "hourly" : "per minute"})`, () =>
      analyticsSeries(pool, window(minutes), null, minutes >= 720 ? 60 : 1),
    );
    await measure(`busiest workers (${label})`, () => busiestWorkers(pool, window(minutes), 10));
  }
  await measure("counts by state (task_state_counts)", () => countsByState(pool, null));
  await measure("counts by state (group by over tasks, before)", () =>
    pool.query("select state, count(*)::int from tasks group by state"),
  );
  await measure("eventsSince, 100 from the start", () => feed.readPast(new Map(), null, 100));
  await measure("eventsSince, 100 of one type", () =>
    feed.readPast(new Map(), { eventTypes: ["TaskDeadLettered"] }, 100),
  );
  await measure("eventsSince, 500 after a cursor", () =>
    feed.readPast(
      new Map(middle.entries.map((e) => [e.partition, [Number(e.streamId.split("-")[0]), 0] as const])),
      null,
      500,
    ),
  );
  await measure("tasks page, newest first, state filter", () =>
    listTasks(pool, { state: "DEAD_LETTERED", newestFirst: true, first: 50 }),
  );
  await measure("tasks page, priority 9", () => listTasks(pool, { priority: 9, first: 50 }));
  await measure("tasks page, metadata filter (no index)", () =>
    listTasks(pool, { metadata: { tenant: "t-7" }, first: 50 }),
  );
  const sizes = await pool.query<{ name: string; rows: string; size: string }>(
    `select relname as name, n_live_tup::text as rows, pg_size_pretty(pg_total_relation_size(relid)) as size
     from pg_stat_user_tables where schemaname = $1 order by relname`,
    [schema],
  );

  console.log(
    `\nAnalytics read queries at ${TASKS.toLocaleString("en")} tasks (seeded in ${seedSeconds.toFixed(0)} s)\n`,
  );
  console.log("| query | median ms |\n|---|---|");
  for (const [name, ms] of Object.entries(results)) console.log(`| ${name} | ${ms} |`);
  console.log("\n| table | rows | size |\n|---|---|---|");
  for (const r of sizes.rows) console.log(`| ${r.name} | ${r.rows} | ${r.size} |`);
  console.log(JSON.stringify({ analyticsBench: { tasks: TASKS, medianMs: results } }));
} finally {
  await pool.end();
  await admin.query(`drop schema ${schema} cascade`);
  await admin.end();
}

/**
 * What a day of TASKS tasks leaves behind, written with generate_series in PostgreSQL itself: tasks
 * spread evenly over the minutes and types, 3% dead-lettered, 2% cancelled, 1% queued, the rest
 * succeeded; about one attempt in twenty failed and was retried; four feed events a task.
 */
async function seed(db: pg.Pool, start: number): Promise<void> {
  const perRow = TASKS / (MINUTES * TYPES);
  // Histograms: counts spread over a band of buckets (20–30 ≈ 0.7–23 s run, 8–18 ≈ 11–370 ms wait).
  await db.query(
    `insert into analytics_minutes (minute, task_type, submitted, started, succeeded, failed, retried,
                                    dead_lettered, cancelled, schedule_to_start, run_time)
     select to_timestamp(($1::float8 + m * 60000) / 1000), 'type-' || t,
            round($2 * 1.0)::int, round($2 * 1.05)::int, round($2 * 0.94)::int, round($2 * 0.08)::int,
            round($2 * 0.05)::int, round($2 * 0.03)::int, round($2 * 0.02)::int,
            (select array_agg(case when i between 8 and 18 then greatest(1, round($2 / 11.0))::int else 0 end order by i)
               from generate_series(1, 56) i),
            (select array_agg(case when i between 20 and 30 then greatest(1, round($2 / 11.0))::int else 0 end order by i)
               from generate_series(1, 56) i)
     from generate_series(0, $3 - 1) m, generate_series(1, $4) t`,
    [start, perRow, MINUTES, TYPES],
  );
  await db.query(
    `insert into analytics_worker_minutes (minute, worker_id, succeeded, failed, busy_ms)
     select to_timestamp(($1::float8 + m * 60000) / 1000), 'worker-' || w,
            round($2 * (0.5 + w / 50.0))::int, round($2 * 0.05)::int, round($2 * 900 * (0.5 + w / 50.0))::bigint
     from generate_series(0, $3 - 1) m, generate_series(1, $4) w`,
    [start, TASKS / (MINUTES * WORKERS), MINUTES, WORKERS],
  );
  // The hourly rows the projector writes beside the minutes: their sums (every minute of a type is
  // seeded alike, so an hour's histogram is a minute's times the minutes it holds).
  const cols = "submitted, started, succeeded, failed, retried, dead_lettered, cancelled";
  await db.query(
    `insert into analytics_hours (hour, task_type, ${cols}, schedule_to_start, run_time)
     select h.minute, task_type, ${cols
       .split(", ")
       .map((c) => `sum(${c})`)
       .join(", ")},
            (select array_agg(v * n order by i) from unnest(h.s) with ordinality u(v, i)),
            (select array_agg(v * n order by i) from unnest(h.r) with ordinality u(v, i))
     from (select date_trunc('hour', minute) as minute, task_type, ${cols}, schedule_to_start as s, run_time as r,
                  count(*) over (partition by date_trunc('hour', minute), task_type) as n
           from analytics_minutes) h
     group by 1, 2, h.s, h.r, h.n`,
  );
  await db.query(
    `insert into analytics_worker_hours (hour, worker_id, succeeded, failed, busy_ms)
     select date_trunc('hour', minute), worker_id, sum(succeeded), sum(failed), sum(busy_ms)
     from analytics_worker_minutes group by 1, 2`,
  );
  // Tasks: UUIDv7-shaped ids in creation order (the time in the first 48 bits, as the API makes them).
  await db.query(
    `insert into tasks (id, type, state, priority, attempt, max_attempts, payload, requires, metadata,
                        worker_id, created_at, updated_at, version, partition, last_stream_id)
     select lpad(to_hex(ts), 12, '0') || substr(md5(i::text), 1, 20) as id,
            'type-' || (i % ${TYPES} + 1),
            case when i % 100 < 3 then 'DEAD_LETTERED' when i % 100 < 5 then 'CANCELLED'
                 when i % 100 < 6 then 'QUEUED' else 'SUCCEEDED' end,
            i % 10, 1, 5, '{"n": 1}', '{}', jsonb_build_object('tenant', 't-' || (i % 1000)),
            'worker-' || (i % ${WORKERS} + 1), to_timestamp(ts / 1000.0), to_timestamp(ts / 1000.0 + 1), 4,
            i % ${PARTITIONS}, ts || '-0'
     from generate_series(1, $2) i, lateral (select ($1::bigint + (i::bigint * ${MINUTES * 60_000}) / $2) as ts) t`,
    [start, TASKS],
  );
  await db.query(`update tasks set id = substr(id, 1, 8) || '-' || substr(id, 9, 4) || '-7' || substr(id, 14, 3)
                  || '-8' || substr(id, 17, 3) || '-' || substr(id, 20, 12)`);
  await db.query(
    `insert into task_state_counts select type, state, count(*) from tasks group by type, state`,
  );
  await db.query(
    `insert into task_feed (partition, stream_ms, stream_seq, task_id, version, event_type, task_type, state,
                           priority, recorded_at)
     select t.partition, extract(epoch from t.created_at)::bigint * 1000 + v * 10, v, t.id, v,
            (array['TaskSubmitted','TaskAssigned','TaskStarted',
                   case t.state when 'DEAD_LETTERED' then 'TaskDeadLettered' when 'CANCELLED' then 'TaskCancelled'
                                else 'TaskSucceeded' end])[v],
            t.type, (array['QUEUED','ASSIGNED','RUNNING', t.state])[v], t.priority,
            t.created_at + v * interval '10 milliseconds'
     from tasks t, generate_series(1, 4) v order by t.id, v`,
  );
}
