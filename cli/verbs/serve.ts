import pg from "pg";
import type { Logger as Pino } from "pino";
import { checkAuthExposure, loadConfig, parseFlags } from "../config.ts";
import { KeyStore } from "../../auth/key-store.ts";
import { IllegalStateError } from "../../domain/task/index.ts";
import { startServer, type RunningServer } from "../server.ts";
import { createLogger } from "../../observability/log.ts";
import { stopTelemetry } from "../../observability/telemetry.ts";

/** `taskstream serve`: the configured roles, until SIGINT or SIGTERM; logs JSON unless told otherwise. */
export async function serve(argv: string[]): Promise<void> {
  const config = loadConfig(parseFlags(argv).values);
  checkAuthExposure(config);
  const log = createLogger({ level: config.logLevel, format: config.logFormat });
  // Every role reads PostgreSQL: the read model, the event archive, and the API keys (a lone
  // dispatcher authenticates its workers there).
  const { migrateUrl } = await import("./migrate.ts");
  await migrateUrl(config.pgUrl);
  if (config.auth === "required") await requireSomeKey(config.pgUrl);
  const server = await startServer(config, log);
  log.info(
    { roles: [...config.roles].join(","), http: server.httpUrl, grpc: server.grpcAddress },
    "taskstream serving",
  );
  stopOnSignal(server, log, stopTelemetry);
}

/**
 * A server that requires authentication but has no key would refuse everyone, workers included:
 * it does not start, and says how to make the first key.
 */
async function requireSomeKey(pgUrl: string): Promise<void> {
  const pool = new pg.Pool({ connectionString: pgUrl, max: 1 });
  try {
    if ((await new KeyStore(pool).countActive()) > 0) return;
  } finally {
    await pool.end();
  }
  throw new IllegalStateError(
    "TASKSTREAM_AUTH=required but no API key exists, so nothing could authenticate. Make one first:\n" +
      "  taskstream keys create --namespace '*' --scopes submit,read,cancel,admin,worker --name operator\n" +
      "(or, for development on this machine only, TASKSTREAM_AUTH=off with TASKSTREAM_HOST=127.0.0.1)",
  );
}

/** Stops gracefully on the first SIGINT/SIGTERM, at once on the second. */
export function stopOnSignal(
  server: RunningServer,
  log: Pino,
  after: () => Promise<void> = async () => undefined,
): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) process.exit(130);
    stopping = true;
    log.info({ signal }, "taskstream stopping");
    void server
      .close()
      .then(after)
      .then(() => process.exit(0));
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
}
