/**
 * Where the integration and end-to-end tiers find the real services: TASKSTREAM_* URLs when set
 * (scripts/services.sh writes them), else the loopback ports that script uses by default.
 */
export const testServices = {
  redisUrl: process.env.TASKSTREAM_REDIS_URL ?? "redis://127.0.0.1:16379",
  etcdEndpoints: (process.env.TASKSTREAM_ETCD_ENDPOINTS ?? "http://127.0.0.1:12379").split(","),
  pgUrl: process.env.TASKSTREAM_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:15432/taskstream_test",
};

/** A key prefix of its own for each test, so tests sharing one Redis never see each other's keys. */
export function uniquePrefix(name: string): string {
  return `t-${name}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}
