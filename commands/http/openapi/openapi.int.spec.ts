import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FastifyInstance, HTTPMethods, LightMyRequestResponse } from "fastify";
import { Validator } from "@seriousme/openapi-schema-validator";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { startTestServer } from "../../../tests/support/server.ts";
import { testServices } from "../../../tests/support/services.ts";
import { migrateUrl } from "../../../cli/verbs/migrate.ts";
import type { RunningServer } from "../../../cli/server.ts";
import { UNDOCUMENTED_ROUTES } from "./plugin.ts";

type Operation = {
  responses: Record<string, { content?: Record<string, { schema: object }> }>;
  requestBody?: { content: Record<string, { schema: object }> };
};
type Document = { openapi: string; paths: Record<string, Record<string, Operation>> };

/** Every route of the server as `METHOD /path/:param`, read from Fastify's route tree. */
function registeredRoutes(app: FastifyInstance): string[] {
  const routes: string[] = [];
  const prefixes: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split("\n")) {
    const match = /^((?:│ {3}| {4})*)(?:├── |└── )(.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!match) continue;
    const depth = (match[1] ?? "").length / 4;
    const path = (prefixes[depth - 1] ?? "") + (match[2] ?? "");
    prefixes[depth] = path;
    for (const method of (match[3] ?? "").split(", ").filter(Boolean)) {
      // Each parsed route must be one Fastify knows, so the parser cannot invent or mangle one (HEAD
      // routes are made from GET ones, OPTIONS * answers CORS preflights; the tree prints some
      // wildcards of the pages' assets oddly).
      if (!["HEAD", "OPTIONS"].includes(method) && !UNDOCUMENTED_ROUTES.some((pattern) => pattern.test(path)))
        expect(app.hasRoute({ method: method, url: path }), `${method} ${path}`).toBe(true);
      routes.push(`${method} ${path}`);
    }
  }
  return routes;
}

describe("the OpenAPI document", () => {
  let server: RunningServer;
  let doc: Document;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats.default(ajv);

  /** Checks an answer against what the document says the route answers with that status. */
  function expectDocumented(method: string, path: string, response: LightMyRequestResponse) {
    const operation = doc.paths[path]?.[method.toLowerCase()];
    expect(operation, `${method} ${path} is documented`).toBeDefined();
    const documented = operation!.responses[String(response.statusCode)];
    expect(documented, `${method} ${path} documents ${response.statusCode}: ${response.body}`).toBeDefined();
    const schema = documented!.content?.["application/json"]?.schema;
    expect(schema, `${method} ${path} ${response.statusCode} has a JSON schema`).toBeDefined();
    const validate = ajv.compile(schema!);
    const body: unknown = response.json();
    expect(
      validate(body),
      `${method} ${path} ${response.statusCode}: ${ajv.errorsText(validate.errors)}`,
    ).toBe(true);
    return body as Record<string, unknown>;
  }
  const call = (method: HTTPMethods, url: string, payload?: object) =>
    server.http.inject({
      method,
      url,
      ...(payload === undefined
        ? method === "GET"
          ? {}
          : { headers: { "content-type": "application/json" } }
        : { payload }),
    });

  beforeAll(async () => {
    await migrateUrl(testServices.pgUrl);
    server = await startTestServer({ graphiql: true }, "openapi");
    const answer = await server.http.inject("/openapi.json");
    expect(answer.statusCode).toBe(200);
    doc = answer.json();
  });
  afterAll(() => server.close());

  it("is a valid OpenAPI 3.1 document", async () => {
    const result = await new Validator().validate(structuredClone(doc));
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(doc.openapi).toBe("3.1.0");
  });

  it("lists every route the server answers, and only those", () => {
    const served = registeredRoutes(server.http);
    expect(served.length).toBeGreaterThan(30);
    const api = served
      .filter((route) => !/^(HEAD|OPTIONS) /.test(route))
      .filter((route) => !UNDOCUMENTED_ROUTES.some((pattern) => pattern.test(route.split(" ")[1]!)))
      .map((route) => route.replace(/:(\w+)/g, "{$1}"))
      .sort();
    const documented = Object.entries(doc.paths)
      .flatMap(([path, operations]) => Object.keys(operations).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    expect(documented).toEqual(api);
    expect(api).toEqual(
      expect.arrayContaining(["POST /v1/tasks", "GET /v1/tasks/{id}", "PUT /v1/queues/{type}"]),
    );
  });

  it("publishes the zod schemas that validate the requests", () => {
    const submit = doc.paths["/v1/tasks"]!.post!.requestBody!.content["application/json"]!.schema as {
      required: string[];
      additionalProperties: boolean;
      properties: Record<string, { minimum?: number; maximum?: number }>;
    };
    expect(submit.required).toEqual(["type"]);
    expect(submit.additionalProperties).toBe(false);
    expect(submit.properties.priority).toMatchObject({ minimum: 0, maximum: 9 });
    const validate = ajv.compile(submit);
    expect(validate({ type: "echo", priority: 9 })).toBe(true);
    expect(validate({ type: "echo", priority: 10 })).toBe(false);
    expect(validate({ type: "echo", colour: "red" })).toBe(false);
  });

  it("describes what the routes really answer", async () => {
    const key = `openapi-${Date.now()}`;
    const first = expectDocumented(
      "POST",
      "/v1/tasks",
      await call("POST", "/v1/tasks", { type: "echo", payload: { n: 1 }, idempotencyKey: key }),
    );
    expectDocumented(
      "POST",
      "/v1/tasks",
      await call("POST", "/v1/tasks", { type: "echo", payload: { n: 1 }, idempotencyKey: key }),
    );
    expectDocumented(
      "POST",
      "/v1/tasks",
      await call("POST", "/v1/tasks", { type: "bad type!", priority: 12 }),
    );
    expectDocumented(
      "POST",
      "/v1/tasks",
      await call("POST", "/v1/tasks", { type: "echo", idempotencyKey: key, priority: 1 }),
    );
    expectDocumented(
      "POST",
      "/v1/tasks/batch",
      await call("POST", "/v1/tasks/batch", { tasks: [{ type: "echo" }] }),
    );
    expectDocumented("POST", "/v1/tasks/batch", await call("POST", "/v1/tasks/batch", { tasks: [] }));
    const id = String(first.id);
    expectDocumented("GET", "/v1/tasks/{id}", await call("GET", `/v1/tasks/${id}`));
    expectDocumented("GET", "/v1/tasks/{id}", await call("GET", "/v1/tasks/no-such-task"));
    expectDocumented("GET", "/v1/tasks/{id}/history", await call("GET", `/v1/tasks/${id}/history`));
    expectDocumented("POST", "/v1/tasks/{id}/retry", await call("POST", `/v1/tasks/${id}/retry`));
    expectDocumented(
      "POST",
      "/v1/tasks/{id}/cancel",
      await call("POST", `/v1/tasks/${id}/cancel`, { reason: 7 }),
    );
    expectDocumented(
      "POST",
      "/v1/tasks/{id}/cancel",
      await call("POST", `/v1/tasks/${id}/cancel`, { reason: "done" }),
    );
    expectDocumented("POST", "/v1/tasks/{id}/cancel", await call("POST", `/v1/tasks/${id}/cancel`));

    expectDocumented("PUT", "/v1/queues/{type}", await call("PUT", "/v1/queues/echo", { ratePerSecond: 50 }));
    expectDocumented("PUT", "/v1/queues/{type}", await call("PUT", "/v1/queues/echo", { ratePerSecond: -1 }));
    expectDocumented(
      "PUT",
      "/v1/concurrency-limits/{key}",
      await call("PUT", "/v1/concurrency-limits/acme", { maxRunning: 2 }),
    );
    expectDocumented("GET", "/v1/queues", await call("GET", "/v1/queues"));

    const created = expectDocumented(
      "POST",
      "/v1/schedules",
      await call("POST", "/v1/schedules", { cron: "*/5 * * * *", task: { type: "echo" } }),
    );
    expectDocumented(
      "POST",
      "/v1/schedules",
      await call("POST", "/v1/schedules", { cron: "nope", task: {} }),
    );
    const sid = String(created.id);
    expectDocumented("GET", "/v1/schedules", await call("GET", "/v1/schedules?status=ACTIVE&limit=10"));
    expectDocumented("GET", "/v1/schedules", await call("GET", "/v1/schedules?limit=0"));
    expectDocumented("GET", "/v1/schedules/{id}", await call("GET", `/v1/schedules/${sid}`));
    expectDocumented("GET", "/v1/schedules/{id}/history", await call("GET", `/v1/schedules/${sid}/history`));
    expectDocumented("POST", "/v1/schedules/{id}/pause", await call("POST", `/v1/schedules/${sid}/pause`));
    expectDocumented("POST", "/v1/schedules/{id}/resume", await call("POST", `/v1/schedules/${sid}/resume`));
    expectDocumented("DELETE", "/v1/schedules/{id}", await call("DELETE", `/v1/schedules/${sid}`));
    expectDocumented("POST", "/v1/schedules/{id}/pause", await call("POST", `/v1/schedules/${sid}/pause`));
    const crossSite = await server.http.inject({ method: "DELETE", url: `/v1/schedules/${sid}` });
    expectDocumented("DELETE", "/v1/schedules/{id}", crossSite);
    expect(crossSite.statusCode).toBe(415);

    expectDocumented("GET", "/healthz", await call("GET", "/healthz"));
    expectDocumented("GET", "/readyz", await call("GET", "/readyz"));
    expectDocumented("POST", "/graphql", await call("POST", "/graphql", { query: "{ __typename }" }));
    expectDocumented("GET", "/graphql", await call("GET", "/graphql?query=%7B__typename%7D"));
  });

  it("serves its reference page from the server alone", async () => {
    const page = await server.http.inject("/docs/");
    expect(page.statusCode).toBe(200);
    expect(page.headers["content-security-policy"]).toMatch(/default-src 'self'/);
    // Every script, stylesheet and image the page loads is the server's own, and it answers.
    const assets = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThan(3);
    for (const asset of assets) {
      expect(asset).not.toMatch(/^(https?:)?\/\//);
      expect((await server.http.inject(new URL(asset, "http://x/docs/").pathname)).statusCode, asset).toBe(
        200,
      );
    }
  });
});
