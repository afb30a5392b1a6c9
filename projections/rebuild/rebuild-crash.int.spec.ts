import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { testServices } from "../../tests/support/services.ts";
import { RebuildRunningError } from "./rebuild-lock.ts";
import { loadRebuild } from "./rebuild-state.ts";
import type { RebuildReport } from "./rebuild.ts";
import { createRebuildFixture, type RebuildFixture } from "./testing/rebuild-fixture.ts";

const CHILD = fileURLToPath(new URL("./testing/rebuild-child.ts", import.meta.url));

/** A rebuild killed with SIGKILL in the middle, then run again. */
describe("projection rebuild after a kill -9", () => {
  let fx: RebuildFixture;

  beforeEach(async () => {
    fx = await createRebuildFixture("rebuildcrash");
  });
  afterEach(async () => {
    await fx?.close();
  });

  /** Runs the rebuild in a child process that kills itself after its Nth page of `phase`. */
  const killedAfter = (phase: "archive" | "log", pages: number) =>
    new Promise<NodeJS.Signals | null>((resolve, reject) => {
      const child = spawn(process.execPath, [CHILD], {
        env: {
          ...process.env,
          REBUILD_PG_URL: testServices.pgUrl,
          REBUILD_REDIS_URL: testServices.redisUrl,
          REBUILD_SCHEMA: fx.schema,
          REBUILD_PREFIX: fx.prefix,
          REBUILD_PARTITIONS: String(fx.log.partitions),
          REBUILD_PAGE_SIZE: "40",
          REBUILD_KILL_PHASE: phase,
          REBUILD_KILL_AFTER: String(pages),
        },
        stdio: ["ignore", "pipe", "pipe"],
      });
      const output: string[] = [];
      child.stdout.on("data", (chunk: Buffer) => output.push(chunk.toString()));
      child.stderr.on("data", (chunk: Buffer) => output.push(chunk.toString()));
      child.on("error", reject);
      child.on("exit", (code, signal) =>
        signal ? resolve(signal) : reject(new Error(`child exited ${code}: ${output.join("")}`)),
      );
    });

  /** The rebuild, once PostgreSQL has noticed the killed process's session is gone (its lock with it). */
  const rebuildAgain = async (): Promise<RebuildReport> => {
    for (let tries = 0; ; tries++) {
      try {
        return await fx.rebuild({ pageSize: 40 });
      } catch (error) {
        if (!(error instanceof RebuildRunningError) || tries > 100) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  };

  it("leaves the live tables untouched and resumes from its checkpoints, in the archive and in the log", async () => {
    await fx.seed(100);
    await fx.live.catchUp();
    await fx.archiver.runOnce();
    await fx.seed(60);
    await fx.live.catchUp();
    const before = await fx.snapshot();
    const oid = async () => (await fx.pool.query("select 'tasks'::regclass::oid as oid")).rows[0] as unknown;
    const liveTable = await oid();
    const archived = (await fx.archive.countAfter("")).events;

    expect(await killedAfter("archive", 3)).toBe("SIGKILL");
    expect(await fx.snapshot()).toEqual(before);
    expect(await oid()).toEqual(liveTable);
    const state = await loadRebuild(fx.pool, `${fx.prefix}:tasks`);
    expect(state).toMatchObject({ phase: "archive" });
    const { rows } = await fx.pool.query<{ n: number }>(
      `select count(*)::int as n from ${fx.schema}_rebuild.task_events`,
    );
    expect(rows[0]!.n).toBeGreaterThan(0);
    expect(rows[0]!.n).toBeLessThan(archived);

    // Run again in a child that is killed in the log, after it finished the archive.
    expect(await killedAfter("log", 2)).toBe("SIGKILL");
    expect(await loadRebuild(fx.pool, `${fx.prefix}:tasks`)).toMatchObject({ phase: "log" });
    expect(await fx.snapshot()).toEqual(before);

    const report = await rebuildAgain();
    expect(report.resumed).toBe(true);
    expect(report.archiveEvents).toBe(0);
    expect(report.logEvents).toBeGreaterThan(0);
    expect(report.logEvents).toBeLessThan(before.events.length - archived);
    expect(await oid()).not.toEqual(liveTable);
    expect(await fx.snapshot()).toEqual(before);
    expect(await fx.feedOutOfOrder()).toBe(0);
    expect(report.verify).toMatchObject({ mismatches: [], counts: [] });
  });
});
