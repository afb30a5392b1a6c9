import type { RedisClient } from "../event-store/redis-client.ts";
import { z } from "zod";
import { identifierProblem, ValidationError, type RetryPolicy } from "../domain/task/index.ts";

/** Run-time settings of a queue (a task type): dispatch rate, admission limit, retry defaults. */
export interface QueueSettings {
  type: string;
  /** Token bucket refill, dispatches per second; 0 = unlimited. */
  ratePerSecond: number;
  /** Token bucket size: dispatches allowed in a burst; defaults to max(1, ratePerSecond). */
  burst: number;
  /** Admission limit on waiting tasks; 0 = the process default (TASKSTREAM_MAX_BACKLOG). */
  maxBacklog: number;
  /** Retry defaults for the type, under each task's own policy. */
  retry: Partial<RetryPolicy> | null;
}

/** The body of `PUT /v1/queues/{type}` (published in the OpenAPI document). */
export const settingsSchema = z
  .object({
    ratePerSecond: z.number().min(0).max(1_000_000).optional(),
    burst: z.number().int().min(0).max(1_000_000).optional(),
    maxBacklog: z.number().int().min(0).max(1_000_000_000).optional(),
    retry: z
      .object({
        maxAttempts: z.number().int().min(1).max(1000).optional(),
        initialBackoffMs: z.number().int().min(0).max(86_400_000).optional(),
        backoffMultiplier: z.number().min(1).max(100).optional(),
        maxBackoffMs: z.number().int().min(0).max(604_800_000).optional(),
      })
      .strict()
      .nullable()
      .optional(),
  })
  .strict();

/** The body of `PUT /v1/concurrency-limits/{key}`. */
export const concurrencySchema = z.object({ maxRunning: z.number().int().min(0).max(100_000) }).strict();

function parse<T>(schema: z.ZodType<T>, input: unknown): T {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  throw new ValidationError(
    parsed.error.issues.map((issue) => ({ field: issue.path.join(".") || "(body)", reason: issue.message })),
  );
}

/**
 * What the dispatcher reads of the queue settings: QueueSettingsStore for real, a fixed table in the
 * dispatcher's unit tests.
 */
export interface QueueSettingsSource {
  /** Re-reads the settings when the cached copy is older than a second (or when forced). */
  refresh(force?: boolean): Promise<void>;
  queue(type: string): QueueSettings | undefined;
  /** The operator's override for a concurrency key, if any. */
  concurrencyLimit(key: string): number | undefined;
}

/**
 * Queue settings and concurrency-key overrides, kept in Redis hashes (durable with AOF, shared by
 * every API and dispatcher process). Readers cache them and refresh once a second, so a change takes
 * effect everywhere within about a second and survives every restart.
 */
export class QueueSettingsStore implements QueueSettingsSource {
  private readonly redis: RedisClient;
  private readonly queuesKey: string;
  private readonly concurrencyKey: string;
  private queues = new Map<string, QueueSettings>();
  private concurrency = new Map<string, number>();
  private loadedAt = 0;

  constructor(redis: RedisClient, prefix: string) {
    this.redis = redis;
    this.queuesKey = `${prefix}:queues`;
    this.concurrencyKey = `${prefix}:concurrency-limits`;
  }

  /** Validates and stores a queue's settings; fields left out keep their current value. */
  async setQueue(type: string, input: unknown): Promise<QueueSettings> {
    if (!/^[A-Za-z0-9_.:\-/]{1,128}$/.test(type))
      throw new ValidationError([{ field: "type", reason: "is not a valid task type" }]);
    const patch = parse(settingsSchema, input ?? {});
    await this.refresh(true);
    const current = this.queues.get(type) ?? { type, ratePerSecond: 0, burst: 0, maxBacklog: 0, retry: null };
    const next: QueueSettings = {
      ...current,
      ...patch,
      type,
      retry: patch.retry === undefined ? current.retry : patch.retry,
    };
    if (patch.burst === undefined && patch.ratePerSecond !== undefined)
      next.burst = Math.max(1, Math.ceil(next.ratePerSecond));
    await this.redis.hset(this.queuesKey, type, JSON.stringify(next));
    this.queues.set(type, next);
    return next;
  }

  async setConcurrencyLimit(key: string, input: unknown): Promise<{ key: string; maxRunning: number }> {
    const problem =
      key.length === 0 || key.length > 256 ? "must be 1 to 256 characters" : identifierProblem(key);
    if (problem) throw new ValidationError([{ field: "key", reason: problem }]);
    const { maxRunning } = parse(concurrencySchema, input ?? {});
    if (maxRunning === 0) await this.redis.hdel(this.concurrencyKey, key);
    else await this.redis.hset(this.concurrencyKey, key, String(maxRunning));
    await this.refresh(true);
    return { key, maxRunning };
  }

  /** Re-reads the settings when the cached copy is older than a second (or when forced). */
  async refresh(force = false): Promise<void> {
    if (!force && Date.now() - this.loadedAt < 1000) return;
    const [queues, concurrency] = await Promise.all([
      this.redis.hgetall(this.queuesKey),
      this.redis.hgetall(this.concurrencyKey),
    ]);
    this.queues = new Map(
      Object.entries(queues).map(([type, json]) => [type, JSON.parse(json) as QueueSettings]),
    );
    this.concurrency = new Map(Object.entries(concurrency).map(([key, max]) => [key, Number(max)]));
    this.loadedAt = Date.now();
  }

  queue(type: string): QueueSettings | undefined {
    return this.queues.get(type);
  }

  listQueues(): QueueSettings[] {
    return [...this.queues.values()];
  }

  /** The operator's override for a concurrency key, if any. */
  concurrencyLimit(key: string): number | undefined {
    return this.concurrency.get(key);
  }

  listConcurrency(): { key: string; maxRunning: number }[] {
    return [...this.concurrency].map(([key, maxRunning]) => ({ key, maxRunning }));
  }
}
