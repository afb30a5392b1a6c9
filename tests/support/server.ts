import { loadConfig, type Config } from "../../cli/config.ts";
import { startServer, type RunningServer } from "../../cli/server.ts";
import { testServices, uniquePrefix } from "./services.ts";

/** Starts a real Taskstream process in this test, on free ports, with a key prefix of its own. */
export async function startTestServer(overrides: Partial<Config> = {}, name = "srv"): Promise<RunningServer> {
  const base = loadConfig(
    {},
    {
      TASKSTREAM_HOST: "127.0.0.1",
      TASKSTREAM_HTTP_PORT: "0",
      TASKSTREAM_GRPC_PORT: "0",
      TASKSTREAM_REDIS_URL: testServices.redisUrl,
      TASKSTREAM_REDIS_CLUSTER: String(testServices.redisCluster),
      TASKSTREAM_PG_URL: testServices.pgUrl,
      TASKSTREAM_ETCD_ENDPOINTS: testServices.etcdEndpoints.join(","),
      TASKSTREAM_PREFIX: uniquePrefix(name),
      TASKSTREAM_LOG_LEVEL: "error",
      // On loopback; the tests of authentication ask for it (auth: "required").
      TASKSTREAM_AUTH: "off",
      TASKSTREAM_HEARTBEAT_INTERVAL_MS: "500",
      TASKSTREAM_HEARTBEAT_TIMEOUT_MS: "3000",
      TASKSTREAM_RECONNECT_GRACE_MS: "1000",
      TASKSTREAM_LEASE_TTL_SECONDS: "3",
    },
  );
  return startServer({ ...base, ...overrides });
}

/** Polls `probe` until it returns a value other than undefined. */
export async function eventually<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
  what = "condition",
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
