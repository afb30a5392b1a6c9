import pg from "pg";

/** The benchmark's own database next to the project's, e.g. …/taskstream → …/taskstream_bench. */
export function benchDatabaseUrl(baseUrl: string, name = "taskstream_bench"): string {
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Creates the benchmark database when missing. */
export async function ensureDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = target.pathname.slice(1);
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`unexpected database name ${name}`);
  const admin = new URL(url);
  admin.pathname = "/postgres";
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const { rowCount } = await client.query("select 1 from pg_database where datname = $1", [name]);
    if (!rowCount) await client.query(`create database ${name}`);
  } finally {
    await client.end();
  }
}

/** Empties the read model (the benchmark database is ours alone) so every scenario starts alike. */
export async function truncateReadModel(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string }>(
      `select table_name as name from information_schema.tables
        where table_schema = 'public' and table_name in ('tasks', 'task_event_runs', 'projection_checkpoints')`,
    );
    if (rows.length > 0) await client.query(`truncate ${rows.map((r) => r.name).join(", ")}`);
  } finally {
    await client.end();
  }
}

/** Rows of `tasks` by state, and the number of events in the history (`task_event_runs`). */
export async function readModelCounts(
  url: string,
): Promise<{ byState: Record<string, number>; events: number }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const states = await client.query<{ state: string; n: string }>(
      "select state, count(*) as n from tasks group by state",
    );
    const events = await client.query<{ n: string }>(
      "select coalesce(sum(last_version - first_version + 1), 0) as n from task_event_runs",
    );
    return {
      byState: Object.fromEntries(states.rows.map((r) => [r.state, Number(r.n)])),
      events: Number(events.rows[0]?.n ?? 0),
    };
  } finally {
    await client.end();
  }
}

export async function postgresVersion(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ v: string }>("select current_setting('server_version') as v");
    return rows[0]?.v ?? "?";
  } finally {
    await client.end();
  }
}
