import { deleteKeys, type RedisClient } from "../../event-store/redis-client.ts";
import pg from "pg";
import { v7 as uuidv7 } from "uuid";
import { RedisEventLog } from "../../event-store/redis-event-log.ts";
import { migrate } from "../../migrations/migrate.ts";
import { testServices, uniquePrefix, connectTestRedis } from "../../tests/support/services.ts";

/**
 * An isolated read side for one test: a PostgreSQL schema of its own (the pool's search_path),
 * migrated, and a Redis key prefix of its own. `close()` drops both.
 */
export interface ReadModelFixture {
  prefix: string;
  schema: string;
  pool: pg.Pool;
  redis: RedisClient;
  store: RedisEventLog;
  /** Another pool on the same schema, e.g. for a second projector instance. */
  newPool(): pg.Pool;
  close(): Promise<void>;
}

/** Creates a fixture; `partitions` is the log's partition count. */
export async function createReadModelFixture(name: string, partitions = 4): Promise<ReadModelFixture> {
  const prefix = uniquePrefix(name);
  const schema = prefix.toLowerCase().replace(/[^a-z0-9]/g, "_");
  await admin(`create schema ${schema}`);
  const pools: pg.Pool[] = [];
  const newPool = () => {
    const pool = new pg.Pool({
      connectionString: testServices.pgUrl,
      options: `-c search_path=${schema}`,
      max: 5,
    });
    pools.push(pool);
    return pool;
  };
  const pool = newPool();
  await migrate(pool);
  const redis = connectTestRedis();
  const store = new RedisEventLog(redis, { partitions, prefix });
  return {
    prefix,
    schema,
    pool,
    redis,
    store,
    newPool,
    async close() {
      await Promise.all(pools.map((p) => p.end()));
      await admin(`drop schema ${schema} cascade`);
      await deleteKeys(redis, `${prefix}:*`);
      redis.disconnect();
    },
  };
}

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: testServices.pgUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** A new task id (UUIDv7, as the command layer makes them). */
export const newTaskId = (): string => uuidv7();

// The domain's event builders, where the read side's tests have always found them.
export { succeededLife, taskSpec, taskEvents as on } from "../../domain/testing/task-events.ts";
