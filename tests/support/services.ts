import { connectRedis, type RedisClient, type RedisConnectOptions } from "../../event-store/redis-client.ts";

/**
 * Where the integration and end-to-end tiers find the real services: TASKSTREAM_* URLs when set
 * (scripts/services.sh writes them), else the loopback ports that script uses by default.
 */
export const testServices = {
  redisUrl: process.env.TASKSTREAM_REDIS_URL ?? "redis://127.0.0.1:16379",
  /** A Redis Cluster (TASKSTREAM_REDIS_CLUSTER, or several URLs): `npm run test:cluster`. */
  redisCluster: /^(1|true)$/i.test(process.env.TASKSTREAM_REDIS_CLUSTER ?? ""),
  etcdEndpoints: (process.env.TASKSTREAM_ETCD_ENDPOINTS ?? "http://127.0.0.1:12379").split(","),
  pgUrl: process.env.TASKSTREAM_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:15432/taskstream_test",
};

/** A key prefix of its own for each test, so tests sharing one Redis never see each other's keys. */
export function uniquePrefix(name: string): string {
  return `t-${name}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

/** A connection to the test Redis (one node or the cluster), autopipelined like the server's. */
export function connectTestRedis(options: RedisConnectOptions = {}): RedisClient {
  const redis = connectRedis(testServices.redisUrl, {
    cluster: testServices.redisCluster,
    enableAutoPipelining: true,
    ...options,
  });
  // A node killed by a chaos test: the client reconnects by itself; its error events are noise.
  if (testServices.redisCluster) redis.on("error", () => undefined);
  return redis;
}
