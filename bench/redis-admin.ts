import type { Redis } from "ioredis";
import { deleteKeys, scanKeys, type RedisClient } from "../event-store/redis-client.ts";

/** A few INFO fields of the shared Redis. */
export interface RedisInfo {
  version: string;
  appendonly: string;
  appendfsync: string;
  usedMemory: number;
  usedMemoryRss: number;
}

export async function redisInfo(redis: Redis): Promise<RedisInfo> {
  const text = await redis.info();
  const field = (name: string) => new RegExp(`^${name}:(.*)\\r?$`, "m").exec(text)?.[1]?.trim() ?? "";
  const fsync = (await redis.config("GET", "appendfsync")) as string[];
  return {
    version: field("redis_version"),
    appendonly: field("aof_enabled") === "1" ? "yes" : "no",
    appendfsync: fsync[1] ?? "?",
    usedMemory: Number(field("used_memory")),
    usedMemoryRss: Number(field("used_memory_rss")),
  };
}

/** Every key under `prefix:` (SCAN on each master, so the shared Redis is never blocked). */
export async function keysUnder(redis: RedisClient, prefix: string): Promise<string[]> {
  return [...new Set(await scanKeys(redis, `${prefix}:*`))];
}

/** Deletes every key under `prefix:` (never FLUSH: the Redis is shared). Returns how many. */
export function deletePrefix(redis: RedisClient, prefix: string): Promise<number> {
  return deleteKeys(redis, `${prefix}:*`);
}

/** Bytes and keys of one kind of key. */
export interface KeyClass {
  keys: number;
  bytes: number;
}

/**
 * Exact memory of every key under `prefix:` (MEMORY USAGE … SAMPLES 0, pipelined), grouped by
 * `classify(key)`. Unlike a used_memory delta, this is not disturbed by others using the same Redis.
 */
export async function memoryByClass(
  redis: Redis,
  prefix: string,
  classify: (key: string) => string,
): Promise<Map<string, KeyClass>> {
  const keys = await keysUnder(redis, prefix);
  const classes = new Map<string, KeyClass>();
  for (let i = 0; i < keys.length; i += 2000) {
    const chunk = keys.slice(i, i + 2000);
    const pipeline = redis.pipeline();
    for (const key of chunk) pipeline.call("MEMORY", "USAGE", key, "SAMPLES", "0");
    const replies = (await pipeline.exec()) ?? [];
    chunk.forEach((key, j) => {
      const bytes = Number(replies[j]?.[1] ?? 0);
      const name = classify(key);
      const entry = classes.get(name) ?? { keys: 0, bytes: 0 };
      entry.keys++;
      entry.bytes += bytes;
      classes.set(name, entry);
    });
  }
  return classes;
}

/** Total entries of these streams. */
export async function streamEntries(redis: Redis, keys: string[]): Promise<number> {
  const lengths = await Promise.all(keys.map((key) => redis.xlen(key)));
  return lengths.reduce((a, b) => a + b, 0);
}

/** Taskstream's keys by role (see event-store/keys.ts). */
export function classifyTaskstreamKey(key: string): string {
  if (key.endsWith(":events")) return "event streams (one entry per event)";
  if (key.includes(":ids:")) return "task index (4,096 hashes per partition: each task's event ids)";
  if (key.includes(":idem:")) return "idempotency keys";
  if (key.endsWith(":intake")) return "dispatcher intakes (submissions not yet read)";
  if (key.endsWith(":snapshot")) return "dispatcher snapshots (live tasks, gzip)";
  return "other (epochs, stats, settings)";
}

/** BullMQ's keys by role: `<prefix>:<queue>:<jobId>` hashes, then the queue's sets, lists and streams. */
export function classifyBullmqKey(key: string): string {
  const last = key.slice(key.lastIndexOf(":") + 1);
  if (/^\d+$/.test(last)) return "job hashes";
  if (last === "completed") return "completed zset";
  if (last === "events") return "events stream (capped)";
  return `other (${last})`;
}

/** Redis's cumulative counters: per command (calls, µs), socket reads/writes, bytes in/out. */
export interface RedisCounters {
  commands: Map<string, { calls: number; usec: number }>;
  /** Read events on client sockets: about one per request batch a client sends (a round trip). */
  reads: number;
  writes: number;
  netIn: number;
  netOut: number;
}

export async function redisCounters(redis: Redis): Promise<RedisCounters> {
  const [stats, commandstats] = await Promise.all([redis.info("stats"), redis.info("commandstats")]);
  const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, "m").exec(stats)?.[1] ?? 0);
  const commands = new Map<string, { calls: number; usec: number }>();
  for (const match of commandstats.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) {
    commands.set(match[1]!, { calls: Number(match[2]), usec: Number(match[3]) });
  }
  return {
    commands,
    reads: field("total_reads_processed"),
    writes: field("total_writes_processed"),
    netIn: field("total_net_input_bytes"),
    netOut: field("total_net_output_bytes"),
  };
}
