import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { StaleEpochError } from "../domain/task/index.ts";
import { RedisEventLog } from "../event-store/redis-event-log.ts";
import { testServices, uniquePrefix } from "../tests/support/services.ts";
import {
  backlogKey,
  publishHostStats,
  publishStats,
  readBacklog,
  readDispatchStats,
  type PartitionStats,
} from "./dispatch-stats.ts";

const stats = (partition: number, epoch: number, waiting: number): PartitionStats => ({
  at: new Date().toISOString(),
  partition,
  epoch,
  backlogByType: { mail: waiting },
  dueByType: { mail: waiting },
  oldestDueAtByType: { mail: 1000 * (partition + 1) },
  unroutable: partition,
  queueDepthByPriority: [0, waiting],
});

describe("the partitions' dispatch stats", () => {
  let redis: Redis;
  beforeAll(() => {
    redis = new Redis(testServices.redisUrl);
  });
  afterAll(() => redis.disconnect());

  it("are written only with the partition's newest epoch: a deposed owner cannot change the backlog admission reads", async () => {
    const prefix = uniquePrefix("stats");
    const log = new RedisEventLog(redis, { partitions: 2, prefix });
    const older = await log.claim(1);
    const newer = await log.claim(1);
    await publishStats(redis, prefix, 1, newer, stats(1, newer, 40));
    await expect(publishStats(redis, prefix, 1, older, stats(1, older, 0))).rejects.toBeInstanceOf(
      StaleEpochError,
    );
    expect(await redis.hgetall(backlogKey(prefix, 1))).toEqual({ mail: "40" });
  });

  it("are read as the sums over the partitions, with every host's workers", async () => {
    const prefix = uniquePrefix("stats-sum");
    const log = new RedisEventLog(redis, { partitions: 3, prefix });
    for (const p of [0, 2]) await publishStats(redis, prefix, p, await log.claim(p), stats(p, 1, 10 + p));
    const worker = { id: "w1", name: "w1", types: ["mail"], labels: {}, slots: 4, busy: 1, connected: true };
    await publishHostStats(redis, prefix, { at: new Date().toISOString(), host: "a", workers: [worker] });
    await publishHostStats(redis, prefix, {
      at: new Date(0).toISOString(),
      host: "gone",
      workers: [{ ...worker, id: "w2" }],
    });
    expect(await readBacklog(redis, prefix, 3)).toEqual(new Map([["mail", 22]]));
    const merged = await readDispatchStats(redis, prefix, 3);
    expect(merged).toMatchObject({
      partitions: 3,
      partitionsReporting: 2,
      backlogByType: { mail: 22 },
      oldestDueAtByType: { mail: 1000 },
      unroutable: 2,
      queueDepthByPriority: [0, 22],
    });
    // A host that stopped reporting long ago is left out.
    expect(merged?.workers.map((w) => w.id)).toEqual(["w1"]);
  });
});
