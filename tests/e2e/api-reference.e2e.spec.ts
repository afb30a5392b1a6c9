import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../cli/server.ts";
import { launchBrowser, type Browser } from "../support/browser.ts";
import { startTestServer } from "../support/server.ts";

const OUTPUT = new URL("../output/api-reference/", import.meta.url);

/**
 * The REST reference at /docs in headless Chromium, with every request to another origin refused:
 * it renders every operation of /openapi.json from the server alone, under its CSP, and a screenshot
 * is saved (tests/output/api-reference/).
 */
describe("the REST API reference in a real browser", () => {
  let server: RunningServer;
  let browser: Browser;

  beforeAll(async () => {
    server = await startTestServer({ roles: new Set(["api"]) }, "api-docs");
    browser = await launchBrowser({ width: 1280, height: 800 });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it("renders every operation without reaching anything but the server", async () => {
    const elsewhere: string[] = [];
    const problems: string[] = [];
    await browser.context.route("**/*", (route) => {
      const url = route.request().url();
      if (url.startsWith(server.httpUrl)) return route.continue();
      elsewhere.push(url);
      return route.abort();
    });
    const page = await browser.context.newPage();
    page.on("console", (message) => void (message.type() === "error" && problems.push(message.text())));
    page.on("pageerror", (error) => problems.push(error.message));
    await page.goto(`${server.httpUrl}/docs/`);

    const doc = (await (await fetch(`${server.httpUrl}/openapi.json`)).json()) as {
      paths: Record<string, object>;
    };
    const operations = Object.values(doc.paths).reduce((n, ops) => n + Object.keys(ops).length, 0);
    await page.waitForFunction(`document.querySelectorAll(".opblock").length === ${operations}`, undefined, {
      timeout: 20_000,
    });
    expect(await page.locator(".opblock-summary-path", { hasText: "/v1/tasks/{id}/cancel" }).count()).toBe(1);
    mkdirSync(OUTPUT, { recursive: true });
    await page.screenshot({ path: fileURLToPath(new URL("docs.png", OUTPUT)), fullPage: true });
    expect(elsewhere).toEqual([]);
    expect(problems).toEqual([]);
  });
});
