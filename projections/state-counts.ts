import type pg from "pg";
import type { Queryable } from "./task-table.ts";
import type { RowState, TaskRow } from "./task-row.ts";

/** A change to the number of tasks of one type in one state. */
export interface StateCountDelta {
  taskType: string;
  state: RowState;
  delta: number;
}

/**
 * How a batch moves the counts of `task_state_counts`: each changed task leaves the state its row
 * had before the batch (none for a new task) and enters the state of its new row. Sorted by key:
 * concurrent projector instances lock the rows in one order.
 */
export function stateCountDeltas(
  before: ReadonlyMap<string, TaskRow>,
  changed: readonly TaskRow[],
): StateCountDelta[] {
  const deltas = new Map<string, StateCountDelta>();
  const add = (taskType: string, state: RowState, delta: number) => {
    const key = `${taskType}\u0000${state}`;
    const known = deltas.get(key);
    if (known) known.delta += delta;
    else deltas.set(key, { taskType, state, delta });
  };
  for (const row of changed) {
    const previous = before.get(row.id);
    if (previous?.state === row.state) continue;
    if (previous) add(previous.type, previous.state, -1);
    add(row.type, row.state, 1);
  }
  return [...deltas.entries()]
    .filter(([, d]) => d.delta !== 0)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, d]) => d);
}

const APPLY = `
  insert into task_state_counts as c (task_type, state, count)
  select x.task_type, x.state, x.delta
  from rows from (json_to_recordset($1::json) as (task_type text, state text, delta bigint))
    with ordinality as x(task_type, state, delta, n)
  order by x.n
  on conflict (task_type, state) do update set count = c.count + excluded.count`;

/** Applies the deltas inside the batch's transaction. */
export async function applyStateCounts(db: Queryable, deltas: StateCountDelta[]): Promise<void> {
  if (deltas.length === 0) return;
  const json = JSON.stringify(deltas.map((d) => ({ task_type: d.taskType, state: d.state, delta: d.delta })));
  await db.query({ name: "task-state-counts", text: APPLY, values: [json] });
}

/** A task type and state whose kept count differs from the rows of `tasks`. */
export interface CountMismatch {
  taskType: string;
  state: string;
  kept: number;
  rows: number;
}

/**
 * Proves `task_state_counts` against the rows it counts: one scan of `tasks`, in one snapshot with
 * the counts (REPEATABLE READ), so a projector committing meanwhile cannot make them differ. It
 * names `tasks` first: its table locks come in the order a rebuild's swap takes them.
 */
export async function verifyStateCounts(pool: pg.Pool): Promise<CountMismatch[]> {
  const client = await pool.connect();
  try {
    await client.query("begin isolation level repeatable read read only");
    const { rows } = await client.query<CountMismatch>(
      `select coalesce(c.task_type, t.type) as "taskType", coalesce(c.state, t.state) as state,
              coalesce(c.count, 0)::float8 as kept, coalesce(t.n, 0)::float8 as rows
       from (select type, state, count(*) as n from tasks group by type, state) t
       full join (select task_type, state, count from task_state_counts where count <> 0) c
         on t.type = c.task_type and t.state = c.state
       where coalesce(c.count, 0) <> coalesce(t.n, 0)
       order by 1, 2`,
    );
    await client.query("commit");
    return rows;
  } finally {
    await client.query("rollback").catch(() => undefined);
    client.release();
  }
}
