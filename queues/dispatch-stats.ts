import type { Redis } from "ioredis";
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

/** Where the leader publishes its stats (JSON, expiring when no leader refreshes it). */
export function statsKey(prefix: string): string {
  return `${prefix}:dispatcher-stats`;
}

export async function publishStats(redis: Redis, prefix: string, stats: DispatchStats): Promise<void> {
  const counts = Object.entries(stats.backlogByType).flat();
  const multi = redis.multi().del(backlogKey(prefix));
  if (counts.length > 0) multi.hset(backlogKey(prefix), ...counts.map(String));
  await multi.set(statsKey(prefix), JSON.stringify(stats), "PX", 5000).exec();
}

/** The leading dispatcher's last report (null when none leads): live workers, backlog, unroutable tasks. */
export async function readDispatchStats(redis: Redis, prefix: string): Promise<DispatchStats | null> {
  const json = await redis.get(statsKey(prefix));
  return json === null ? null : (JSON.parse(json) as DispatchStats);
}
