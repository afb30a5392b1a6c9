import type { Logger as Pino } from "pino";
import { loadConfig, parseFlags } from "../config.ts";
import { startServer, type RunningServer } from "../server.ts";
import { createLogger } from "../../observability/log.ts";
import { stopTelemetry } from "../../observability/telemetry.ts";

/** `taskstream serve`: the configured roles, until SIGINT or SIGTERM; logs JSON unless told otherwise. */
export async function serve(argv: string[]): Promise<void> {
  const config = loadConfig(parseFlags(argv).values);
  const log = createLogger({ level: config.logLevel, format: config.logFormat });
  // Every role but a lone dispatcher reads PostgreSQL (the read model; the API the event archive).
  if (config.roles.has("projector") || config.roles.has("read-api") || config.roles.has("api")) {
    const { migrateUrl } = await import("./migrate.ts");
    await migrateUrl(config.pgUrl);
  }
  const server = await startServer(config, log);
  log.info(
    { roles: [...config.roles].join(","), http: server.httpUrl, grpc: server.grpcAddress },
    "taskstream serving",
  );
  stopOnSignal(server, log, stopTelemetry);
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
