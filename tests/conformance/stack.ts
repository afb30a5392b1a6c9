import { Redis } from "ioredis";
import pg from "pg";
import { migrate } from "../../migrations/migrate.ts";
import { KeyStore } from "../../auth/key-store.ts";
import { deletePrefix } from "../../bench/redis-admin.ts";
import { freePort, isLeading, spawnServer, type ServerProcess } from "../support/process-cluster.ts";
import { testServices } from "../support/services.ts";

/** The server's limit on results; the `result too large` scenario returns more than this. */
export const MAX_RESULT_BYTES = 65_536;

/**
 * Settings of the Taskstream under test. Heartbeats are frequent so silent workers are found fast.
 * The reconnect grace is long on purpose: after a dispatcher restart a worker's backoff may reach a
 * few seconds (SDKs cap it near 5 s) before it registers again, and it must come back inside the
 * grace to keep its attempt; a worker killed outright is declared lost once the grace has passed.
 */
export const STACK_ENV: Record<string, string> = {
  TASKSTREAM_MAX_RESULT_BYTES: String(MAX_RESULT_BYTES),
  TASKSTREAM_HEARTBEAT_INTERVAL_MS: "500",
  TASKSTREAM_HEARTBEAT_TIMEOUT_MS: "3000",
  TASKSTREAM_RECONNECT_GRACE_MS: "8000",
  TASKSTREAM_LEASE_TTL_SECONDS: "3",
  TASKSTREAM_LOG_LEVEL: "warn",
};

/**
 * A real Taskstream as two OS processes under one key prefix: the API (submissions, reads, history
 * folded from the log) and the dispatcher the workers connect to. Apart, the dispatcher can be killed
 * and started again on the same ports while the API keeps answering. Authentication is required, as
 * in production: the suite and every worker use one API key made for the run (`apiKey`), so each
 * SDK is checked to send it.
 */
export class Stack {
  readonly prefix: string;
  /** The run's API key (every scope, every namespace): TASKSTREAM_API_KEY for the workers. */
  apiKey = "";
  api!: ServerProcess;
  dispatcher!: ServerProcess;
  private dispatcherPorts!: { http: number; grpc: number };
  private readonly env: Record<string, string>;

  constructor(prefix: string, env: Record<string, string> = {}) {
    this.prefix = prefix;
    this.env = { ...STACK_ENV, TASKSTREAM_AUTH: "required", ...env };
  }

  /** Where the API serves gRPC (TaskService). */
  get apiAddress(): string {
    return this.api.grpcAddress;
  }

  /** Where workers connect (WorkerService); the same across restarts. */
  get dispatcherAddress(): string {
    return this.dispatcher.grpcAddress;
  }

  async start(): Promise<void> {
    const pool = new pg.Pool({ connectionString: testServices.pgUrl, max: 1 });
    try {
      await migrate(pool);
      const made = await new KeyStore(pool).create({
        name: `conformance ${this.prefix}`,
        namespaces: ["*"],
        scopes: ["submit", "read", "cancel", "admin", "worker"],
      });
      this.apiKey = made.key;
    } finally {
      await pool.end();
    }
    this.dispatcherPorts = { http: await freePort(), grpc: await freePort() };
    [this.api, this.dispatcher] = await Promise.all([
      spawnServer(this.prefix, "api", this.env),
      spawnServer(this.prefix, "dispatcher", this.env, this.dispatcherPorts),
    ]);
    await this.leading();
  }

  /** Kills the dispatcher (SIGKILL: no lease revoked) and starts it again on the same ports. */
  async restartDispatcher(): Promise<void> {
    await this.dispatcher.kill();
    this.dispatcher = await spawnServer(this.prefix, "dispatcher", this.env, this.dispatcherPorts);
    await this.leading();
  }

  /** Resolves once the dispatcher leads (its lease held, the log rebuilt); /readyz says so. */
  async leading(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await isLeading(this.dispatcher))) {
      if (Date.now() > deadline) throw new Error(`the dispatcher did not lead within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** What the servers wrote, for a failure message. */
  output(): string {
    return [this.api, this.dispatcher].map((server) => server?.output.join("").slice(-4000) ?? "").join("\n");
  }

  /** Kills both processes and deletes the run's keys (never a FLUSH: the Redis may be shared). */
  async stop(): Promise<void> {
    await Promise.all([this.api?.kill(), this.dispatcher?.kill()]);
    const redis = new Redis(testServices.redisUrl, { maxRetriesPerRequest: 1 });
    try {
      await deletePrefix(redis, this.prefix);
    } finally {
      redis.disconnect();
    }
  }
}
