import { Redis } from "ioredis";
import pg from "pg";
import { Etcd3 } from "etcd3";
import { testServices } from "./services.ts";

/** Fails fast, with the fix, when the real services the tiers need are not answering. */
export default async function setup(): Promise<void> {
  const hint = "start them with `bash scripts/services.sh start` (npm test does this for you)";
  const redis = new Redis(testServices.redisUrl, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
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
}
