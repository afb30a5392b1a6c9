import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { testServices } from "./services.ts";

const MAIN = fileURLToPath(new URL("../../cli/main.ts", import.meta.url));

/** A free loopback port (bound and released; good enough for tests on one machine). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

export interface ServerProcess {
  child: ChildProcess;
  httpUrl: string;
  grpcAddress: string;
  output: string[];
  /** SIGKILL: no shutdown hooks, no lease revocation — a crash. */
  kill(): Promise<void>;
}

/**
 * Runs `taskstream serve` as a separate OS process, so a test can kill it for real. `ports` pins its
 * listeners (to start a killed process again where its clients expect it); free ports otherwise.
 */
export async function spawnServer(
  prefix: string,
  roles: string,
  extraEnv: Record<string, string> = {},
  ports?: { http: number; grpc: number },
): Promise<ServerProcess> {
  const [httpPort, grpcPort] = ports ? [ports.http, ports.grpc] : [await freePort(), await freePort()];
  const child = spawn(process.execPath, [MAIN, "serve", "--roles", roles], {
    env: {
      ...process.env,
      TASKSTREAM_HOST: "127.0.0.1",
      TASKSTREAM_HTTP_PORT: String(httpPort),
      TASKSTREAM_GRPC_PORT: String(grpcPort),
      TASKSTREAM_REDIS_URL: testServices.redisUrl,
      TASKSTREAM_REDIS_CLUSTER: String(testServices.redisCluster),
      TASKSTREAM_PG_URL: testServices.pgUrl,
      TASKSTREAM_ETCD_ENDPOINTS: testServices.etcdEndpoints.join(","),
      TASKSTREAM_PREFIX: prefix,
      TASKSTREAM_LOG_LEVEL: "error",
      TASKSTREAM_HEARTBEAT_INTERVAL_MS: "500",
      TASKSTREAM_HEARTBEAT_TIMEOUT_MS: "3000",
      TASKSTREAM_RECONNECT_GRACE_MS: "2000",
      TASKSTREAM_LEASE_TTL_SECONDS: "3",
      // On loopback; a run that tests authentication passes TASKSTREAM_AUTH=required with a key.
      TASKSTREAM_AUTH: "off",
      ...extraEnv,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  child.stdout.on("data", (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => output.push(chunk.toString()));
  const httpUrl = `http://127.0.0.1:${httpPort}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`taskstream serve exited ${child.exitCode}: ${output.join("")}`);
    const healthy = await fetch(`${httpUrl}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (healthy) break;
    if (Date.now() > deadline) throw new Error(`taskstream serve did not come up: ${output.join("")}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    child,
    httpUrl,
    grpcAddress: `127.0.0.1:${grpcPort}`,
    output,
    kill: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGKILL");
      }),
  };
}

/** Whether a dispatcher process holds the lease (its /readyz says so). */
export async function isLeading(server: ServerProcess): Promise<boolean> {
  const reply = await fetch(`${server.httpUrl}/readyz`).catch(() => null);
  return reply?.status === 200;
}
