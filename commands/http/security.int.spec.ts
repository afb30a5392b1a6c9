import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startTestServer } from "../../tests/support/server.ts";
import type { RunningServer } from "../../cli/server.ts";

/** Cross-site requests, CORS, WebSocket origins, and one error shape for every refusal. */
describe("HTTP security", () => {
  let server: RunningServer;
  let devServer: RunningServer;

  beforeAll(async () => {
    server = await startTestServer(
      { roles: new Set(["api", "read-api"]), corsOrigins: ["https://console.example.com"] },
      "httpsec",
    );
    devServer = await startTestServer(
      { roles: new Set(["api", "read-api"]), allowLoopbackOrigins: true },
      "httpdev",
    );
  });
  afterAll(async () => {
    await server.close();
    await devServer.close();
  });

  const submit = async () =>
    (
      await server.http.inject({
        method: "POST",
        url: "/v1/tasks",
        payload: { type: "t" },
        headers: { "content-type": "application/json" },
      })
    ).json<{ id: string }>().id;

  it("refuses a bodyless cross-site cancel (no preflight) with 415, and changes nothing", async () => {
    const id = await submit();
    const forged = await server.http.inject({
      method: "POST",
      url: `/v1/tasks/${id}/cancel`,
      headers: { origin: "https://evil.example", "content-type": "text/plain" },
    });
    expect(forged.statusCode).toBe(415);
    expect(forged.json()).toEqual({
      error: {
        code: "UNSUPPORTED_MEDIA_TYPE",
        message: expect.stringMatching(/application\/json/) as string,
      },
    });
    const bare = await server.http.inject({ method: "POST", url: `/v1/tasks/${id}/cancel` });
    expect(bare.statusCode).toBe(415);
    const task = await server.http.inject({ method: "GET", url: `/v1/tasks/${id}` });
    expect(task.json<{ state: string }>().state).toBe("QUEUED");
    // With a JSON content type (which a page cannot send cross-site without a preflight), an empty body is fine.
    const cancel = await server.http.inject({
      method: "POST",
      url: `/v1/tasks/${id}/cancel`,
      headers: { "content-type": "application/json" },
    });
    expect(cancel.statusCode).toBe(200);
    expect(cancel.json<{ state: string }>().state).toBe("CANCELLED");
  });

  it("answers CORS preflights only for configured origins", async () => {
    const preflight = (origin: string) =>
      server.http.inject({
        method: "OPTIONS",
        url: "/v1/tasks",
        headers: {
          origin,
          "access-control-request-method": "POST",
          "access-control-request-headers": "content-type",
        },
      });
    const allowed = await preflight("https://console.example.com");
    expect(allowed.statusCode).toBe(204);
    expect(allowed.headers["access-control-allow-origin"]).toBe("https://console.example.com");
    const other = await preflight("https://evil.example");
    expect(other.statusCode).toBeLessThan(500);
    expect(other.headers["access-control-allow-origin"]).toBeUndefined();
    const loopback = await preflight("http://localhost:3000");
    expect(loopback.headers["access-control-allow-origin"]).toBeUndefined();
    const dev = await devServer.http.inject({
      method: "OPTIONS",
      url: "/v1/tasks",
      headers: { origin: "http://localhost:3000", "access-control-request-method": "POST" },
    });
    expect(dev.headers["access-control-allow-origin"]).toBe("http://localhost:3000");
  });

  it("opens GraphQL WebSockets only for the server's own pages, configured origins and non-browser clients", async () => {
    const url = server.httpUrl.replace("http", "ws") + "/graphql";
    const open = (headers: Record<string, string>) =>
      new Promise<number | "open">((resolve) => {
        const socket = new WebSocket(url, "graphql-transport-ws", { headers });
        socket.on("open", () => {
          socket.close();
          resolve("open");
        });
        socket.on("unexpected-response", (_request, response) => resolve(response.statusCode ?? 0));
        socket.on("error", () => resolve(0));
      });
    expect(await open({ origin: "https://evil.example" })).toBe(403);
    expect(await open({ origin: "https://console.example.com" })).toBe("open");
    expect(await open({ origin: server.httpUrl })).toBe("open");
    expect(await open({})).toBe("open");
  });

  it("answers unknown routes, wrong methods and bad media types in the one error shape", async () => {
    const missing = await server.http.inject({ method: "GET", url: "/v2/nothing" });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toEqual({ error: { code: "NOT_FOUND", message: "no route GET /v2/nothing" } });
    const media = await server.http.inject({
      method: "POST",
      url: "/v1/tasks",
      payload: "<task/>",
      headers: { "content-type": "application/xml", origin: "https://console.example.com" },
    });
    expect(media.statusCode).toBe(415);
    expect(media.json<{ error: { code: string } }>().error.code).toBe("UNSUPPORTED_MEDIA_TYPE");
    const longId = await server.http.inject({ method: "GET", url: `/v1/tasks/${"x".repeat(5000)}` });
    expect(longId.statusCode).toBe(414);
    const body = longId.json<{ error: { code: string; message: string } }>();
    expect(body.error.code).toBe("URI_TOO_LONG");
    expect(body.error.message.length).toBeLessThan(400);
  });
});
