import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TaskCommands } from "../commands/task-commands.ts";
import { compareStreamIds } from "../event-store/stream-ids.ts";
import { taskstream } from "../tests/support/cli.ts";
import { noTrace } from "../tests/support/dispatcher-fixture.ts";
import { startTestServer } from "../tests/support/server.ts";
import { testServices } from "../tests/support/services.ts";
import { createReadModelFixture, type ReadModelFixture } from "../projections/testing/read-model-fixture.ts";
import type { RunningServer } from "./server.ts";

/**
 * The audit verbs (replay, verify) as processes of their own: they read the log in Redis and the
 * read model in PostgreSQL themselves, told where by flags — which beat the variables, here set
 * to point elsewhere.
 */
describe("taskstream audit verbs", () => {
  let readModel: ReadModelFixture;
  let server: RunningServer;
  let commands: TaskCommands;
  /** The read model of this test alone (verify compares every row it holds with the log). */
  let pgUrl = "";
  const run = (verb: string, ...args: string[]) =>
    taskstream(
      [
        verb,
        ...args,
        "--redis-url",
        testServices.redisUrl,
        "--pg-url",
        pgUrl,
        "--prefix",
        server.config.prefix,
        "--partitions",
        String(server.config.partitions),
      ],
      { TASKSTREAM_PREFIX: "nothing-here", TASKSTREAM_PG_URL: "postgres://nobody@127.0.0.1:1/none" },
    );

  /** The ids of every task in this server's log. */
  const tasksInLog = async () => {
    const ids = new Set<string>();
    for (let p = 0; p < server.store.partitions; p++)
      for await (const page of server.store.readAll(p)) for (const event of page) ids.add(event.taskId);
    return ids;
  };
  /** Waits until the projector has folded everything in the log now. */
  const projected = async () => {
    const heads = new Map<number, string>();
    for (let p = 0; p < server.store.partitions; p++)
      for await (const page of server.store.readAll(p)) {
        const last = page.at(-1)!.streamId;
        if (compareStreamIds(last, heads.get(p) ?? "0-0") > 0) heads.set(p, last);
      }
    await server.readSide!.projector!.waitFor(heads);
  };

  beforeAll(async () => {
    readModel = await createReadModelFixture("cli-audit");
    pgUrl = `${testServices.pgUrl}?options=${encodeURIComponent(`-c search_path=${readModel.schema}`)}`;
    server = await startTestServer({ roles: new Set(["api", "projector"]), prefix: readModel.prefix, pgUrl });
    commands = new TaskCommands(server.store, { maxPayloadBytes: 1 << 20 });
    for (let i = 0; i < 3; i++) await commands.submit({ type: "audited", payload: i }, noTrace);
  });
  afterAll(async () => {
    await server?.close();
    await readModel?.close();
  });

  it("replay prints each event of a task with the state it leads to, as a table or --json", async () => {
    const { id } = await commands.submit({ type: "replayed", payload: { x: 1 } }, noTrace);
    await commands.cancel(id, "replay me");

    const result = await run("replay", id);

    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^V\s+AT\s+EVENT\s+STATE AFTER\s+ATTEMPT\s+DATA$/);
    expect(lines[1]).toMatch(
      /^1\s+\d{4}-\d\d-\d\dT[\d:.]+Z\s+TaskSubmitted\s+QUEUED\s+0\s+\{"spec":\{"payload":\{"x":1\},.*…$/,
    );
    expect(lines[2]).toMatch(/^2\s+\S+\s+TaskCancelled\s+CANCELLED\s+0\s+\{"reason":"replay me"/);

    const json = await run("replay", id, "--json");
    expect(JSON.parse(json.stdout)).toMatchObject({
      id,
      archived: false,
      events: [
        { version: 1, type: "TaskSubmitted", state: "QUEUED", attempt: 0 },
        { version: 2, type: "TaskCancelled", state: "CANCELLED", data: { reason: "replay me" } },
      ],
    });
  });

  it("replay of a task the log does not hold fails with exit code 1", async () => {
    const result = await run("replay", "no-such-task");
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/taskstream replay: task no-such-task not found/);
  });

  it("verify exits 0 on a read model equal to the log, and 1 with the mismatch printed once a row is tampered", async () => {
    const { id } = await commands.submit({ type: "tampered" }, noTrace);
    await projected();
    const total = (await tasksInLog()).size;

    const clean = await run("verify");
    expect(clean.code, clean.stderr).toBe(0);
    expect(clean.stdout.trim().split("\n")).toEqual([
      `checked ${total} tasks: 0 mismatches`,
      "counts by state: equal to the rows",
    ]);
    // Not a terminal: no bar drawn.
    expect(clean.stderr).toBe("");
    const json = await run("verify", "--json");
    expect(JSON.parse(json.stdout)).toEqual({
      checked: total,
      total,
      mismatches: [],
      stateCountMismatches: [],
    });

    await server.pool.query("update tasks set state = 'RUNNING', attempt = 9 where id = $1", [id]);
    try {
      const tampered = await run("verify");
      expect(tampered.code).toBe(1);
      const [summary, ...rest] = tampered.stdout.trim().split("\n");
      expect(summary).toBe(`checked ${total} tasks: 2 mismatches`);
      // The task mismatches come before the line on the counts by state.
      const mismatches = rest.slice(
        0,
        rest.findIndex((line) => line.startsWith("counts by state")),
      );
      expect(mismatches.map((line) => JSON.parse(line) as unknown)).toEqual([
        { taskId: id, field: "state", log: "QUEUED", readModel: "RUNNING" },
        { taskId: id, field: "attempt", log: 0, readModel: 9 },
      ]);
    } finally {
      await server.pool.query("update tasks set state = 'QUEUED', attempt = 0 where id = $1", [id]);
    }
  });

  it("verify --limit N says it checked only N of the tasks in the log", async () => {
    await projected();
    const total = (await tasksInLog()).size;

    const result = await run("verify", "--limit", "2");

    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim().split("\n")).toEqual([
      `checked 2 of ${total} tasks (limited by --limit): 0 mismatches among those checked; ` +
        `${total - 2} tasks were not checked`,
      "counts by state: equal to the rows",
    ]);
  });

  it("verify refuses a limit that is not a positive integer, and an unknown flag, with exit code 2", async () => {
    const result = await run("verify", "--limit", "0");
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^taskstream verify: --limit: must be an integer from 1 up, got "0"\n/);
    const unknown = await run("verify", "--deep");
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^taskstream verify: unknown flag --deep\n/);
  });
});
