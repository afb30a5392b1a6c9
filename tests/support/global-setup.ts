import pg from "pg";
import { Etcd3 } from "etcd3";
import { testServices } from "./services.ts";
import { connectRedis } from "../../event-store/redis-client.ts";
import { dockerEngineAvailable, startContainers } from "./containers.ts";

/**
 * Provides the real services the tiers need: containers through Testcontainers when a Docker engine
 * answers and no TASKSTREAM_* URLs are set, else the URLs given (scripts/services.sh writes them).
 * Fails fast, with the fix, when they are not answering.
 */
export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  let teardown: (() => Promise<void>) | undefined;
  if (process.env.TASKSTREAM_REDIS_URL === undefined && dockerEngineAvailable()) {
    const containers = await startContainers();
    Object.assign(process.env, containers.env);
    Object.assign(testServices, {
      redisUrl: containers.env.TASKSTREAM_REDIS_URL,
      etcdEndpoints: [containers.env.TASKSTREAM_ETCD_ENDPOINTS],
      pgUrl: containers.env.TASKSTREAM_TEST_PG_URL,
    });
    teardown = () => containers.stop();
  }
  const hint = "start them with `bash scripts/services.sh start` (npm test does this for you)";
  const redis = connectRedis(testServices.redisUrl, {
    cluster: testServices.redisCluster,
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    reconnect: false,
  });
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    throw new Error(`Redis at ${testServices.redisUrl} is not answering (${String(error)}); ${hint}`, {
      cause: error,
    });
  } finally {
    redis.disconnect();
  }
  const client = new pg.Client({ connectionString: testServices.pgUrl });
  try {
    await client.connect();
    await client.query("select 1");
  } catch (error) {
    throw new Error(`PostgreSQL at ${testServices.pgUrl} is not answering (${String(error)}); ${hint}`, {
      cause: error,
    });
  } finally {
    await client.end().catch(() => undefined);
  }
  const etcd = new Etcd3({ hosts: testServices.etcdEndpoints, dialTimeout: 3000 });
  try {
    await etcd.get("taskstream/ping").string();
  } catch (error) {
    throw new Error(
      `etcd at ${testServices.etcdEndpoints.join(",")} is not answering (${String(error)}); ${hint}`,
      { cause: error },
    );
  } finally {
    etcd.close();
  }
  return teardown;
}
