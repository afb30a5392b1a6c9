import { register } from "node:module";
import type { IncomingMessage } from "node:http";
import { context, propagation, trace, type Span } from "@opentelemetry/api";
import { getRPCMetadata } from "@opentelemetry/core";
import type { FastifyRequest } from "fastify";
import type { SpanProcessor } from "@opentelemetry/sdk-trace";

/** What startTelemetry started; `shutdown` flushes the spans still buffered. */
export interface Telemetry {
  shutdown(): Promise<void>;
}

/**
 * The modules the instrumentations patch; only these go through the ESM loader hook. Packages by
 * the URL they resolve to, which matches whether they are imported by name or by path.
 */
const INSTRUMENTED_MODULES = ["http", "https", /\/node_modules\/(ioredis|pg|pg-pool|@grpc\/grpc-js)\//];

/** Paths scraped and probed all day long: no traces for them. */
const UNTRACED_PATHS = new Set(["/metrics", "/healthz", "/readyz"]);

let started: Telemetry | null = null;
let hooked = false;

/**
 * Whether the standard variables ask for OpenTelemetry: an exporter (OTEL_TRACES_EXPORTER or
 * OTEL_METRICS_EXPORTER other than `none`) or an OTLP endpoint, and not OTEL_SDK_DISABLED=true.
 */
export function telemetryWanted(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === "true") return false;
  const exporter = (name: string | undefined) => name !== undefined && name.trim() !== "none";
  return (
    exporter(env.OTEL_TRACES_EXPORTER) ||
    exporter(env.OTEL_METRICS_EXPORTER) ||
    env.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined ||
    env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT !== undefined
  );
}

/**
 * Starts the OpenTelemetry SDK when the standard variables ask for it (or `spanProcessors` are given,
 * as tests do): the HTTP, gRPC, ioredis and pg instrumentations, W3C propagation, the sampler of
 * sampler.ts; exporters, endpoint, service name (default `taskstream`) and the rest from OTEL_*.
 * Must run before the instrumented modules are imported (cli/main.ts calls it first); returns null,
 * having loaded nothing, when OpenTelemetry is not asked for. Started once per process.
 */
export async function startTelemetry(
  options: { env?: NodeJS.ProcessEnv; spanProcessors?: SpanProcessor[] } = {},
): Promise<Telemetry | null> {
  const env = options.env ?? process.env;
  if (started) return started;
  if (options.spanProcessors === undefined && !telemetryWanted(env)) return null;
  // ES modules are patched through a loader hook, limited to the modules instrumented.
  if (!hooked)
    register("@opentelemetry/instrumentation/hook.mjs", import.meta.url, {
      data: { include: INSTRUMENTED_MODULES },
    });
  hooked = true;
  const [{ NodeSDK }, { HttpInstrumentation }, { GrpcInstrumentation }, ioredis, pg, fastify, sampling] =
    await Promise.all([
      import("@opentelemetry/sdk-node"),
      import("@opentelemetry/instrumentation-http"),
      import("@opentelemetry/instrumentation-grpc"),
      import("@opentelemetry/instrumentation-ioredis"),
      import("@opentelemetry/instrumentation-pg"),
      import("@fastify/otel"),
      import("./sampler.ts"),
    ]);
  const sdk = new NodeSDK({
    serviceName: env.OTEL_SERVICE_NAME ?? "taskstream",
    sampler: new sampling.TaskstreamSampler(sampling.samplerFromEnv(env)),
    ...(options.spanProcessors ? { spanProcessors: options.spanProcessors } : {}),
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (request: IncomingMessage) =>
          UNTRACED_PATHS.has((request.url ?? "").split("?")[0]!),
      }),
      // Fastify's request span (route, status, error) under the HTTP server span, registered on every
      // instance as it is created; it also names the server span by its route (`POST /v1/tasks`).
      // Its per-hook and per-handler spans are off: they time Taskstream's own hooks, not the task.
      new fastify.FastifyOtelInstrumentation({
        registerOnInitialization: true,
        instrumentHooks: false,
        instrumentHandler: false,
        ignorePaths: ({ url }) => UNTRACED_PATHS.has(url),
        requestHook: nameServerSpan,
      }),
      // A worker's stream lives as long as the worker: one span for it would say nothing.
      new GrpcInstrumentation({ ignoreGrpcMethods: ["Connect"] }),
      new ioredis.IORedisInstrumentation({ requireParentSpan: true }),
      new pg.PgInstrumentation({ requireParentSpan: true }),
    ],
  });
  sdk.start();
  started = sdk;
  return sdk;
}

/**
 * Names the request's HTTP server span (the HTTP instrumentation's, found through the context's RPC
 * metadata) by its route, `POST /v1/tasks`, instead of by its method alone; the HTTP instrumentation
 * adds `http.route` from the same metadata when the response ends.
 */
function nameServerSpan(_span: Span, request: FastifyRequest): void {
  const server = getRPCMetadata(context.active())?.span;
  const route = request.routeOptions.url;
  if (server?.isRecording() && route !== undefined) server.updateName(`${request.method} ${route}`);
}

/** Flushes and stops what startTelemetry started (nothing when it started nothing). */
export async function stopTelemetry(): Promise<void> {
  const telemetry = started;
  if (!telemetry) return;
  started = null;
  await telemetry.shutdown();
  trace.disable();
  context.disable();
  propagation.disable();
}
