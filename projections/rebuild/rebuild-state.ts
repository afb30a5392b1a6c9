import { IllegalStateError } from "../../domain/task/index.ts";
import type { Queryable } from "../task-table.ts";

export type RebuildPhase = "archive" | "log" | "swapped";

/** A rebuild under way (`projection_rebuilds`, migrations/008_projection_rebuilds.sql). */
export interface RebuildState {
  /** The live projector's checkpoint key. */
  projector: string;
  shadowSchema: string;
  phase: RebuildPhase;
  /** The last archived task folded ('' before the first). */
  archiveAfter: string;
  /** How many migrations were applied when it began. */
  migrations: number;
  startedAt: Date;
  swappedAt: Date | null;
}

interface StateRecord {
  projector: string;
  shadow_schema: string;
  phase: RebuildPhase;
  archive_after: string;
  migrations: number;
  started_at: Date;
  swapped_at: Date | null;
}

export async function loadRebuild(db: Queryable, projector: string): Promise<RebuildState | null> {
  const { rows } = await db.query<StateRecord>("select * from projection_rebuilds where projector = $1", [
    projector,
  ]);
  const r = rows[0];
  if (!r) return null;
  return {
    projector: r.projector,
    shadowSchema: r.shadow_schema,
    phase: r.phase,
    archiveAfter: r.archive_after,
    migrations: r.migrations,
    startedAt: r.started_at,
    swappedAt: r.swapped_at,
  };
}

export async function insertRebuild(
  db: Queryable,
  state: Pick<RebuildState, "projector" | "shadowSchema" | "phase" | "migrations">,
): Promise<void> {
  await db.query(
    "insert into projection_rebuilds (projector, shadow_schema, phase, migrations) values ($1, $2, $3, $4)",
    [state.projector, state.shadowSchema, state.phase, state.migrations],
  );
}

/** Moves the archive cursor by compare-and-set (in the transaction of the page it folded). */
export async function moveArchiveCursor(
  db: Queryable,
  projector: string,
  expected: string,
  next: string,
): Promise<boolean> {
  const { rowCount } = await db.query(
    `update projection_rebuilds set archive_after = $3
     where projector = $1 and phase = 'archive' and archive_after = $2`,
    [projector, expected, next],
  );
  return rowCount === 1;
}

export async function setPhase(db: Queryable, projector: string, phase: RebuildPhase): Promise<void> {
  await db.query(
    `update projection_rebuilds set phase = $2,
       swapped_at = case when $2 = 'swapped' then now() else swapped_at end
     where projector = $1`,
    [projector, phase],
  );
}

export async function deleteRebuild(db: Queryable, projector: string): Promise<void> {
  await db.query("delete from projection_rebuilds where projector = $1", [projector]);
}

/** How many migrations this database has applied. */
export async function appliedMigrations(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: number }>("select count(*)::int as n from schema_migrations");
  return rows[0]?.n ?? 0;
}

/** Refuses to go on when a migration was applied after the rebuild began: its tables may lack it. */
export async function checkNoMigrationSince(db: Queryable, state: RebuildState): Promise<void> {
  const now = await appliedMigrations(db);
  if (now !== state.migrations)
    throw new IllegalStateError(
      `migrations were applied after this rebuild began (${state.migrations} then, ${now} now): ` +
        "its tables may lack them; run it again with --restart",
    );
}
