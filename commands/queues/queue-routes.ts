import type { FastifyInstance } from "fastify";
import type { LimitsServiceServer, QueueLimits } from "../../proto/gen/taskstream/v1/limits.ts";
import { authenticatedUnary, type GrpcAuthenticate } from "../grpc/unary.ts";
import { requireEveryNamespace, requireScope, type Scope } from "../../auth/principal.ts";
import {
  concurrencySchema,
  settingsSchema,
  type QueueSettings,
  type QueueSettingsStore,
} from "../../queues/queue-settings.ts";
import { documented } from "../http/openapi/route-docs.ts";
import { concurrencyLimit, queueListing, queueSettings, refusals } from "../http/openapi/responses.ts";

const typeParams = { type: "object", properties: { type: { type: "string" } }, required: ["type"] } as const;
const keyParams = { type: "object", properties: { key: { type: "string" } }, required: ["key"] } as const;
const tags = ["queues"];

/**
 * REST for run-time limits: `GET /v1/queues`, `PUT /v1/queues/:type` {ratePerSecond, burst,
 * maxBacklog, retry}, `PUT /v1/concurrency-limits/:key` {maxRunning}.
 */
export function queueRoutes(settings: QueueSettingsStore) {
  return async function routes(app: FastifyInstance): Promise<void> {
    // Queue settings are the cluster's, over every namespace: only keys for every one see or set them.
    app.addHook("preHandler", async (request) => requireEveryNamespace(request.principal, "queue settings"));
    app.get(
      "/v1/queues",
      documented(
        {
          summary: "Every queue's settings and every concurrency limit",
          tags,
          responses: { 200: { description: "the settings", schema: queueListing } },
        },
        undefined,
        { scope: "read" },
      ),
      async () => {
        await settings.refresh(true);
        return { queues: settings.listQueues(), concurrencyLimits: settings.listConcurrency() };
      },
    );
    app.put<{ Params: { type: string } }>(
      "/v1/queues/:type",
      documented(
        {
          summary: "Set a queue's rate limit, admission limit and retry defaults",
          tags,
          body: settingsSchema,
          responses: { 200: { description: "the queue's settings now", schema: queueSettings }, ...refusals },
        },
        typeParams,
        { scope: "admin" },
      ),
      async (request) => settings.setQueue(request.params.type, request.body),
    );
    app.put<{ Params: { key: string } }>(
      "/v1/concurrency-limits/:key",
      documented(
        {
          summary: "Set how many tasks sharing a concurrency key may run at once",
          tags,
          body: concurrencySchema,
          responses: { 200: { description: "the limit now", schema: concurrencyLimit }, ...refusals },
        },
        keyParams,
        { scope: "admin" },
      ),
      async (request) => settings.setConcurrencyLimit(request.params.key, request.body),
    );
  };
}

/** gRPC LimitsService over the same settings store. */
export function limitsService(
  settings: QueueSettingsStore,
  authenticate: GrpcAuthenticate,
): LimitsServiceServer {
  const authenticated = authenticatedUnary(authenticate);
  /** A handler of the request alone, for callers holding `scope`. */
  const unary = <Req, Res>(scope: Scope, handler: (request: Req) => Promise<Res>) =>
    authenticated<Req, Res>(async (call, principal) => {
      requireScope(principal, scope);
      requireEveryNamespace(principal, "queue settings");
      return handler(call.request);
    });
  const message = (q: QueueSettings): QueueLimits => ({
    type: q.type,
    ratePerSecond: q.ratePerSecond,
    burst: q.burst,
    maxBacklog: q.maxBacklog,
  });
  return {
    setQueueLimits: unary("admin", async (request: QueueLimits) =>
      message(
        await settings.setQueue(request.type, {
          ratePerSecond: request.ratePerSecond,
          burst: request.burst,
          maxBacklog: request.maxBacklog,
        }),
      ),
    ),
    listQueueLimits: unary("read", async () => {
      await settings.refresh(true);
      return { limits: settings.listQueues().map(message), concurrency: settings.listConcurrency() };
    }),
    setConcurrencyLimit: unary("admin", async (request: { key: string; maxRunning: number }) =>
      settings.setConcurrencyLimit(request.key, { maxRunning: request.maxRunning }),
    ),
  };
}
