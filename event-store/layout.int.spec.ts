import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RedisClient } from "./redis-client.ts";
import { uniquePrefix, connectTestRedis } from "../tests/support/services.ts";
import { RedisEventLog } from "./redis-event-log.ts";

describe("the log's partition count", () => {
  let redis: RedisClient;
  beforeAll(() => {
    redis = connectTestRedis({ enableAutoPipelining: false });
  });
  afterAll(() => redis.disconnect());

  it("is recorded on first use, and a process with another count is refused with the fix", async () => {
    const prefix = uniquePrefix("layout");
    await new RedisEventLog(redis, { partitions: 8, prefix }).checkLayout();
    await new RedisEventLog(redis, { partitions: 8, prefix }).checkLayout();
    await expect(new RedisEventLog(redis, { partitions: 4, prefix }).checkLayout()).rejects.toThrow(
      /has 8 partitions but this process was started with 4: start it with TASKSTREAM_PARTITIONS=8/,
    );
  });

  it("refuses a log of the first format (events, but no recorded layout) with the way out", async () => {
    const prefix = uniquePrefix("layout-old");
    await redis.xadd(
      `${prefix}:{p0}:events`,
      "*",
      "task",
      "t",
      "v",
      "1",
      "type",
      "TaskSubmitted",
      "data",
      "{}",
    );
    await expect(new RedisEventLog(redis, { partitions: 2, prefix }).checkLayout()).rejects.toThrow(
      /written by Taskstream 0.1.*start with an empty log/,
    );
  });
});
