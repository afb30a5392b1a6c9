import { readFileSync } from "node:fs";
import type { RedisClient } from "../event-store/redis-client.ts";
import { partitionKeys } from "../event-store/keys.ts";
import { luaPreamble, REPLY, replyError } from "../event-store/reply-codes.ts";

/** What a partition's owner reports once a second: backlog per queue, tasks no worker can run. */
export interface PartitionStats {
  at: string;
  partition: number;
  epoch: number;
  /** Waiting tasks (due or delayed) per task type: the admission limit is checked against this. */
  backlogByType: Record<string, number>;
  /** Waiting tasks that are due (may run now) per task type: what worker autoscaling follows. */
  dueByType: Record<string, number>;
  /** Per task type, when its longest-waiting due task became due (epoch ms). */
  oldestDueAtByType: Record<string, number>;
  /** Due tasks that no connected worker can run (no worker with their type and every required label). */
  unroutable: number;
  queueDepthByPriority: number[];
}

/** A worker as its host reports it. */
export interface WorkerStats {
  id: string;
  name: string;
  types: string[];
  labels: Record<string, string>;
  slots: number;
  busy: number;
  connected: boolean;
}

/** What a dispatcher reports once a second of the workers connected to it. */
export interface HostStats {
  at: string;
  host: string;
  workers: WorkerStats[];
}

/** Every partition's and every host's last report, merged: the whole cluster's dispatch. */
export interface DispatchStats extends Omit<PartitionStats, "partition" | "epoch"> {
  /** Partitions with a current report (an owner) of all partitions. */
  partitionsReporting: number;
  partitions: number;
  workers: WorkerStats[];
}

/** How long a report stands when no newer one replaces it. */
const STATS_TTL_MS = 5000;

/** Where a partition's owner publishes its stats (JSON, expiring), beside the epoch that fences it. */
export function statsKey(prefix: string, partition: number): string {
  return `${prefix}:{p${partition}}:dispatcher-stats`;
}

/** The partition's backlog per queue (a hash, replaced whole each second). */
export function backlogKey(prefix: string, partition: number): string {
  return `${prefix}:{p${partition}}:backlog`;
}

/** The hosts' reports: one field per dispatcher, its JSON. */
export function hostsKey(prefix: string): string {
  return `${prefix}:dispatcher-hosts`;
}

const PUBLISH = luaPreamble() + readFileSync(new URL("./lua/publish-stats-3.lua", import.meta.url), "utf8");

/**
 * Publishes a partition's stats and its backlog per queue, replaced whole, fenced by its owner's
 * `epoch`: throws StaleEpochError when a newer owner has claimed the partition (a deposed owner's
 * counts would otherwise mislead admission control).
 */
export async function publishStats(
  redis: RedisClient,
  prefix: string,
  partition: number,
  epoch: number,
  stats: PartitionStats,
): Promise<void> {
  const counts = Object.entries(stats.backlogByType).flatMap(([type, count]) => [type, String(count)]);
  const keys = [
    partitionKeys(partition, prefix).epoch,
    backlogKey(prefix, partition),
    statsKey(prefix, partition),
  ];
  // EVAL, not a command defined on the shared connection: once a second, the script's text is cheap.
  const [code, value] = (await redis.eval(
    PUBLISH,
    3,
    ...keys,
    epoch,
    JSON.stringify(stats),
    STATS_TTL_MS,
    ...counts,
  )) as [number, string];
  if (Number(code) !== REPLY.OK) throw replyError(Number(code), value, { epoch });
}

/** Publishes a host's workers (readers skip reports older than a few seconds). */
export async function publishHostStats(redis: RedisClient, prefix: string, stats: HostStats): Promise<void> {
  await redis.hset(hostsKey(prefix), stats.host, JSON.stringify(stats));
}

/** Removes a host's report (it stopped). */
export async function removeHostStats(redis: RedisClient, prefix: string, host: string): Promise<void> {
  await redis.hdel(hostsKey(prefix), host);
}

/** Each queue's backlog summed over the partitions: what admission control checks. */
export async function readBacklog(
  redis: RedisClient,
  prefix: string,
  partitions: number,
): Promise<Map<string, number>> {
  // One command per partition, not one pipeline: on a Redis Cluster the partitions are different
  // slots, which a pipeline cannot mix (the connection autopipelines them where it can).
  const replies = await Promise.all(
    Array.from({ length: partitions }, (_, p) => redis.hgetall(backlogKey(prefix, p))),
  );
  const backlog = new Map<string, number>();
  for (const counts of replies) {
    for (const [type, n] of Object.entries(counts)) backlog.set(type, (backlog.get(type) ?? 0) + Number(n));
  }
  return backlog;
}

/** The cluster's dispatch as its partitions and hosts last reported it (null when none reports). */
export async function readDispatchStats(
  redis: RedisClient,
  prefix: string,
  partitions: number,
  now = Date.now(),
): Promise<DispatchStats | null> {
  // One command per key (each partition's is a slot of its own on a Redis Cluster).
  const [replies, hostsReply] = await Promise.all([
    Promise.all(Array.from({ length: partitions }, (_, p) => redis.get(statsKey(prefix, p)))),
    redis.hgetall(hostsKey(prefix)),
  ]);
  const parts: PartitionStats[] = [];
  for (const json of replies) if (typeof json === "string") parts.push(JSON.parse(json) as PartitionStats);
  const hosts = Object.values(hostsReply)
    .map((json) => JSON.parse(json) as HostStats)
    .filter((host) => now - Date.parse(host.at) < STATS_TTL_MS);
  if (parts.length === 0 && hosts.length === 0) return null;
  return { ...mergePartitionStats(parts, now), partitions, workers: mergeWorkers(hosts) };
}

/** Several partitions' reports as one (sums; the oldest due time per type). */
export function mergePartitionStats(
  parts: readonly PartitionStats[],
  now: number,
): Omit<DispatchStats, "workers" | "partitions"> {
  const merged: Omit<DispatchStats, "workers" | "partitions"> = {
    at: new Date(
      parts.reduce((latest, part) => Math.max(latest, Date.parse(part.at)), 0) || now,
    ).toISOString(),
    partitionsReporting: parts.length,
    backlogByType: {},
    dueByType: {},
    oldestDueAtByType: {},
    unroutable: 0,
    queueDepthByPriority: [],
  };
  for (const part of parts) {
    for (const [type, n] of Object.entries(part.backlogByType))
      merged.backlogByType[type] = (merged.backlogByType[type] ?? 0) + n;
    for (const [type, n] of Object.entries(part.dueByType))
      merged.dueByType[type] = (merged.dueByType[type] ?? 0) + n;
    for (const [type, at] of Object.entries(part.oldestDueAtByType))
      merged.oldestDueAtByType[type] = Math.min(
        merged.oldestDueAtByType[type] ?? Number.POSITIVE_INFINITY,
        at,
      );
    merged.unroutable += part.unroutable;
    part.queueDepthByPriority.forEach(
      (n, p) => (merged.queueDepthByPriority[p] = (merged.queueDepthByPriority[p] ?? 0) + n),
    );
  }
  return merged;
}

/** The workers of every host; a worker reported by two hosts (it moved) counts once, connected first. */
function mergeWorkers(hosts: readonly HostStats[]): WorkerStats[] {
  const byId = new Map<string, WorkerStats>();
  for (const host of hosts)
    for (const worker of host.workers) {
      const known = byId.get(worker.id);
      if (!known || (!known.connected && worker.connected)) byId.set(worker.id, worker);
    }
  return [...byId.values()];
}
