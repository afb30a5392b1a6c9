import { loadConfig, parseFlags } from "../config.ts";
import { startServer, type RunningServer } from "../server.ts";
import { startTelemetry } from "../../observability/telemetry.ts";

/** `taskstream serve`: the configured roles, until SIGINT or SIGTERM. */
export async function serve(argv: string[]): Promise<void> {
  const telemetry = startTelemetry();
  const config = loadConfig(parseFlags(argv).values);
  // Every role but a lone dispatcher reads PostgreSQL (the read model; the API the event archive).
  if (config.roles.has("projector") || config.roles.has("read-api") || config.roles.has("api")) {
    const { migrateUrl } = await import("./migrate.ts");
    await migrateUrl(config.pgUrl);
  }
  const server = await startServer(config);
  console.log(
    `taskstream serving ${[...config.roles].join(",")}: HTTP ${server.httpUrl}, gRPC ${server.grpcAddress}`,
  );
  stopOnSignal(server, async () => void (await telemetry?.shutdown()));
}

/** Stops gracefully on the first SIGINT/SIGTERM, at once on the second. */
export function stopOnSignal(
  server: RunningServer,
  after: () => Promise<void> = async () => undefined,
): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) process.exit(130);
    stopping = true;
    console.log(`\ntaskstream: ${signal}, stopping…`);
    void server
      .close()
      .then(after)
      .then(() => process.exit(0));
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
}
