import type pg from "pg";
import { IllegalStateError } from "../../domain/task/index.ts";

/** A second rebuild of the same read model while one runs. */
export class RebuildRunningError extends IllegalStateError {
  constructor(projector: string, holder: string) {
    super(`a rebuild of ${projector} is already running (${holder}); wait for it, or stop that process`);
  }
}

/** The session that holds a rebuild's lock: released by `release()`, or by PostgreSQL when it dies. */
export interface RebuildLock {
  release(): Promise<void>;
}

const APPLICATION = "taskstream projections rebuild";

/**
 * Takes the session advisory lock that lets one rebuild of `projector` run at a time, on a
 * connection kept for the rebuild's whole run. A process killed while holding it loses it with its
 * connection. Throws RebuildRunningError, naming the holder, when it is taken.
 */
export async function acquireRebuildLock(pool: pg.Pool, projector: string): Promise<RebuildLock> {
  const client = await pool.connect();
  const name = `${projector}:rebuild`;
  try {
    await client.query("select set_config('application_name', $1, false)", [APPLICATION]);
    const { rows } = await client.query<{ locked: boolean }>(
      "select pg_try_advisory_lock(hashtext($1)) as locked",
      [name],
    );
    if (!rows[0]?.locked) throw new RebuildRunningError(projector, await holder(client, name));
  } catch (error) {
    await client.query("reset application_name").catch(() => undefined);
    client.release();
    throw error;
  }
  return {
    async release() {
      try {
        await client.query("select pg_advisory_unlock(hashtext($1))", [name]);
        await client.query("reset application_name");
        client.release();
      } catch (error) {
        client.release(true);
        throw error;
      }
    },
  };
}

/** Who holds the lock, as PostgreSQL knows the session. */
async function holder(client: pg.PoolClient, name: string): Promise<string> {
  const { rows } = await client.query<{
    pid: number;
    application: string;
    client: string | null;
    since: Date;
  }>(
    `select a.pid, a.application_name as application, a.client_addr::text as client, a.backend_start as since
     from pg_locks l join pg_stat_activity a on a.pid = l.pid
     where l.locktype = 'advisory' and l.granted and l.objsubid = 1
       and l.classid = ((hashtext($1)::bigint >> 32) & 4294967295)::text::oid
       and l.objid = (hashtext($1)::bigint & 4294967295)::text::oid`,
    [name],
  );
  const h = rows[0];
  if (!h) return "by a session that has just ended";
  return `PostgreSQL backend ${h.pid}, "${h.application}"${h.client ? ` from ${h.client}` : ""}, connected ${h.since.toISOString()}`;
}
