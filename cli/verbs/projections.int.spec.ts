import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { acquireRebuildLock } from "../../projections/rebuild/rebuild-lock.ts";
import { loadRebuild } from "../../projections/rebuild/rebuild-state.ts";
import {
  createRebuildFixture,
  type RebuildFixture,
} from "../../projections/rebuild/testing/rebuild-fixture.ts";
import { testServices } from "../../tests/support/services.ts";

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));

/** `taskstream projections rebuild` run as a process, as an operator runs it. */
describe("taskstream projections rebuild (the program)", () => {
  let fx: RebuildFixture;

  beforeEach(async () => {
    fx = await createRebuildFixture("rebuildcli");
    await fx.log.checkLayout();
  });
  afterEach(async () => {
    await fx?.close();
  });

  /** The program with these arguments, over the fixture's read model and log. */
  const program = (...args: string[]) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const url = new URL(testServices.pgUrl);
      url.searchParams.set("options", `-c search_path=${fx.schema}`);
      const child = spawn(process.execPath, [MAIN, ...args], {
        env: {
          ...process.env,
          TASKSTREAM_PG_URL: url.toString(),
          TASKSTREAM_REDIS_URL: testServices.redisUrl,
          TASKSTREAM_PREFIX: fx.prefix,
          TASKSTREAM_PARTITIONS: String(fx.log.partitions),
        },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      child.on("error", reject);
      child.on("exit", (code) => resolve({ code, stdout, stderr }));
    });
  const run = (...args: string[]) => program("projections", ...args);

  it("rebuilds, printing progress lines on stderr and the summary as JSON on stdout", async () => {
    await fx.seed(50);
    await fx.live.catchUp();
    await fx.archiver.runOnce();
    await fx.seed(30);
    await fx.live.catchUp();
    const before = await fx.snapshot();

    const { code, stdout, stderr } = await run("rebuild", "--json", "--page-size", "50");

    expect(stderr).toMatch(/^archive .*events/m);
    expect(stderr).toMatch(/^verify .*80\/80 tasks/m);
    expect(stderr).not.toContain("\r"); // not a terminal: plain lines
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as Record<string, unknown>;
    expect(report).toMatchObject({
      projector: `${fx.prefix}:tasks`,
      resumed: false,
      tasks: 80,
      generation: 1,
      verify: { checked: 80, mismatchCount: 0, mismatches: [], counts: [] },
      replacedSchema: null,
    });
    expect(report.eventsPerSecond).toBeGreaterThan(0);
    expect(await fx.snapshot()).toEqual(before);

    // What an operator checks next: `taskstream verify` over the swapped-in tables is clean.
    const verified = await program("verify");
    expect(verified.stderr).toBe("");
    expect(verified.stdout).toContain("counts by state: equal to the rows");
    expect(verified.code).toBe(0);
  });

  it("exits 1 and keeps the replaced tables when the rebuilt counts by state differ from the rows", async () => {
    await fx.seed(40);
    await fx.live.catchUp();
    // A rebuild stopped after its first page, one of its fresh counts then made wrong (as a faulty
    // fold would), and the program resuming it.
    const stop = new AbortController();
    await expect(
      fx.rebuild({
        pageSize: 10,
        signal: stop.signal,
        onPage: (_phase, pages) => pages === 1 && stop.abort(),
      }),
    ).rejects.toThrow();
    const spoiled = await fx.pool.query(
      `update ${fx.schema}_rebuild.task_state_counts set count = count + 1
       where ctid = (select ctid from ${fx.schema}_rebuild.task_state_counts limit 1)`,
    );
    expect(spoiled.rowCount).toBe(1);

    const { code, stdout, stderr } = await run("rebuild");

    expect(code).toBe(1);
    expect(stdout).toContain("counts by state: 1 mismatches");
    expect(stderr).toContain(
      "failed verification (0 tasks differ from the log, 1 counts by state differ from the rows); " +
        `the replaced tables are kept in schema ${fx.schema}_replaced`,
    );
    const verified = await program("verify");
    expect(verified.stdout).toContain("counts by state: 1 differ");
    expect(verified.code).toBe(1);
  });

  it("exits non-zero with a clear message when another rebuild runs, or the input is bad, and changes nothing", async () => {
    await fx.seed(10);
    await fx.live.catchUp();
    const lock = await acquireRebuildLock(fx.newPool(), `${fx.prefix}:tasks`);
    try {
      const busy = await run("rebuild");
      expect(busy.code).toBe(1);
      expect(busy.stderr).toMatch(
        /^taskstream projections: a rebuild of .*:tasks is already running \(PostgreSQL backend \d+/m,
      );
    } finally {
      await lock.release();
    }
    const bad = await run("rebuild", "--page-size", "0");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("page-size: must be an integer from 1 to 100000");
    const unknown = await run("rebiuld");
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('action: must be "rebuild"');
    expect(await loadRebuild(fx.pool, `${fx.prefix}:tasks`)).toBeNull();
  });

  it("discards an unfinished rebuild", async () => {
    await fx.seed(40);
    await fx.live.catchUp();
    await fx.archiver.runOnce();
    const stop = new AbortController();
    await expect(
      fx.rebuild({
        pageSize: 10,
        signal: stop.signal,
        onPage: (_phase, pages) => pages === 1 && stop.abort(),
      }),
    ).rejects.toThrow();
    expect(await loadRebuild(fx.pool, `${fx.prefix}:tasks`)).not.toBeNull();
    const discarded = await run("rebuild", "--discard");
    expect(discarded).toMatchObject({ code: 0, stdout: "discarded the unfinished rebuild\n" });
    expect(await loadRebuild(fx.pool, `${fx.prefix}:tasks`)).toBeNull();
    const { rows } = await fx.pool.query("select count(*)::int as n from pg_namespace where nspname = $1", [
      `${fx.schema}_rebuild`,
    ]);
    expect(rows[0]).toEqual({ n: 0 });
  });
});
