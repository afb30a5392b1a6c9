import { readdir, readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isTerminal } from "../domain/task/index.ts";
import { NonRetryableError, TaskstreamClient, Worker } from "../sdk/typescript/src/index.ts";
import { startTestServer } from "../tests/support/server.ts";
import { atSweep, logState } from "../tests/support/signals.ts";
import { testServices } from "../tests/support/services.ts";
import { migrateUrl } from "../cli/verbs/migrate.ts";
import type { RunningServer } from "../cli/server.ts";
import { dashboardExpressions, exportedNames, ruleExpressions } from "./promql-names.ts";

const GRAFANA = new URL("./grafana/", import.meta.url);
const RULES = new URL("./prometheus/taskstream.rules.yaml", import.meta.url);
/** Series Prometheus makes itself for every target. */
const PROMETHEUS_SERIES = new Set(["up", "scrape_duration_seconds", "scrape_samples_scraped"]);

/**
 * Every metric the dashboards and alert rules name must be one a running Taskstream exports:
 * all roles in one process, with tasks run through a real worker so that most series have samples.
 */
describe("dashboards and alert rules name only exported metrics", () => {
  let server: RunningServer;
  let worker: Worker;
  let client: TaskstreamClient;
  let page = "";

  beforeAll(async () => {
    await migrateUrl(testServices.pgUrl);
    server = await startTestServer({}, "metricnames");
    worker = new Worker({
      addresses: [server.grpcAddress],
      slots: 4,
      handlers: {
        echo: async (payload) => payload,
        reject: async () => {
          throw new NonRetryableError("refused");
        },
      },
    });
    await worker.start();
    client = new TaskstreamClient({ address: server.grpcAddress });
    const ids = [];
    for (const type of ["echo", "echo", "reject"]) ids.push((await client.submit({ type })).id);
    // A task no worker runs (due backlog, unroutable) and one not due yet (delayed backlog).
    await client.submit({ type: "nobody-runs-this" });
    await client.submit({ type: "echo", delayMs: 3_600_000 });
    for (const id of ids) await logState(server.store, id, isTerminal);
    // The leader's gauges are set at each sweep, once a second.
    page = await atSweep(server.dispatcher!, async () => {
      const text = (await server.http.inject({ method: "GET", url: "/metrics" })).body;
      return /taskstream_queue_backlog\{type="nobody-runs-this",state="due"\} 1/.test(text)
        ? text
        : undefined;
    });
  });

  afterAll(async () => {
    client?.close();
    await worker?.stop({ graceMs: 100, flushMs: 500 });
    await server?.close();
  });

  it("has samples of the new operational series after real work", () => {
    for (const sample of [
      /^taskstream_dispatcher_leader 1$/m,
      /^taskstream_dispatcher_epoch [1-9]\d*$/m,
      /^taskstream_workers_connected 1$/m,
      /^taskstream_worker_slots 4$/m,
      /^taskstream_queue_workers\{type="echo"\} 1$/m,
      /^taskstream_queue_backlog\{type="echo",state="delayed"\} 1$/m,
      /^taskstream_tasks_succeeded_total\{type="echo"\} 2$/m,
      /^taskstream_tasks_dead_lettered_total\{type="reject",reason="[A-Z_]+"\} 1$/m,
      /^taskstream_task_attempt_seconds_count\{type="echo",outcome="succeeded"\} 2$/m,
      /^taskstream_schedule_to_start_seconds_count\{type="echo"\} 2$/m,
      /^taskstream_readiness_check_up\{check="redis"\} 1$/m,
      /^taskstream_readiness_check_up\{check="postgres"\} 1$/m,
      /^taskstream_projection_backlog_age_seconds\{projector="tasks"\} \d/m,
    ])
      expect(page).toMatch(sample);
  });

  it("finds every metric of every dashboard panel and variable", async () => {
    const exported = exportedNames(page);
    const files = (await readdir(GRAFANA)).filter((file) => file.endsWith(".json"));
    expect(files.length).toBeGreaterThanOrEqual(2);
    const missing: string[] = [];
    let checked = 0;
    for (const file of files) {
      const dashboard: unknown = JSON.parse(await readFile(new URL(file, GRAFANA), "utf8"));
      for (const { where, names } of dashboardExpressions(dashboard)) {
        expect(names, `${file}: ${where} names no metric`).not.toEqual([]);
        checked += names.length;
        for (const name of names)
          if (!exported.has(name) && !PROMETHEUS_SERIES.has(name)) missing.push(`${file}: ${where}: ${name}`);
      }
    }
    expect(checked).toBeGreaterThan(40);
    expect(missing).toEqual([]);
  });

  it("finds every metric of every alert and recording rule", async () => {
    const exported = exportedNames(page);
    const { expressions, recorded } = await ruleExpressions(RULES.pathname);
    expect(expressions.length).toBeGreaterThan(10);
    const missing = expressions.flatMap(({ where, names }) =>
      names
        .filter((name) => !exported.has(name) && !recorded.has(name) && !PROMETHEUS_SERIES.has(name))
        .map((name) => `${where}: ${name}`),
    );
    expect(missing).toEqual([]);
  });
});
