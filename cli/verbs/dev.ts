import type { Logger as Pino } from "pino";
import { loadConfig, parseFlags } from "../config.ts";
import { startServer } from "../server.ts";
import { startDemoWorker } from "../demo-worker.ts";
import { migrateUrl } from "./migrate.ts";
import { createLogger } from "../../observability/log.ts";
import { stopTelemetry } from "../../observability/telemetry.ts";
import type { Logger as SdkLogger } from "../../sdk/typescript/src/index.ts";

/**
 * `taskstream dev`: every role in one process on loopback, GraphiQL on, plus a demo worker handling
 * `echo`, `sleep` and `fail`. Expects the local services up (`npm start` starts them first). Logs
 * one readable line per event (`--log-format json` for JSON).
 */
export async function dev(argv: string[]): Promise<void> {
  const { values } = parseFlags(argv);
  const config = loadConfig(
    { host: "127.0.0.1", graphiql: "true", "allow-loopback-origins": "true", ...values },
    // Development: on loopback, authentication off unless TASKSTREAM_AUTH=required asks for keys.
    { TASKSTREAM_LOG_FORMAT: "pretty", TASKSTREAM_AUTH: "off", ...process.env },
  );
  const log = createLogger({ level: config.logLevel, format: config.logFormat });
  await migrateUrl(config.pgUrl);
  const server = await startServer(config, log);
  // With authentication required, a fresh admin key for this session: the demo worker uses it too.
  const adminKey =
    config.auth === "required"
      ? (
          await server.keys.create({
            name: "taskstream dev",
            namespaces: ["*"],
            scopes: ["submit", "read", "cancel", "admin", "worker"],
          })
        ).key
      : undefined;
  const worker = startDemoWorker(
    server.grpcAddress,
    20,
    sdkLogger(log.child({ component: "worker" })),
    adminKey,
  );
  await worker.start();
  const http = server.httpUrl;
  const auth = adminKey
    ? `Authentication REQUIRED. A fresh admin key for this session (all scopes, every namespace):
  ${adminKey}
  export TASKSTREAM_API_KEY=${adminKey}   # the CLI sends it; curl: -H "authorization: Bearer $TASKSTREAM_API_KEY"`
    : `Authentication is OFF (development on loopback): anyone on this machine may call every API.
  TASKSTREAM_AUTH=required npm start runs with API keys instead (docs/security.md).`;
  const bearer = adminKey ? ` -H "authorization: Bearer $TASKSTREAM_API_KEY"` : "";
  console.log(`
Taskstream is running (all roles, demo worker for echo, sleep, fail)
  REST      ${http}/v1/tasks
  gRPC      ${server.grpcAddress}  (taskstream.v1.TaskService, taskstream.v1.WorkerService)
  GraphQL   ${http}/graphql   GraphiQL ${http}/graphiql
  Metrics   ${server.metricsUrl ?? http}/metrics   Health ${http}/healthz  ${http}/readyz

${auth}

Try:  curl -s -XPOST ${http}/v1/tasks -H 'content-type: application/json'${bearer} -d '{"type":"echo","payload":{"hello":"world"}}'
Logs: level ${config.logLevel} (--log-level debug shows every request)
Stop: Ctrl-C
`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) process.exit(130);
    stopping = true;
    log.info({ signal }, "stopping; the services keep running (npm run services -- stop)");
    void worker
      .stop({ graceMs: 5000 })
      .then(() => server.close())
      .then(stopTelemetry)
      .then(() => process.exit(0));
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
}

/**
 * The worker SDK's logger (message first) writing through the server's log (fields first). The demo
 * worker's connection news (registered, reconnecting while the dispatcher starts) is debug here.
 */
function sdkLogger(log: Pino): SdkLogger {
  return {
    debug: (message, fields) => log.debug(fields ?? {}, message),
    info: (message, fields) => log.debug(fields ?? {}, message),
    warn: (message, fields) => log.warn(fields ?? {}, message),
    error: (message, fields) => log.error(fields ?? {}, message),
  };
}
