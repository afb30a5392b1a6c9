import { Cluster, Redis, type ClusterOptions, type RedisOptions } from "ioredis";
import { ValidationError } from "../domain/task/index.ts";

/**
 * A connection to the log's Redis: one node, or a Redis Cluster. Both speak the same commands; a
 * Cluster routes each command to the master of its keys' slot (every script's keys share one slot:
 * the `{pN}` hash tags of keys.ts). The few places where the two differ — blocking reads over
 * several partitions, key scans, which node a WAIT goes to — ask `isCluster` and nothing else does.
 */
export type RedisClient = Redis | Cluster;

export interface RedisConnectOptions {
  /** A Cluster client even for one seed URL (TASKSTREAM_REDIS_CLUSTER); several URLs imply it. */
  cluster?: boolean;
  enableAutoPipelining?: boolean;
  /** null: commands wait for the connection instead of failing after a number of retries. */
  maxRetriesPerRequest?: number | null;
  lazyConnect?: boolean;
  /** Whether to reconnect after a lost connection (default true). */
  reconnect?: boolean;
}

/**
 * Script commands whose first argument is their key count, not a key (their number of keys varies):
 * a cluster client's autopipelining would route them by that number, to the wrong node, so they are
 * sent on their own (each already carries a whole group commit).
 */
export const VARIABLE_KEY_SCRIPTS = ["tsAppendBatch", "tsDropArchived"];

/** The seed URLs of TASKSTREAM_REDIS_URL: one, or several separated by commas (a cluster's nodes). */
export function redisUrls(value: string): string[] {
  const urls = value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = urls.find((url) => !/^rediss?:\/\/[^/\s]+/.test(url));
  if (urls.length === 0 || bad !== undefined)
    throw new ValidationError([
      {
        field: "redis-url",
        reason: `must be redis://host:port, or several separated by commas for a cluster; got "${bad ?? value}"`,
      },
    ]);
  return urls;
}

/** Connects to one Redis, or to a Redis Cluster when `url` names several nodes or `cluster` is set. */
export function connectRedis(url: string, options: RedisConnectOptions = {}): RedisClient {
  const urls = redisUrls(url);
  const { cluster = false, enableAutoPipelining = false, reconnect = true, ...rest } = options;
  if (urls.length === 1 && !cluster)
    return new Redis(urls[0]!, {
      ...rest,
      enableAutoPipelining,
      ...(reconnect ? {} : { retryStrategy: () => null }),
    });
  const seeds = urls.map((u) => new URL(u));
  const first = seeds[0]!;
  const nodeOptions: RedisOptions = {
    maxRetriesPerRequest: rest.maxRetriesPerRequest,
    ...(first.username ? { username: decodeURIComponent(first.username) } : {}),
    ...(first.password ? { password: decodeURIComponent(first.password) } : {}),
    ...(first.protocol === "rediss:" ? { tls: {} } : {}),
  };
  const clusterOptions: ClusterOptions = {
    enableAutoPipelining,
    autoPipeliningIgnoredCommands: VARIABLE_KEY_SCRIPTS,
    lazyConnect: rest.lazyConnect,
    redisOptions: nodeOptions,
    // A master that fails is replaced by its replica within the cluster's node timeout plus an
    // election: commands sent meanwhile are retried for about 16 × 300 ms before they fail.
    retryDelayOnFailover: 300,
    retryDelayOnClusterDown: 300,
    retryDelayOnTryAgain: 300,
    // Every follow opens a client of its own, one per partition, and each first asks for the slot
    // map: on a busy machine the default second is too short for all of them at once.
    slotsRefreshTimeout: 5000,
    ...(reconnect ? {} : { clusterRetryStrategy: () => null }),
  };
  return new Cluster(
    seeds.map((u) => ({ host: u.hostname, port: Number(u.port || 6379) })),
    clusterOptions,
  );
}

export function isCluster(redis: RedisClient): redis is Cluster {
  return redis instanceof Cluster;
}

/** A new connection to the same Redis (or Cluster), for blocking reads or subscriptions. */
export function duplicateConnection(redis: RedisClient, options: { enableAutoPipelining?: boolean } = {}) {
  return isCluster(redis) ? redis.duplicate([], options) : redis.duplicate(options);
}

/**
 * The Redis Cluster hash slot of a key: CRC16 (XMODEM) of its hash tag — the text between the first
 * `{` and the next `}` when not empty — or of the whole key, modulo 16384 (the cluster specification).
 */
export function slotOfRedisKey(key: string): number {
  const open = key.indexOf("{");
  const close = open >= 0 ? key.indexOf("}", open + 1) : -1;
  const hashed = close > open + 1 ? key.slice(open + 1, close) : key;
  let crc = 0;
  for (const byte of Buffer.from(hashed, "utf8")) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++)
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

/** The masters holding the data: every master of a cluster, or the one node. */
export async function masterNodes(redis: RedisClient): Promise<Redis[]> {
  if (!isCluster(redis)) return [redis];
  if (redis.status !== "ready") await redis.ping();
  return redis.nodes("master");
}

/** Every key matching `pattern`, scanned on each master in turn (SCAN sees one node only). */
export async function scanKeys(redis: RedisClient, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  for (const node of await masterNodes(redis)) {
    let cursor = "0";
    do {
      const [next, batch] = await node.scan(cursor, "MATCH", pattern, "COUNT", 1000);
      keys.push(...batch);
      cursor = next;
    } while (cursor !== "0");
  }
  return keys;
}

/**
 * Deletes every key matching `pattern` (test and benchmark cleanup). One key per command, so keys of
 * different slots never meet in one command on a cluster.
 */
export async function deleteKeys(redis: RedisClient, pattern: string): Promise<number> {
  const keys = await scanKeys(redis, pattern);
  for (let i = 0; i < keys.length; i += 1000) {
    const batch = keys.slice(i, i + 1000);
    if (isCluster(redis)) await Promise.all(batch.map((key) => redis.unlink(key)));
    else await redis.unlink(...batch);
  }
  return keys.length;
}

/** The master serving `slot` in a cluster, as "host:port" (the node itself on a single Redis). */
export async function masterOfSlot(redis: RedisClient, slot: number): Promise<string> {
  if (!isCluster(redis)) return `${redis.options.host}:${redis.options.port}`;
  const ranges = await redis.cluster("SLOTS");
  const master = ranges.find(([from, to]) => slot >= from && slot <= to)?.[2];
  if (!master) throw new Error(`no master serves slot ${slot}`);
  return `${master[0]}:${master[1]}`;
}
