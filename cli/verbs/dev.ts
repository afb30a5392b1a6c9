import { loadConfig, parseFlags } from "../config.ts";
import { startServer } from "../server.ts";
import { startDemoWorker } from "../demo-worker.ts";
import { migrateUrl } from "./migrate.ts";
import { startTelemetry } from "../../observability/telemetry.ts";

/**
 * `taskstream dev`: every role in one process on loopback, GraphiQL on, plus a demo worker handling
 * `echo`, `sleep` and `fail`. Expects the local services up (`npm start` starts them first).
 */
export async function dev(argv: string[]): Promise<void> {
  const telemetry = startTelemetry();
  const { values } = parseFlags(argv);
  const config = loadConfig({
    host: "127.0.0.1",
    graphiql: "true",
    "allow-loopback-origins": "true",
    ...values,
  });
  await migrateUrl(config.pgUrl);
  const server = await startServer(config);
  const worker = startDemoWorker(server.grpcAddress);
  await worker.start();
  const http = server.httpUrl;
  console.log(`
Taskstream is running (all roles, demo worker for echo, sleep, fail)
  REST      ${http}/v1/tasks
  gRPC      ${server.grpcAddress}  (taskstream.v1.TaskService, taskstream.v1.WorkerService)
  GraphQL   ${http}/graphql   GraphiQL ${http}/graphiql
  Metrics   ${http}/metrics   Health ${http}/healthz  ${http}/readyz

Try:  curl -s -XPOST ${http}/v1/tasks -H 'content-type: application/json' -d '{"type":"echo","payload":{"hello":"world"}}'
Stop: Ctrl-C
`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) process.exit(130);
    stopping = true;
    console.log(`\ntaskstream: ${signal}, stopping (the services keep running; npm run services -- stop)…`);
    void worker
      .stop({ graceMs: 5000 })
      .then(() => server.close())
      .then(async () => void (await telemetry?.shutdown()))
      .then(() => process.exit(0));
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
}
