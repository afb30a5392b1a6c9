import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NonRetryableError, TaskstreamClient, Worker } from "../sdk/typescript/src/index.ts";
import { taskstream } from "../tests/support/cli.ts";
import { eventually, startTestServer } from "../tests/support/server.ts";
import { testServices, uniquePrefix } from "../tests/support/services.ts";
import { logState } from "../tests/support/signals.ts";
import type { RunningServer } from "./server.ts";
import { migrateUrl } from "./verbs/migrate.ts";

/**
 * The verbs that look after the system rather than one task — dead letters, workers, queues,
 * schedules, stats — as processes of their own against a running Taskstream with every role and a
 * real worker.
 */
describe("taskstream dead-letters, workers, queues, schedules and stats", () => {
  let server: RunningServer;
  let worker: Worker;
  let client: TaskstreamClient;
  const name = uniquePrefix("cli-worker");
  /** A task type of this test alone; its handler fails for good until `healed`. */
  const brittle = uniquePrefix("brittle").replace(/[^A-Za-z0-9-]/g, "-");
  let healed = false;
  const run = (...args: string[]) => taskstream([...args, "--url", server.httpUrl]);
  const json = async <T>(...args: string[]): Promise<T> => {
    const result = await run(...args, "--json");
    expect(result, result.stderr).toMatchObject({ code: 0 });
    return JSON.parse(result.stdout) as T;
  };
  const projected = async (id: string) => {
    const last = (await server.store.readTask(id)).at(-1)!;
    await server.readSide!.projector!.waitFor({ [last.partition]: last.streamId });
  };

  beforeAll(async () => {
    await migrateUrl(testServices.pgUrl);
    server = await startTestServer({}, "cli-manage");
    worker = new Worker({
      addresses: [server.grpcAddress],
      name,
      slots: 3,
      labels: { zone: "cli" },
      handlers: {
        [brittle]: async (payload) => {
          if (!healed) throw new NonRetryableError("not yet");
          return payload;
        },
      },
    });
    await worker.start();
    client = new TaskstreamClient({ address: server.grpcAddress });
  });
  afterAll(async () => {
    client?.close();
    await worker?.stop({ graceMs: 100, flushMs: 500 });
    await server?.close();
  });

  it("workers lists the connected worker with its types, labels and slots", async () => {
    // The leader reports its workers once a second.
    await eventually(async () => {
      const response = await fetch(`${server.httpUrl}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: "{ workers { name } }" }),
      });
      const { data } = (await response.json()) as { data: { workers: { name: string }[] } };
      return data.workers.some((w) => w.name === name) ? true : undefined;
    });
    const result = await run("workers");
    expect(result.code).toBe(0);
    const [header, ...rows] = result.stdout.trimEnd().split("\n");
    expect(header).toMatch(/^ID\s+NAME\s+TYPES\s+LABELS\s+BUSY\s+CONNECTED$/);
    const row = rows.find((line) => line.includes(name));
    expect(row).toMatch(new RegExp(`${name}\\s+${brittle}\\s+zone=cli\\s+0/3\\s+yes$`));
    const listed = await json<{ name: string; slots: number }[]>("workers");
    expect(listed.find((w) => w.name === name)).toMatchObject({ slots: 3, connected: true });
  });

  it("dead-letters list shows what failed for good and why; retry revives every match", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await client.submit({ type: brittle, payload: { i } })).id);
    for (const id of ids) await logState(server.store, id, (s) => s.state === "DEAD_LETTERED");
    for (const id of ids) await projected(id);

    const listed = await run("dead-letters", "list", "--type", brittle);
    expect(listed.code).toBe(0);
    const [header, ...rows] = listed.stdout.trimEnd().split("\n");
    expect(header).toMatch(/^ID\s+TYPE\s+PRI\s+ATTEMPTS\s+DEAD SINCE\s+ERROR$/);
    expect(rows.map((row) => row.slice(0, 36))).toEqual([...ids].reverse());
    for (const row of rows) expect(row).toMatch(/NonRetryableError: not yet$/);

    const dry = await json<{ matched: string[] }>("dead-letters", "retry", "--type", brittle, "--dry-run");
    expect(dry.matched).toEqual(ids);
    for (const id of ids) expect((await server.store.readTask(id)).at(-1)?.type).toBe("TaskDeadLettered");

    healed = true;
    const retried = await run("dead-letters", "retry", "--type", brittle, "--max-attempts", "2");
    expect(retried.code, retried.stderr).toBe(0);
    expect(retried.stdout).toBe("retried 3 of 3 dead letters\n");
    expect(retried.stderr).toBe("");
    for (const id of ids) {
      const state = await logState(server.store, id, (s) => s.state === "SUCCEEDED");
      expect(state.result).toEqual({ i: ids.indexOf(id) });
    }
  });

  it("dead-letters retry without a filter or --all exits 2 and retries nothing", async () => {
    const result = await run("dead-letters", "retry");
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /^taskstream dead-letters retry: give a filter \(--type, --since, …\) or --all\n/,
    );
  });

  it("queues set changes a queue's limits and queues get shows them; bad values exit with the field named", async () => {
    const type = uniquePrefix("cli-queue").replace(/[^A-Za-z0-9-]/g, "-");
    const set = await run("queues", "set", type, "--rate", "25", "--burst", "50", "--max-backlog", "1000");
    expect(set).toMatchObject({ code: 0, stdout: `${type}: rate 25/s, burst 50, max backlog 1000\n` });

    const one = await run("queues", "get", type);
    expect(one.code).toBe(0);
    expect(one.stdout.split("\n")).toEqual(
      expect.arrayContaining([
        `type           ${type}`,
        "rate           25/s (burst 50)",
        "max backlog    1000",
      ]),
    );
    const all = await run("queues", "get");
    expect(all.stdout).toMatch(new RegExp(`^${type}\\s+25\\s+50\\s+1000\\s`, "m"));

    const noFlags = await run("queues", "set", type);
    expect(noFlags.code).toBe(2);
    expect(noFlags.stderr).toMatch(/give at least one of --rate/);
    const bad = await run("queues", "set", type, "--retry", '{"maxAttempts":0}');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^taskstream queues set: .*retry\.maxAttempts.* \[400 VALIDATION\]/);
  });

  it("schedules create, list, pause, resume and delete one schedule", async () => {
    interface Schedule {
      id: string;
      status: string;
      cron: string;
      timeZone: string;
      task: unknown;
    }
    const created = await json<Schedule>(
      "schedules",
      "create",
      brittle,
      "--cron",
      "0 9 * * MON-FRI",
      "--tz",
      "Europe/Paris",
      "--payload",
      '{"kind":"daily"}',
    );
    expect(created).toMatchObject({
      status: "ACTIVE",
      cron: "0 9 * * MON-FRI",
      timeZone: "Europe/Paris",
      task: { type: brittle, payload: { kind: "daily" } },
    });
    const { id } = created;
    const listed = await run("schedules", "list");
    expect(listed.stdout).toMatch(
      new RegExp(`^${id}\\s+0 9 \\* \\* MON-FRI\\s+Europe/Paris\\s+${brittle}\\s+ACTIVE\\s`, "m"),
    );

    expect((await run("schedules", "pause", id)).stdout).toBe(`${id} PAUSED\n`);
    const paused = await json<{ schedules: Schedule[] }>("schedules", "list", "--status", "paused");
    expect(paused.schedules.map((s) => s.id)).toContain(id);
    expect((await run("schedules", "resume", id)).stdout).toMatch(
      new RegExp(`^${id} ACTIVE \\(next firing \\S+Z\\)\\n$`),
    );
    expect((await run("schedules", "delete", id)).stdout).toBe(`${id} DELETED\n`);
    const again = await run("schedules", "resume", id);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/\[409 ILLEGAL_STATE\]/);
  });

  it("schedules create refuses a bad cron naming the field, and a missing --cron naming the flag", async () => {
    const bad = await run("schedules", "create", brittle, "--cron", "61 * * * *");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^taskstream schedules create: cron: .* \[400 VALIDATION\]\n$/);
    const missing = await run("schedules", "create", brittle);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^taskstream schedules create: --cron is required\n/);
    const unknown = await run("schedules", "pause", "no-such-schedule");
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe(
      "taskstream schedules pause: schedule no-such-schedule not found [404 NOT_FOUND]\n",
    );
  });

  it("stats prints counts by state and the window's totals; a bad window exits 1 naming it", async () => {
    const result = await run("stats", "--window", "15m", "--type", brittle);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^STATE\s+TASKS\nQUEUED\s+\d+\n/);
    expect(result.stdout).toMatch(/^failure rate\s+\S+/m);
    expect(result.stdout).toMatch(/^dispatcher\s+\d+ unroutable, ready by priority 0-9: (\d+ ){9}\d+$/m);
    const stats = await json<{ byState: { state: string; count: number }[]; totals: { type: string } }>(
      "stats",
    );
    expect(stats.byState.map((s) => s.state)).toEqual([
      "QUEUED",
      "ASSIGNED",
      "RUNNING",
      "SUCCEEDED",
      "DEAD_LETTERED",
      "CANCELLED",
    ]);
    const bad = await run("stats", "--window", "99y");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^taskstream stats: window: .*got "99y"/);
  });
});
