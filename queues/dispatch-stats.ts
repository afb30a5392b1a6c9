import { readFileSync } from "node:fs";
import type { RedisClient } from "../event-store/redis-client.ts";
import { partitionKeys } from "../event-store/keys.ts";
import { luaPreamble, REPLY, replyError } from "../event-store/reply-codes.ts";
import { backlogKey } from "./admission.ts";

/** What the leader reports once a second: backlog per queue, tasks no worker can run, live workers. */
export interface DispatchStats {
  at: string;
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
  workers: {
    id: string;
    name: string;
    types: string[];
    labels: Record<string, string>;
    slots: number;
    busy: number;
    connected: boolean;
  }[];
}

/**
 * Where the leader publishes its stats (JSON, expiring when no leader refreshes it): in partition
 * 0's slot, beside the epoch that fences the write.
 */
export function statsKey(prefix: string): string {
  return `${prefix}:{p0}:dispatcher-stats`;
}

const PUBLISH = luaPreamble() + readFileSync(new URL("./lua/publish-stats-3.lua", import.meta.url), "utf8");

/**
 * Publishes the stats and the backlog per queue, replaced whole, fenced by the leader's `epoch`:
 * throws StaleEpochError when a newer leader has fenced the log (a deposed leader's counts would
 * otherwise mislead admission control).
 */
export async function publishStats(
  redis: RedisClient,
  prefix: string,
  epoch: number,
  stats: DispatchStats,
): Promise<void> {
  const counts = Object.entries(stats.backlogByType).flatMap(([type, count]) => [type, String(count)]);
  const keys = [partitionKeys(0, prefix).epoch, backlogKey(prefix), statsKey(prefix)];
  // EVAL, not a command defined on the shared connection: once a second, the script's text is cheap.
  const [code, value] = (await redis.eval(
    PUBLISH,
    3,
    ...keys,
    epoch,
    JSON.stringify(stats),
    5000,
    ...counts,
  )) as [number, string];
  if (Number(code) !== REPLY.OK) throw replyError(Number(code), value, { epoch });
}

/** The leading dispatcher's last report (null when none leads): live workers, backlog, unroutable tasks. */
export async function readDispatchStats(redis: RedisClient, prefix: string): Promise<DispatchStats | null> {
  const json = await redis.get(statsKey(prefix));
  return json === null ? null : (JSON.parse(json) as DispatchStats);
}
