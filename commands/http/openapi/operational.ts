import { z } from "zod";
import type { RouteDocs } from "./route-docs.ts";

const tags = ["operations"];
const check = z.object({ name: z.string(), ok: z.boolean(), reason: z.string().optional() }).strict();
const readiness = z.object({ status: z.enum(["ready", "not ready"]), checks: z.array(check) }).strict();
const graphqlAnswer = z
  .object({ data: z.unknown().optional(), errors: z.array(z.record(z.string(), z.unknown())).optional() })
  .meta({ description: "a GraphQL answer; the schema is served by introspection" });
const graphqlRequest = z
  .object({
    query: z.string(),
    variables: z.record(z.string(), z.unknown()).nullish(),
    operationName: z.string().nullish(),
  })
  .meta({ description: "a GraphQL request" });
const graphqlQuery = z.object({
  query: z.string(),
  variables: z.string().optional().meta({ description: "JSON" }),
  operationName: z.string().optional(),
});

/**
 * Routes registered outside the command layer (observability/health.ts, read-api/): documented here,
 * by method and URL, so that the libraries serving them need not know the document.
 */
export const OPERATIONAL_ROUTES: Record<string, RouteDocs> = {
  "GET /healthz": {
    summary: "Liveness: the process answers",
    tags,
    responses: { 200: { description: "alive", schema: z.object({ status: z.literal("ok") }).strict() } },
  },
  "GET /readyz": {
    summary: "Readiness: every dependency of the process's roles answers (the gRPC health service agrees)",
    tags,
    responses: {
      200: { description: "ready", schema: readiness },
      503: { description: "not ready: the failing checks say why", schema: readiness },
    },
  },
  "GET /metrics": {
    summary: "Prometheus metrics",
    tags,
    responses: {
      200: { description: "text exposition format", schema: z.string(), contentType: "text/plain" },
    },
  },
  "POST /graphql": {
    summary: "The GraphQL API: queries and mutations",
    description: "Subscriptions run over WebSocket at the same path (graphql-transport-ws).",
    tags,
    body: graphqlRequest,
    responses: { 200: { description: "the answer", schema: graphqlAnswer } },
  },
  "GET /graphql": {
    summary: "The GraphQL API: queries in the query string",
    tags,
    querystring: graphqlQuery,
    responses: { 200: { description: "the answer", schema: graphqlAnswer } },
  },
};
