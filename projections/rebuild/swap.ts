import type pg from "pg";
import type { EventLog } from "../../event-store/event-log.ts";
import type { StoredEvent } from "../../event-store/stream-format.ts";
import { compareStreamIds } from "../../event-store/stream-ids.ts";
import { MIGRATION_LOCK } from "../../migrations/migrate.ts";
import type { CheckpointMove } from "../checkpoints.ts";
import { writeBatch } from "../commit-batch.ts";
import { RowCache } from "../row-cache.ts";
import type { Queryable } from "../task-table.ts";
import type { ReadModelRelations } from "./read-models.ts";
import { checkNoMigrationSince, setPhase, type RebuildState } from "./rebuild-state.ts";
import { ident, qualified } from "./shadow-tables.ts";

export interface SwapPlan {
  /** The live read model's pool. */
  pool: pg.Pool;
  store: EventLog;
  model: ReadModelRelations;
  state: RebuildState;
  schemas: { live: string; shadow: string; replaced: string };
  /** The live projector's checkpoint key, and the rebuild's. */
  liveKey: string;
  rebuildKey: string;
  /** Most events the swap folds itself; with more to go it gives up and the rebuild catches up first. */
  maxTailEvents: number;
  /** How long the swap waits for a lock (readers' queries, a projector's batch) before it gives up. */
  lockTimeoutMs: number;
}

export type SwapOutcome =
  | { swapped: true; generation: number; tailEvents: number; positions: Map<number, string> }
  | { swapped: false; tailEvents: number };

/**
 * The swap, in ONE transaction (docs/projection-rebuild.md):
 *
 * 1. takes the migrations' lock and checks no migration ran since the rebuild began;
 * 2. locks the live projector's checkpoint rows (`for update`, in partition order — the order its
 *    batches lock them in): no live batch commits until this transaction ends, and one that is
 *    committing finishes first;
 * 3. folds into the fresh tables, with the live projector's own code, the events between the
 *    rebuild's checkpoint and the live one — or gives up (rolls back) when there are more than
 *    `maxTailEvents`;
 * 4. moves the live tables and views to the `replaced` schema and the fresh ones to the live
 *    schema: readers wait on the table locks and then see the fresh tables, never a mix;
 * 5. sets the live checkpoint to the rebuild's — the position the fresh tables describe — drops the
 *    rebuild's, bumps the read model's generation (live projectors forget the rows they remember)
 *    and marks the rebuild swapped.
 */
export async function trySwap(plan: SwapPlan): Promise<SwapOutcome> {
  const { pool, store, schemas } = plan;
  const client = await pool.connect();
  try {
    await client.query("begin");
    await client.query(`set local lock_timeout = ${Math.max(1, Math.round(plan.lockTimeoutMs))}`);
    await client.query("select pg_advisory_xact_lock($1::bigint)", [MIGRATION_LOCK]);
    await checkNoMigrationSince(client, plan.state);
    const live = await lockCheckpoints(client, plan.liveKey, store.partitions);
    const rebuilt = await lockCheckpoints(client, plan.rebuildKey, store.partitions);
    const tail = await readTail(store, rebuilt, live, plan.maxTailEvents);
    const { rows: path } = await client.query<{ search_path: string }>(
      "select current_setting('search_path') as search_path",
    );
    if (tail === null) {
      await client.query("rollback");
      client.release();
      return { swapped: false, tailEvents: plan.maxTailEvents + 1 };
    }
    if (tail.length > 0) {
      await client.query("select set_config('search_path', $1, true)", [
        `${ident(schemas.shadow)}, ${ident(schemas.live)}`,
      ]);
      const moves: CheckpointMove[] = [...new Map(tail.map((e) => [e.partition, e.streamId]))].map(
        ([partition, next]) => ({ partition, expected: rebuilt.get(partition)!, next }),
      );
      const target = { pool, store, checkpointKey: plan.rebuildKey, cache: new RowCache() };
      if (!(await writeBatch(client, target, tail, moves)))
        throw new Error(
          `the checkpoint ${plan.rebuildKey} moved during the swap: is another rebuild running?`,
        );
      for (const move of moves) rebuilt.set(move.partition, move.next);
      await client.query("select set_config('search_path', $1, true)", [path[0]!.search_path]);
    }
    await moveRelations(client, plan.model, schemas);
    for (const [partition, streamId] of rebuilt)
      if (streamId !== live.get(partition))
        await client.query(
          `update projection_checkpoints set stream_id = $3, updated_at = now()
           where projector = $1 and partition = $2`,
          [plan.liveKey, partition, streamId],
        );
    await client.query("delete from projection_checkpoints where projector = $1", [plan.rebuildKey]);
    const { rows } = await client.query<{ generation: number }>(
      `insert into read_model_generations (projector, generation) values ($1, 1)
       on conflict (projector) do update
         set generation = read_model_generations.generation + 1, swapped_at = now()
       returning generation`,
      [plan.liveKey],
    );
    await setPhase(client, plan.state.projector, "swapped");
    await client.query("commit");
    client.release();
    return { swapped: true, generation: rows[0]!.generation, tailEvents: tail.length, positions: rebuilt };
  } catch (error) {
    const rolledBack = await client.query("rollback").then(
      () => true,
      () => false,
    );
    client.release(!rolledBack);
    throw error;
  }
}

/** A projector's checkpoint rows, locked in partition order (they must exist). */
async function lockCheckpoints(db: Queryable, key: string, partitions: number): Promise<Map<number, string>> {
  const { rows } = await db.query<{ partition: number; stream_id: string }>(
    `select partition, stream_id from projection_checkpoints
     where projector = $1 and partition < $2 order by partition for update`,
    [key, partitions],
  );
  if (rows.length !== partitions)
    throw new Error(`checkpoint ${key}: ${rows.length} of ${partitions} partitions`);
  return new Map(rows.map((row) => [row.partition, row.stream_id]));
}

/** The events after `from` up to `to` in each partition, in log order; null when more than `max`. */
async function readTail(
  store: EventLog,
  from: Map<number, string>,
  to: Map<number, string>,
  max: number,
): Promise<StoredEvent[] | null> {
  const tail: StoredEvent[] = [];
  for (const [partition, after] of from) {
    const last = to.get(partition)!;
    if (compareStreamIds(after, last) >= 0) continue;
    for await (const page of store.readAll(partition, { after, pageSize: Math.min(max + 1, 5000) })) {
      const wanted = page.filter((event) => compareStreamIds(event.streamId, last) <= 0);
      tail.push(...wanted);
      if (tail.length > max) return null;
      if (wanted.length < page.length) break;
    }
  }
  return tail;
}

/** Live relations to `replaced`, fresh ones from `shadow` to live: views first, as they read the tables. */
async function moveRelations(
  db: Queryable,
  model: ReadModelRelations,
  schemas: { live: string; shadow: string; replaced: string },
): Promise<void> {
  await db.query(`create schema ${ident(schemas.replaced)}`);
  for (const view of model.views)
    await db.query(`alter view ${qualified(schemas.live, view)} set schema ${ident(schemas.replaced)}`);
  for (const table of model.tables) {
    await db.query(`alter table ${qualified(schemas.live, table)} set schema ${ident(schemas.replaced)}`);
    await db.query(`alter table ${qualified(schemas.shadow, table)} set schema ${ident(schemas.live)}`);
  }
  for (const view of model.views)
    await db.query(`alter view ${qualified(schemas.shadow, view)} set schema ${ident(schemas.live)}`);
}
