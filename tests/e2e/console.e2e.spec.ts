import { mkdirSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import type { Page } from "playwright-core";
import { migrateUrl } from "../../cli/verbs/migrate.ts";
import { startDemoWorker } from "../../cli/demo-worker.ts";
import type { RunningServer } from "../../cli/server.ts";
import type { Worker } from "../../sdk/typescript/src/index.ts";
import { launchBrowser, type Browser } from "../support/browser.ts";
import { eventually, startTestServer } from "../support/server.ts";
import { testServices, uniquePrefix } from "../support/services.ts";

const OUTPUT = new URL("../output/console/", import.meta.url);
/** Evaluates an expression in the page (a string: these tests are typed for Node, not the DOM). */
const js = <T = unknown>(page: Page, expression: string): Promise<T> => page.evaluate<T>(expression);

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 375, height: 812 };

/**
 * The web console in headless Chromium against a whole Taskstream (every role, the demo worker) on
 * a PostgreSQL schema of its own: live updates without a reload, the audit replay, retrying a dead
 * letter, search, editing a queue, creating a schedule, the keyboard, and screenshots of every page
 * at 1280×800 and 375×812 (tests/output/console/).
 */
describe("the web console in a real browser", () => {
  const schema = uniquePrefix("console")
    .toLowerCase()
    .replace(/[^a-z0-9]/g, "_");
  const admin = new pg.Pool({ connectionString: testServices.pgUrl, max: 1 });
  let server: RunningServer;
  let worker: Worker;
  let desktop: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  const ui = (path: string) => `${server.httpUrl}/ui${path}`;
  const rest = async <T>(path: string, body?: unknown): Promise<T> => {
    const reply = await fetch(server.httpUrl + path, {
      method: body === undefined ? "GET" : "POST",
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    expect(reply.status, `${path}: ${reply.status}`).toBeLessThan(300);
    return (await reply.json()) as T;
  };
  const graphql = async <T>(query: string): Promise<T> =>
    (await rest<{ data: T }>("/graphql", { query })).data;
  const stateOf = async (id: string) => (await rest<{ state: string }>(`/v1/tasks/${id}`)).state;

  beforeAll(async () => {
    await admin.query(`create schema ${schema}`);
    const pgUrl = `${testServices.pgUrl}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
    await migrateUrl(pgUrl);
    server = await startTestServer({ pgUrl, allowLoopbackOrigins: false }, "console");
    await eventually(() => (server.dispatcher!.leading ? true : undefined), 20_000, "leadership");
    worker = startDemoWorker(server.grpcAddress, 10);
    await worker.start();
    await eventually(
      async () =>
        (await graphql<{ workers: unknown[] }>("{ workers { id } }")).workers.length > 0 ? true : undefined,
      10_000,
      "the demo worker",
    );
    desktop = await launchBrowser(DESKTOP);
    page = desktop.context.pages()[0] ?? (await desktop.context.newPage());
    page.on("pageerror", (error) => pageErrors.push(error.message));
    mkdirSync(OUTPUT, { recursive: true });
  });
  afterAll(async () => {
    await desktop?.close();
    await worker?.stop({ graceMs: 2000 });
    await server?.close();
    await admin.query(`drop schema if exists ${schema} cascade`);
    await admin.end();
  });

  it("shows a task moving from QUEUED to SUCCEEDED without a reload, then replays its history", async () => {
    const { id } = await rest<{ id: string }>("/v1/tasks", {
      type: "echo",
      payload: { hello: "console" },
      delayMs: 1500,
    });
    await page.goto(ui(`/tasks/${id}`));
    const badge = page.locator(".heading .badge");
    await badge.filter({ hasText: "QUEUED" }).waitFor({ timeout: 5000 });
    // A mark on the window survives only if the page is never reloaded.
    await js(page, "window.consoleMark = 42");
    await badge.filter({ hasText: "SUCCEEDED" }).waitFor({ timeout: 20_000 });
    expect(await js(page, "window.consoleMark")).toBe(42);
    expect(await stateOf(id)).toBe("SUCCEEDED");
    await page.locator('pre[aria-label="Result"]', { hasText: '"hello": "console"' }).waitFor();

    // The audit replay: the timeline fills in live; step back one event at a time.
    await page.locator(".timeline li").nth(3).waitFor();
    expect(await page.locator(".timeline li").count()).toBe(4);
    await page.getByRole("button", { name: "← Previous event" }).click();
    await page.getByText("event 3 of 4").waitFor();
    await page
      .locator('pre[aria-label="The task after event 3"]', { hasText: '"state": "RUNNING"' })
      .waitFor();
    await page.getByRole("button", { name: "← Previous event" }).click();
    await page
      .locator('pre[aria-label="The task after event 2"]', { hasText: '"state": "ASSIGNED"' })
      .waitFor();
  });

  it("retries a dead letter from the dead letters page", async () => {
    const { id } = await rest<{ id: string }>("/v1/tasks", {
      type: "fail",
      // Its only attempt fails; the attempt the retry gives it succeeds.
      payload: { times: 1 },
      retry: { maxAttempts: 1 },
    });
    await eventually(
      async () => ((await stateOf(id)) === "DEAD_LETTERED" ? true : undefined),
      15_000,
      "dead letter",
    );
    await page.goto(ui("/dead-letters"));
    const row = page.locator(`tr[data-task-id="${id}"]`);
    await row.waitFor();
    await row.getByRole("checkbox").check();
    await page.getByRole("button", { name: "Retry selected (1)" }).click();
    await page.getByRole("status").filter({ hasText: "1 retried" }).waitFor();
    await row.waitFor({ state: "detached" });
    await eventually(async () => ((await stateOf(id)) === "SUCCEEDED" ? true : undefined), 15_000, "success");
    const history = await rest<{ events: { type: string }[] }>(`/v1/tasks/${id}/history`);
    expect(history.events.map((e) => e.type)).toContain("TaskRevived");
    // It does not come back to the page.
    await page.reload();
    await page.getByText("No dead letters.").waitFor();
  });

  it("finds a task by its idempotency key and by its id", async () => {
    const { id } = await rest<{ id: string }>("/v1/tasks", {
      type: "echo",
      payload: 1,
      idempotencyKey: "console-order-42",
    });
    await eventually(async () => ((await stateOf(id)) === "SUCCEEDED" ? true : undefined), 15_000, "success");
    await page.goto(ui("/tasks"));
    const search = page.getByLabel("Id or idempotency key");
    await search.fill("console-order-42");
    await search.press("Enter");
    await page.waitForURL(/key=console-order-42/);
    await page.locator(`tr[data-task-id="${id}"]`).waitFor();
    await eventually(
      async () => ((await page.locator("tbody tr").count()) === 1 ? true : undefined),
      5000,
      "one row",
    );
    await search.fill(id);
    await search.press("Enter");
    await page.waitForURL(ui(`/tasks/${id}`));
    await page.locator("h1 .id", { hasText: id }).waitFor();
  });

  it("changes a queue's rate limit and creates a schedule, with errors shown for bad input", async () => {
    await page.goto(ui("/queues"));
    await page.getByRole("button", { name: "Edit limits of echo" }).click();
    await page.getByLabel("Dispatches per second (0: unlimited)").fill("25");
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByRole("cell", { name: "25/s" }).waitFor();
    const { queue } = await graphql<{ queue: { ratePerSecond: number; burst: number } }>(`
      {
        queue(type: "echo") {
          ratePerSecond
          burst
        }
      }
    `);
    // The burst was left alone: the server sizes it from the rate.
    expect(queue).toEqual({ ratePerSecond: 25, burst: 25 });
    await page.getByLabel("Concurrency key").fill("tenant-7");
    await page.getByLabel("At most running (0 removes)").fill("3");
    await page.getByRole("button", { name: "Set limit" }).click();
    await page.getByText("at most 3 running").waitFor();
    const { concurrencyLimits } = await graphql<{ concurrencyLimits: unknown[] }>(
      "{ concurrencyLimits { key maxRunning } }",
    );
    expect(concurrencyLimits).toEqual([{ key: "tenant-7", maxRunning: 3 }]);

    await page.goto(ui("/schedules"));
    await page.getByLabel("Cron (5 or 6 fields)").fill("not a cron");
    await page.getByRole("button", { name: "Create" }).click();
    await page.getByRole("alert").filter({ hasText: "cron" }).waitFor();
    await page.getByLabel("Cron (5 or 6 fields)").fill("0 9 * * *");
    await page.getByRole("button", { name: "Create" }).click();
    const card = page.locator(".card", { hasText: "0 9 * * *" });
    await card.waitFor();
    await card.getByText(/^Next: .+/).waitFor();
    await card.getByRole("button", { name: "Pause" }).click();
    await card.getByRole("button", { name: "Resume" }).waitFor();
  });

  it("is usable from the keyboard: skip link, then the content", async () => {
    await page.goto(ui("/"));
    await page.keyboard.press("Tab");
    expect(await js(page, "document.activeElement?.textContent")).toBe("Skip to content");
    await page.keyboard.press("Enter");
    expect(await js(page, "document.activeElement?.id")).toBe("main");
    // Navigation links are reachable with Tab and followed with Enter.
    await page.goto(ui("/"));
    for (let i = 0; i < 10; i++) {
      await page.keyboard.press("Tab");
      if ((await js(page, "document.activeElement?.textContent")) === "Workers") break;
    }
    await page.keyboard.press("Enter");
    await page.waitForURL(ui("/workers"));
    await page.getByText("demo-worker").first().waitFor();
  });

  it("renders every page at 1280×800 and on a phone, without sideways scrolling, and saves screenshots", async () => {
    const { id } = await rest<{ id: string }>("/v1/tasks", { type: "echo", payload: { shot: true } });
    await eventually(async () => ((await stateOf(id)) === "SUCCEEDED" ? true : undefined), 15_000, "success");
    await graphql(`
      mutation {
        createSchedule(input: { cron: "*/15 * * * *", task: { type: "echo" } }) {
          id
        }
      }
    `);
    const pages: [name: string, path: string, ready: string][] = [
      ["overview", "/", ".chart"],
      ["tasks", "/tasks", "tbody tr"],
      ["task", `/tasks/${id}`, ".timeline li"],
      ["dead-letters", "/dead-letters", "h1"],
      ["workers", "/workers", ".cards .card"],
      ["queues", "/queues", "tbody tr"],
      ["schedules", "/schedules", ".cards .card"],
    ];
    const phone = await launchBrowser(PHONE, true);
    try {
      const phonePage = phone.context.pages()[0] ?? (await phone.context.newPage());
      phonePage.on("pageerror", (error) => pageErrors.push(error.message));
      for (const [viewport, tab] of [
        ["desktop", page],
        ["phone", phonePage],
      ] as const) {
        for (const [name, path, ready] of pages) {
          await tab.goto(ui(path));
          await tab.locator(ready).first().waitFor();
          await tab.getByText("live", { exact: true }).waitFor();
          const overflow = await js<number>(tab, "document.documentElement.scrollWidth - window.innerWidth");
          expect(overflow, `${viewport} ${name} scrolls sideways by ${overflow}px`).toBeLessThanOrEqual(0);
          await tab.screenshot({ path: new URL(`${viewport}-${name}.png`, OUTPUT).pathname, fullPage: true });
        }
      }
    } finally {
      await phone.close();
    }
    expect(pageErrors).toEqual([]);
  });
});
