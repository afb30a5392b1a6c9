import { execFileSync } from "node:child_process";
import { GenericContainer, Wait, type StartedTestContainer } from "testcontainers";

/** Whether a Docker engine answers here (a docker CLI alone is not enough). */
export function dockerEngineAvailable(): boolean {
  try {
    execFileSync("docker", ["info"], { stdio: "ignore", timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

export interface ContainerServices {
  env: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * Redis 7 (AOF always), etcd 3 and PostgreSQL 16 in containers, for machines with a Docker engine
 * and no TASKSTREAM_* URLs; the local-process path (scripts/services.sh) serves every other machine.
 */
export async function startContainers(): Promise<ContainerServices> {
  const started: StartedTestContainer[] = [];
  try {
    const redis = await new GenericContainer("redis:7")
      .withCommand(["redis-server", "--appendonly", "yes", "--appendfsync", "always"])
      .withExposedPorts(6379)
      .withWaitStrategy(Wait.forLogMessage("Ready to accept connections"))
      .start();
    started.push(redis);
    const etcd = await new GenericContainer("quay.io/coreos/etcd:v3.5.17")
      .withCommand([
        "etcd",
        "--listen-client-urls",
        "http://0.0.0.0:2379",
        "--advertise-client-urls",
        "http://0.0.0.0:2379",
      ])
      .withExposedPorts(2379)
      .withWaitStrategy(Wait.forLogMessage("ready to serve client requests"))
      .start();
    started.push(etcd);
    const postgres = await new GenericContainer("postgres:16")
      .withEnvironment({ POSTGRES_HOST_AUTH_METHOD: "trust", POSTGRES_DB: "taskstream_test" })
      .withExposedPorts(5432)
      .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
      .start();
    started.push(postgres);
    return {
      env: {
        TASKSTREAM_REDIS_URL: `redis://${redis.getHost()}:${redis.getMappedPort(6379)}`,
        TASKSTREAM_ETCD_ENDPOINTS: `http://${etcd.getHost()}:${etcd.getMappedPort(2379)}`,
        TASKSTREAM_TEST_PG_URL: `postgres://postgres@${postgres.getHost()}:${postgres.getMappedPort(5432)}/taskstream_test`,
      },
      stop: async () => void (await Promise.all(started.map((c) => c.stop()))),
    };
  } catch (error) {
    await Promise.allSettled(started.map((c) => c.stop()));
    throw error;
  }
}
