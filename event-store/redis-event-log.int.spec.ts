import { afterAll, beforeAll } from "vitest";
import type { RedisClient } from "./redis-client.ts";
import { uniquePrefix, connectTestRedis } from "../tests/support/services.ts";
import { eventLogContract } from "./event-log.contract.ts";
import { RedisEventLog } from "./redis-event-log.ts";

let redis: RedisClient;
beforeAll(() => {
  redis = connectTestRedis();
});
afterAll(() => redis.disconnect());

eventLogContract("Redis Streams", () => ({
  make: (options) => new RedisEventLog(redis, { ...options, prefix: uniquePrefix("log") }),
  elapse: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
}));
