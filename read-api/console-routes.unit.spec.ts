import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Fastify from "fastify";
import { afterAll, describe, expect, it } from "vitest";
import { consoleRoutes } from "./console-routes.ts";

describe("the console's routes", () => {
  const dist = mkdtempSync(join(tmpdir(), "console-dist-"));
  mkdirSync(join(dist, "assets"));
  writeFileSync(join(dist, "index.html"), "<!doctype html><title>console</title>");
  writeFileSync(join(dist, "assets", "index-abc.js"), "console.log(1)");
  afterAll(() => rmSync(dist, { recursive: true, force: true }));

  const app = async (options: { dist: string }) => {
    const server = Fastify();
    await server.register(consoleRoutes, options);
    return server;
  };

  it("serves the page for every console path, assets for good, and a strict policy", async () => {
    const server = await app({ dist });
    const page = await server.inject("/ui/tasks/0190-abc");
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain("<title>console</title>");
    expect(page.headers["cache-control"]).toBe("no-cache");
    expect(page.headers["content-security-policy"]).toMatch(/default-src 'self'/);
    const asset = await server.inject("/ui/assets/index-abc.js");
    expect(asset.headers["content-type"]).toMatch(/^application\/javascript/);
    expect(asset.headers["cache-control"]).toMatch(/immutable/);
    // A stale tab asking for an asset of an older build gets a 404, not the page as a script.
    expect((await server.inject("/ui/assets/index-old.js")).statusCode).toBe(404);
    expect((await server.inject("/ui")).headers.location).toBe("/ui/");
    // Paths outside the build never reach the file system.
    expect((await server.inject("/ui/../package.json")).body).not.toContain("taskstream");
    await server.close();
  });

  it("says how to build the console when there is no build", async () => {
    const server = await app({ dist: join(dist, "missing") });
    const reply = await server.inject("/ui/");
    expect(reply.statusCode).toBe(503);
    expect(reply.body).toMatch(/npm run console:build/);
    await server.close();
  });
});
