import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RedisClient } from "../event-store/redis-client.ts";
import { StaleEpochError } from "../domain/task/index.ts";
import { RedisEventLog } from "../event-store/redis-event-log.ts";
import { uniquePrefix, connectTestRedis } from "../tests/support/services.ts";
import { backlogKey } from "./admission.ts";
import { publishStats, readDispatchStats, type DispatchStats } from "./dispatch-stats.ts";

const stats = (epoch: number, waiting: number): DispatchStats => ({
  at: new Date(0).toISOString(),
  epoch,
  backlogByType: { mail: waiting },
  dueByType: { mail: waiting },
  oldestDueAtByType: {},
  unroutable: 0,
  queueDepthByPriority: [],
  workers: [],
});

describe("the leader's dispatch stats", () => {
  let redis: RedisClient;
  beforeAll(() => {
    redis = connectTestRedis({ enableAutoPipelining: false });
  });
  afterAll(() => redis.disconnect());

  it("are written only with the newest epoch: a deposed leader cannot change the backlog admission reads", async () => {
    const prefix = uniquePrefix("stats");
    const log = new RedisEventLog(redis, { partitions: 2, prefix });
    await log.fence(5);
    await publishStats(redis, prefix, 5, stats(5, 40));
    await expect(publishStats(redis, prefix, 4, stats(4, 0))).rejects.toBeInstanceOf(StaleEpochError);
    expect(await redis.hgetall(backlogKey(prefix))).toEqual({ mail: "40" });
    expect((await readDispatchStats(redis, prefix))?.epoch).toBe(5);
  });
});
