import { afterAll, beforeAll } from "vitest";
import { Redis } from "ioredis";
import { testServices, uniquePrefix } from "../tests/support/services.ts";
import { eventLogContract } from "./event-log.contract.ts";
import { RedisEventLog } from "./redis-event-log.ts";

let redis: Redis;
beforeAll(() => {
  redis = new Redis(testServices.redisUrl, { enableAutoPipelining: true });
});
afterAll(() => redis.disconnect());

eventLogContract("Redis Streams", () => ({
  make: (options) => new RedisEventLog(redis, { ...options, prefix: uniquePrefix("log") }),
  elapse: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
}));
