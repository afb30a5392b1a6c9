import pg from "pg";
import { loadConfig, parseFlags } from "../config.ts";

/** Applies the numbered migrations to the database at `url`. */
export async function migrateUrl(url: string): Promise<string[]> {
  const { migrate } = await import("../../migrations/migrate.ts");
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  try {
    return await migrate(pool);
  } finally {
    await pool.end();
  }
}

export async function migrateVerb(argv: string[]): Promise<void> {
  const config = loadConfig(parseFlags(argv).values);
  const applied = await migrateUrl(config.pgUrl);
  console.log(applied.length === 0 ? "migrations: up to date" : `migrations applied: ${applied.join(", ")}`);
}
