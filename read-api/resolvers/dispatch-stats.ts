import type { RedisClient } from "../../event-store/redis-client.ts";
import { readDispatchStats } from "../../queues/dispatch-stats.ts";

/** Stats.dispatch and Query.workers from the partitions' and the hosts' reports. */
export function dispatchResolvers(redis: RedisClient, prefix: string, partitions: number) {
  return {
    dispatch: async () => {
      const stats = await readDispatchStats(redis, prefix, partitions);
      if (!stats) return null;
      const backlog = Object.entries(stats.backlogByType).map(([type, waiting]) => ({ type, waiting }));
      return { ...stats, backlog };
    },
    workers: async () => (await readDispatchStats(redis, prefix, partitions))?.workers ?? [],
  };
}
