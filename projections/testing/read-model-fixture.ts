import { Redis } from "ioredis";
import pg from "pg";
import { v7 as uuidv7 } from "uuid";
import {
  DEFAULT_RETRY,
  DEFAULT_TIMEOUTS,
  type Json,
  type TaskEvent,
  type TaskSpec,
} from "../../domain/task/index.ts";
import { EventStore } from "../../event-store/event-store.ts";
import { migrate } from "../../migrations/migrate.ts";
import { testServices, uniquePrefix } from "../../tests/support/services.ts";

/**
 * An isolated read side for one test: a PostgreSQL schema of its own (the pool's search_path),
 * migrated, and a Redis key prefix of its own. `close()` drops both.
 */
export interface ReadModelFixture {
  prefix: string;
  schema: string;
  pool: pg.Pool;
  redis: Redis;
  store: EventStore;
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
  const redis = new Redis(testServices.redisUrl, { enableAutoPipelining: true });
  const store = new EventStore(redis, { partitions, prefix });
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
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length > 0) await redis.del(...keys);
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

/** A valid spec, with overrides. */
export function taskSpec(overrides: Partial<TaskSpec> = {}): TaskSpec {
  return {
    type: "echo",
    payload: { hello: "world" },
    priority: 5,
    requires: {},
    idempotencyKey: null,
    runAt: null,
    retry: DEFAULT_RETRY,
    timeouts: DEFAULT_TIMEOUTS,
    metadata: {},
    concurrency: null,
    traceparent: null,
    tracestate: null,
    ...overrides,
  };
}

/** Event builders for the usual life of a task; `at` is a Unix time in ms. */
export const on = {
  submitted: (at: number, spec: TaskSpec = taskSpec()): TaskEvent => ({
    type: "TaskSubmitted",
    data: { spec, submittedAt: at },
  }),
  assigned: (attempt: number, at: number, workerId = "worker-1"): TaskEvent => ({
    type: "TaskAssigned",
    data: { attempt, workerId, assignedAt: at, deadlineAt: at + 300_000 },
  }),
  started: (attempt: number, at: number, workerId = "worker-1"): TaskEvent => ({
    type: "TaskStarted",
    data: { attempt, workerId, startedAt: at },
  }),
  progress: (attempt: number, at: number, details: Json): TaskEvent => ({
    type: "TaskProgressRecorded",
    data: { attempt, details, at },
  }),
  succeeded: (attempt: number, at: number, result: Json): TaskEvent => ({
    type: "TaskSucceeded",
    data: { attempt, result, completedAt: at },
  }),
  failed: (attempt: number, at: number, retryAt: number | null, message = "boom"): TaskEvent => ({
    type: "TaskAttemptFailed",
    data: { attempt, error: { message, type: "Error", nonRetryable: false }, failedAt: at, retryAt },
  }),
  cancelRequested: (at: number): TaskEvent => ({ type: "TaskCancelRequested", data: { reason: "test", at } }),
};

/** The whole happy life of a task submitted at `at`: submitted, assigned, started, succeeded. */
export function succeededLife(at: number, result: Json = { ok: true }, spec?: TaskSpec): TaskEvent[] {
  return [
    on.submitted(at, spec),
    on.assigned(1, at + 1),
    on.started(1, at + 2),
    on.succeeded(1, at + 3, result),
  ];
}
