import type { FastifyInstance } from "fastify";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import { jsonSchema, type RouteDocs } from "./route-docs.ts";
import { OPERATIONAL_ROUTES } from "./operational.ts";
import { errorBody } from "./responses.ts";

/** Where the rendered reference is served (Swagger UI, bundled: nothing is loaded from elsewhere). */
export const API_REFERENCE_PATH = "/docs";
/** Routes that serve pages and their assets, not API: left out of the document. */
export const UNDOCUMENTED_ROUTES = [/^\/(ui|docs)([/*]|$)/, /^\/graphiql/, /^\/openapi\.json$/];

const NO_JSON = {
  415: { description: "no JSON content type, from a page of another origin", schema: errorBody },
};

/**
 * The OpenAPI 3.1 document of the REST API at `/openapi.json`, and its reference at `/docs`
 * (docs/apis.md). It is collected from the routes as they are registered, so a route cannot exist
 * without appearing in it; each route's request schemas are the zod schemas that validate it,
 * converted to JSON Schema (commands/http/openapi/route-docs.ts). Call before any route is added.
 */
export async function registerOpenApi(app: FastifyInstance, version: string): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "Taskstream HTTP API",
        version,
        description:
          "Submit and steer tasks, queues and schedules over REST. Errors answer " +
          "`{error: {code, message, fields?}}`; state-changing requests need `Content-Type: application/json`. " +
          "Queries and live subscriptions are in the GraphQL API at `/graphql`; the same commands over gRPC " +
          "are listed by server reflection.",
      },
      tags: [
        { name: "tasks", description: "Submit, read, cancel and retry tasks" },
        { name: "schedules", description: "Recurring schedules" },
        { name: "queues", description: "Run-time limits" },
        { name: "operations", description: "Health, readiness, metrics and the GraphQL endpoint" },
      ],
      components: {
        securitySchemes: { apiKey: { type: "http", scheme: "bearer", description: "an API key" } },
      },
      // An API key where the server requires one (TASKSTREAM_AUTH), none in development mode.
      security: [{ apiKey: [] }, {}],
    },
    transform: ({ schema, url, route }) => {
      if (UNDOCUMENTED_ROUTES.some((pattern) => pattern.test(url))) return { schema: { hide: true }, url };
      const { config, method } = route;
      const docs = config?.openapi ?? OPERATIONAL_ROUTES[`${String(method)} ${url}`];
      const changes = !["GET", "HEAD"].includes(String(method));
      return { schema: docs ? { ...schema, ...fastifySchema(docs, changes) } : schema, url };
    },
  });
  app.get("/openapi.json", { schema: { hide: true } }, () => app.swagger());
  await app.register(swaggerUi, {
    routePrefix: API_REFERENCE_PATH,
    // Only this server: no fonts, styles or validator badge from elsewhere (style attributes are Swagger UI's).
    staticCSP:
      "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
      "font-src 'self' data:; object-src 'none'; base-uri 'self'; frame-ancestors 'self'",
    uiConfig: { validatorUrl: null, deepLinking: true, defaultModelsExpandDepth: 0 },
  });
}

/** A route's docs as the schema keys @fastify/swagger reads (only for the document: see `documented`). */
function fastifySchema(docs: RouteDocs, changesState: boolean): Record<string, unknown> {
  // Every state-changing route refuses a request without a JSON content type (commands/http/security.ts).
  const all: RouteDocs["responses"] = changesState ? { ...docs.responses, ...NO_JSON } : docs.responses;
  const responses = Object.fromEntries(
    Object.entries(all).map(([status, { description, schema, contentType }]) => [
      status,
      contentType
        ? { description, content: { [contentType]: { schema: schema ? jsonSchema(schema, "output") : {} } } }
        : schema
          ? { description, ...jsonSchema(schema, "output") }
          : { description, type: "null" },
    ]),
  );
  return {
    summary: docs.summary,
    ...(docs.description ? { description: docs.description } : {}),
    tags: docs.tags,
    ...(docs.body ? { body: jsonSchema(docs.body, "input") } : {}),
    ...(docs.querystring ? { querystring: jsonSchema(docs.querystring, "input") } : {}),
    response: responses,
  };
}
