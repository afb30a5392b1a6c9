import { readdir, readFile } from "node:fs/promises";
import type pg from "pg";

const MIGRATIONS_DIR = new URL("./", import.meta.url);
const MIGRATION_FILE = /^\d{3}_[\w-]+\.sql$/;
/** Advisory lock id shared by every process migrating this database ("taskstrm" as bytes). */
export const MIGRATION_LOCK = "8386110886476280429";

/** The migration files in this folder, in the order they apply (`NNN_name.sql`). */
export async function migrationFiles(): Promise<string[]> {
  const names = await readdir(MIGRATIONS_DIR);
  return names.filter((name) => MIGRATION_FILE.test(name)).sort();
}

/**
 * Applies the numbered migrations not yet recorded in `schema_migrations`, in order, each in its own
 * transaction together with its record. Every transaction first takes one advisory lock, so two
 * processes migrating at once take turns and the second finds the work done. Tables are created in
 * the connection's search_path. Returns the names applied by this call.
 */
export async function migrate(pool: pg.Pool): Promise<string[]> {
  const applied: string[] = [];
  for (const name of await migrationFiles()) {
    const sql = await readFile(new URL(name, MIGRATIONS_DIR), "utf8");
    const client = await pool.connect();
    try {
      await client.query("begin");
      await client.query("select pg_advisory_xact_lock($1::bigint)", [MIGRATION_LOCK]);
      await client.query(
        "create table if not exists schema_migrations (name text primary key, applied_at timestamptz not null default now())",
      );
      const done = await client.query("select 1 from schema_migrations where name = $1", [name]);
      if (done.rowCount === 0) {
        await client.query(sql);
        await client.query("insert into schema_migrations (name) values ($1)", [name]);
        applied.push(name);
      }
      await client.query("commit");
    } catch (error) {
      await client.query("rollback").catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }
  return applied;
}
