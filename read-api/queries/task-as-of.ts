import { GraphQLError } from "graphql";
import type pg from "pg";
import { eventFromStored, fold, type TaskEvent } from "../../domain/task/index.ts";
import { rowFromState, type TaskRow } from "../../projections/task-row.ts";

/** A run's events as `task_event_runs` stores them. */
export interface RunEvent {
  version: number;
  type: string;
  data: unknown;
  stream_id: string;
  /** Unix ms the log recorded it. */
  at: number;
}

/** Every projected event of a task, oldest first, with its partition. */
export async function taskHistory(
  pool: pg.Pool,
  id: string,
): Promise<{ partition: number; events: RunEvent[] } | null> {
  const { rows } = await pool.query<{ partition: number; events: RunEvent[] }>(
    "select partition, events from task_event_runs where task_id = $1 order by first_version",
    [id],
  );
  if (rows.length === 0) return null;
  return { partition: rows[0]!.partition, events: rows.flatMap((r) => r.events) };
}

/**
 * The task as it stood after its `version`-th event, or at `time`: its projected history up to
 * there, folded with the domain's `evolve` — the audit replay. Null when the task did not exist
 * yet (or is unknown); an error for a version past its history or a malformed point.
 */
export async function taskAsOf(
  pool: pg.Pool,
  id: string,
  asOf: { version?: number | null; time?: Date | null },
): Promise<TaskRow | null> {
  const { version, time } = asOf;
  if ((version == null) === (time == null))
    throw new GraphQLError("asOf: give exactly one of version and time", {
      extensions: { code: "BAD_USER_INPUT", argument: "asOf" },
    });
  if (version != null && (!Number.isInteger(version) || version < 1))
    throw new GraphQLError(`asOf.version: must be 1 or more, got ${version}`, {
      extensions: { code: "BAD_USER_INPUT", argument: "asOf.version" },
    });
  const history = await taskHistory(pool, id);
  if (!history) return null;
  const last = history.events.at(-1)!;
  if (version != null && version > last.version)
    throw new GraphQLError(`asOf.version: task ${id} has ${last.version} events, not ${version}`, {
      extensions: { code: "BAD_USER_INPUT", argument: "asOf.version" },
    });
  const upTo = history.events.filter((e) =>
    version != null ? e.version <= version : e.at <= time!.getTime(),
  );
  const end = upTo.at(-1);
  if (!end) return null;
  // As stored: a submission's spec without its defaults, made whole before folding.
  const state = fold(upTo.map((e) => eventFromStored({ type: e.type, data: e.data } as TaskEvent)));
  return rowFromState(id, state, history.partition, end.stream_id);
}
