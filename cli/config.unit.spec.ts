import { describe, expect, it } from "vitest";
import { ValidationError } from "../domain/task/index.ts";
import { redisUrls } from "../event-store/redis-client.ts";
import { loadConfig } from "./config.ts";

describe("the Redis settings", () => {
  it("refuse a bad URL list, naming the setting", () => {
    expect(redisUrls(" redis://a:1 , rediss://b:2 ")).toEqual(["redis://a:1", "rediss://b:2"]);
    for (const bad of ["", "127.0.0.1:6379", "redis://a:1,http://b:2"]) {
      const error = (() => {
        try {
          loadConfig({}, { TASKSTREAM_REDIS_URL: bad });
        } catch (caught) {
          return caught;
        }
      })();
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).fields[0]!.field).toBe("redis-url");
    }
  });

  it("read the cluster and WAIT settings, refusing values out of range", () => {
    const config = loadConfig(
      {},
      {
        TASKSTREAM_REDIS_CLUSTER: "1",
        TASKSTREAM_REDIS_WAIT_REPLICAS: "1",
        TASKSTREAM_REDIS_WAIT_TIMEOUT_MS: "250",
      },
    );
    expect([config.redisCluster, config.redisWaitReplicas, config.redisWaitTimeoutMs]).toEqual([
      true,
      1,
      250,
    ]);
    expect(loadConfig({}, {}).redisWaitReplicas).toBe(0);
    expect(() => loadConfig({}, { TASKSTREAM_REDIS_WAIT_REPLICAS: "-1" })).toThrow(/redis-wait-replicas/);
    expect(() => loadConfig({}, { TASKSTREAM_REDIS_WAIT_TIMEOUT_MS: "0" })).toThrow(/redis-wait-timeout-ms/);
    expect(() => loadConfig({}, { TASKSTREAM_REDIS_CLUSTER: "maybe" })).toThrow(/redis-cluster/);
  });
});
