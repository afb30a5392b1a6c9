import { TaskstreamError } from "../domain/task/index.ts";
import { startTelemetry } from "../observability/telemetry.ts";

/** The verbs that run roles, and so are traced when OpenTelemetry is configured. */
const TRACED_VERBS = new Set(["serve", "dev"]);

/** The `taskstream` program: one binary, a verb per role or operator action. */
const VERBS: Record<string, { summary: string; run: (argv: string[]) => Promise<void> }> = {
  serve: {
    summary: "run roles: serve --roles api,dispatcher,projector,read-api",
    run: async (a) => (await import("./verbs/serve.ts")).serve(a),
  },
  dev: {
    summary: "local services + every role + a demo worker (echo, sleep, fail)",
    run: async (a) => (await import("./verbs/dev.ts")).dev(a),
  },
  migrate: {
    summary: "apply the PostgreSQL migrations",
    run: async (a) => (await import("./verbs/migrate.ts")).migrateVerb(a),
  },
  submit: {
    summary: "submit TYPE [--payload JSON] [--priority N] [--key IDEMPOTENCY_KEY] [--run-at RFC3339]",
    run: async (a) => (await import("./verbs/operator.ts")).submit(a),
  },
  get: {
    summary: "get ID: a task's current state",
    run: async (a) => (await import("./verbs/operator.ts")).get(a),
  },
  cancel: {
    summary: "cancel ID [--reason TEXT]",
    run: async (a) => (await import("./verbs/operator.ts")).cancel(a),
  },
  list: {
    summary: "list [--state S] [--type T] [--first N]: tasks from the read model",
    run: async (a) => (await import("./verbs/operator.ts")).list(a),
  },
  replay: {
    summary: "replay ID: every event of a task from the log, with the state after each",
    run: async (a) => (await import("./verbs/audit.ts")).replay(a),
  },
  verify: {
    summary: "verify [--limit N]: prove the read model equals the fold of the log",
    run: async (a) => (await import("./verbs/audit.ts")).verify(a),
  },
  projections: {
    summary:
      "projections rebuild [--restart] [--discard] [--json] [--no-verify] [--keep-old]: refill the read model from the archive and the log, then swap it in",
    run: async (a) => (await import("./verbs/projections.ts")).projectionsVerb(a),
  },
};

function help(): void {
  console.log("usage: taskstream <verb> [flags]\n");
  for (const [name, verb] of Object.entries(VERBS)) console.log(`  ${name.padEnd(11)} ${verb.summary}`);
  console.log(
    "\nConfiguration: flags (--redis-url, --pg-url, --etcd-endpoints, --http-port, --grpc-port, …) or TASKSTREAM_* variables." +
      "\nLogs: --log-level fatal|error|warn|info|debug|trace|silent (info), --log-format pretty|json (dev: pretty, serve: json)." +
      "\nTracing: the standard OTEL_* variables (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER, …).",
  );
}

const [verb, ...argv] = process.argv.slice(2);
const command = verb ? VERBS[verb] : undefined;
if (!command) {
  help();
  process.exitCode = verb && verb !== "help" && verb !== "--help" ? 2 : 0;
} else {
  // OpenTelemetry first, when configured: the modules it instruments must be imported after it.
  const telemetry = TRACED_VERBS.has(verb!) ? startTelemetry() : Promise.resolve(null);
  telemetry
    .then(() => command.run(argv))
    .catch((error: unknown) => {
      const message =
        error instanceof TaskstreamError ||
        (error instanceof Error && error.name === "TypeError" && "code" in error)
          ? error.message
          : error instanceof Error
            ? (error.stack ?? error.message)
            : String(error);
      console.error(`taskstream ${verb}: ${message}`);
      process.exit(1);
    });
}
