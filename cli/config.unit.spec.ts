import { describe, expect, it } from "vitest";
import { ValidationError } from "../domain/task/index.ts";
import { redisUrls } from "../event-store/redis-client.ts";
import { loadConfig, parseFlags } from "./config.ts";

/** The fields a configuration error names (throws when it is not a ValidationError). */
function fieldsOf(load: () => unknown): string[] {
  try {
    load();
  } catch (error) {
    if (error instanceof ValidationError) return error.fields.map((f) => f.field);
    throw error;
  }
  throw new Error("the configuration was accepted");
}

describe("loadConfig", () => {
  it("has a default for every setting", () => {
    const config = loadConfig({}, {});
    expect(config).toMatchObject({
      roles: new Set(["api", "dispatcher", "projector", "read-api"]),
      host: "0.0.0.0",
      httpPort: 8080,
      grpcPort: 50051,
      advertiseAddress: "127.0.0.1:50051",
      partitions: 8,
      prefix: "ts",
      heartbeatTimeoutMs: 10_000,
      graphiql: false,
      corsOrigins: [],
    });
    expect(config.agingBound).toEqual(new Array<number>(10).fill(20));
  });

  it("takes each setting from its TASKSTREAM_* variable", () => {
    const config = loadConfig(
      {},
      {
        TASKSTREAM_ROLES: "api, projector",
        TASKSTREAM_HTTP_PORT: "9000",
        TASKSTREAM_PREFIX: "from-env",
        TASKSTREAM_ETCD_ENDPOINTS: "http://a:2379, http://b:2379,",
        TASKSTREAM_GRAPHIQL: "1",
        TASKSTREAM_PRIORITY_AGING: "10,9,8,7,6,5,4,3,2,1",
      },
    );
    expect(config).toMatchObject({
      roles: new Set(["api", "projector"]),
      httpPort: 9000,
      prefix: "from-env",
      etcdEndpoints: ["http://a:2379", "http://b:2379"],
      graphiql: true,
      agingBound: [10, 9, 8, 7, 6, 5, 4, 3, 2, 1],
    });
  });

  it("lets a flag beat the variable of the same setting, and only that setting", () => {
    const env = { TASKSTREAM_HTTP_PORT: "9000", TASKSTREAM_PREFIX: "from-env" };
    const config = loadConfig({ "http-port": "9100" }, env);
    expect(config.httpPort).toBe(9100);
    expect(config.prefix).toBe("from-env");
  });

  it("ignores a flag given without a value (a boolean), using the variable", () => {
    expect(loadConfig({ prefix: true }, { TASKSTREAM_PREFIX: "from-env" }).prefix).toBe("from-env");
  });

  it("advertises the host and gRPC port it binds, unless told an address", () => {
    expect(loadConfig({ host: "10.0.0.7", "grpc-port": "6000" }, {}).advertiseAddress).toBe("10.0.0.7:6000");
    expect(loadConfig({ "advertise-address": "dispatcher-0.taskstream:50051" }, {}).advertiseAddress).toBe(
      "dispatcher-0.taskstream:50051",
    );
  });

  it("names the flag of a bad value, whether it came as a flag or a variable", () => {
    expect(fieldsOf(() => loadConfig({ "http-port": "eighty" }, {}))).toEqual(["http-port"]);
    expect(fieldsOf(() => loadConfig({}, { TASKSTREAM_HTTP_PORT: "70000" }))).toEqual(["http-port"]);
    expect(fieldsOf(() => loadConfig({ partitions: "0" }, {}))).toEqual(["partitions"]);
    expect(fieldsOf(() => loadConfig({}, { TASKSTREAM_LEASE_TTL_SECONDS: "1.5" }))).toEqual([
      "lease-ttl-seconds",
    ]);
    expect(fieldsOf(() => loadConfig({ roles: "api,scheduler" }, {}))).toEqual(["roles"]);
    expect(fieldsOf(() => loadConfig({ roles: " , " }, {}))).toEqual(["roles"]);
    expect(fieldsOf(() => loadConfig({ "priority-aging": "1,2,3" }, {}))).toEqual(["priority-aging"]);
    expect(fieldsOf(() => loadConfig({ "cors-origins": "not a url" }, {}))).toEqual(["cors-origins"]);
  });

  it("says what a bad value was and what it must be", () => {
    expect(() => loadConfig({ "heartbeat-timeout-ms": "100" }, {})).toThrow(
      'heartbeat-timeout-ms: must be an integer from 500 to 600000; got "100"',
    );
  });
});

describe("parseFlags", () => {
  it("reads every setting as a --flag, with the positionals", () => {
    const { values, positionals } = parseFlags(["replay", "--prefix", "p1", "--http-port=81", "id-1"]);
    expect(values).toMatchObject({ prefix: "p1", "http-port": "81" });
    expect(positionals).toEqual(["replay", "id-1"]);
    expect(loadConfig(values, {}).httpPort).toBe(81);
  });

  it("refuses a flag it does not know", () => {
    expect(() => parseFlags(["--http-prot", "81"])).toThrow(/http-prot/);
  });
});

describe("the Redis settings", () => {
  it("take one URL or several separated by commas, and refuse a bad list naming redis-url", () => {
    expect(redisUrls(" redis://a:1 , rediss://b:2 ")).toEqual(["redis://a:1", "rediss://b:2"]);
    expect(loadConfig({}, { TASKSTREAM_REDIS_URL: "redis://a:1,redis://b:2" }).redisUrl).toBe(
      "redis://a:1,redis://b:2",
    );
    for (const bad of ["", "127.0.0.1:6379", "redis://a:1,http://b:2"])
      expect(fieldsOf(() => loadConfig({}, { TASKSTREAM_REDIS_URL: bad }))).toEqual(["redis-url"]);
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
    expect(loadConfig({}, {})).toMatchObject({
      redisCluster: false,
      redisWaitReplicas: 0,
      redisWaitTimeoutMs: 1000,
    });
    expect(fieldsOf(() => loadConfig({}, { TASKSTREAM_REDIS_WAIT_REPLICAS: "-1" }))).toEqual([
      "redis-wait-replicas",
    ]);
    expect(fieldsOf(() => loadConfig({ "redis-wait-timeout-ms": "0" }, {}))).toEqual([
      "redis-wait-timeout-ms",
    ]);
    expect(fieldsOf(() => loadConfig({}, { TASKSTREAM_REDIS_CLUSTER: "maybe" }))).toEqual(["redis-cluster"]);
  });
});
