import { readFileSync } from "node:fs";
import type { RedisClient } from "../event-store/redis-client.ts";
import { fnv1a } from "../domain/task/index.ts";
import type { LimitsStore } from "./limits-store.ts";

type LimitScripts = RedisClient & LimitCommands;
interface LimitCommands {
  tsTakeTokens(key: string, rate: number, burst: number, wanted: number): Promise<[number, number]>;
  tsAcquirePermit(key: string, taskId: string, partition: number, limit: number): Promise<number>;
}

const script = (name: string) => readFileSync(new URL(`./lua/${name}`, import.meta.url), "utf8");

/**
 * The dispatch limits every partition's owner shares, kept in Redis (docs/partition-ownership.md):
 * a token bucket per queue, and a permit per running task of a concurrency key. The partitions of a
 * queue or a key may be owned by different dispatchers; these make the limits hold over all of them.
 * Each key stands alone (its own hash tag), so they work on a Redis Cluster too.
 */
export class SharedLimits implements LimitsStore {
  private readonly redis: LimitScripts;
  private readonly prefix: string;

  /** Defines its scripts on `redis`: construct it before the connection is used (never mid-flight). */
  constructor(redis: RedisClient, prefix: string) {
    this.redis = redis as LimitScripts;
    this.prefix = prefix;
    if (typeof this.redis.tsTakeTokens !== "function") {
      redis.defineCommand("tsTakeTokens", { numberOfKeys: 1, lua: script("take-tokens-1.lua") });
      redis.defineCommand("tsAcquirePermit", { numberOfKeys: 1, lua: script("acquire-permit-1.lua") });
    }
  }

  /** Takes up to `wanted` tokens of the queue's bucket; also says how long until the next one. */
  async takeTokens(
    type: string,
    rate: number,
    burst: number,
    wanted: number,
  ): Promise<{ granted: number; waitMs: number }> {
    const [granted, waitMs] = await this.redis.tsTakeTokens(this.bucketKey(type), rate, burst, wanted);
    return { granted: Number(granted), waitMs: Number(waitMs) };
  }

  /** Takes one of the key's `limit` running slots for the task; false when all are taken. */
  async acquirePermit(key: string, taskId: string, partition: number, limit: number): Promise<boolean> {
    await this.redis.sadd(this.indexKey(partition), key);
    return (await this.redis.tsAcquirePermit(this.permitKey(key), taskId, partition, limit)) === 1;
  }

  /** Records that the task runs under the key, whatever the count (found running in the log). */
  async holdPermit(key: string, taskId: string, partition: number): Promise<void> {
    await this.redis.sadd(this.indexKey(partition), key);
    await this.redis.tsAcquirePermit(this.permitKey(key), taskId, partition, 0);
  }

  async releasePermit(key: string, taskId: string): Promise<void> {
    await this.redis.hdel(this.permitKey(key), taskId);
  }

  /**
   * The permits the partition's tasks hold, per key: what its owner checks against the tasks it
   * knows to run, to free the permits an owner that crashed left behind.
   */
  async permitsOf(partition: number): Promise<Map<string, string[]>> {
    const keys = await this.redis.smembers(this.indexKey(partition));
    const held = new Map<string, string[]>();
    for (const key of keys) {
      const permits = await this.redis.hgetall(this.permitKey(key));
      const mine = Object.entries(permits)
        .filter(([, owner]) => Number(owner) === partition)
        .map(([taskId]) => taskId);
      if (mine.length > 0) held.set(key, mine);
      else await this.redis.srem(this.indexKey(partition), key);
    }
    return held;
  }

  private bucketKey(type: string): string {
    return `${this.prefix}:rate:{q${fnv1a(type).toString(36)}}:${type}`;
  }

  private permitKey(key: string): string {
    return `${this.prefix}:permits:{c${fnv1a(key).toString(36)}}:${key}`;
  }

  private indexKey(partition: number): string {
    return `${this.prefix}:{p${partition}}:permit-keys`;
  }
}
