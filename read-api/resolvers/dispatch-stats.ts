import type { Redis } from "ioredis";
import { statsKey, type DispatchStats } from "../../dispatcher/stats.ts";

/** The leading dispatcher's last report (null when none leads): live workers, backlog, unroutable tasks. */
export async function readDispatchStats(redis: Redis, prefix: string): Promise<DispatchStats | null> {
  const json = await redis.get(statsKey(prefix));
  return json === null ? null : (JSON.parse(json) as DispatchStats);
}

/** Stats.dispatch and Query.workers from the dispatcher's report. */
export function dispatchResolvers(redis: Redis, prefix: string) {
  return {
    dispatch: async () => {
      const stats = await readDispatchStats(redis, prefix);
      if (!stats) return null;
      const backlog = Object.entries(stats.backlogByType).map(([type, waiting]) => ({ type, waiting }));
      return { ...stats, backlog };
    },
    workers: async () => (await readDispatchStats(redis, prefix))?.workers ?? [],
  };
}
