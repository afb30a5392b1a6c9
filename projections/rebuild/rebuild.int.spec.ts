import { afterEach, beforeEach, describe, expect, it } from "vitest";
import pg from "pg";
import { testServices } from "../../tests/support/services.ts";
import { verifyStateCounts } from "../state-counts.ts";
import { verifyReadModel } from "../verify.ts";
import { acquireRebuildLock, RebuildRunningError } from "./rebuild-lock.ts";
import { loadRebuild } from "./rebuild-state.ts";
import { createRebuildFixture, type RebuildFixture } from "./testing/rebuild-fixture.ts";

/** `taskstream projections rebuild` against real Redis and PostgreSQL (docs/projection-rebuild.md). */
describe("projection rebuild", () => {
  let fx: RebuildFixture;

  beforeEach(async () => {
    fx = await createRebuildFixture("rebuild");
  });
  afterEach(async () => {
    await fx?.close();
  });

  const tableOid = async () =>
    (await fx.pool.query<{ oid: number }>("select 'tasks'::regclass::oid as oid")).rows[0]!.oid;
  const indexNames = async () =>
    (
      await fx.pool.query<{ name: string }>(
        `select indexname as name from pg_indexes where schemaname = $1 order by indexname`,
        [fx.schema],
      )
    ).rows.map((row) => row.name);

  /** 60 tasks projected and then archived where finished, 40 more projected and left in the log. */
  const partlyArchived = async () => {
    await fx.seed(60);
    await fx.live.catchUp();
    expect((await fx.archiver.runOnce()).archived).toBeGreaterThan(20);
    await fx.seed(40);
    await fx.live.catchUp();
    return fx.snapshot();
  };

  it("rebuilds from the archive and the log a read model equal to the live one, in fresh tables", async () => {
    const before = await partlyArchived();
    expect(before.tasks).toHaveLength(100);
    const oldTable = await tableOid();
    const indexes = await indexNames();

    const report = await fx.rebuild({ pageSize: 40 });

    expect(await tableOid()).not.toBe(oldTable);
    expect(await indexNames()).toEqual(indexes);
    expect(before.feed.length).toBe(before.events.length);
    expect(before.minutes.length).toBeGreaterThan(0);
    expect(await fx.snapshot()).toEqual(before);
    // The archive was folded task by task; the feed's commit order follows each partition's log again.
    expect(await fx.feedOutOfOrder()).toBe(0);
    expect(report).toMatchObject({ resumed: false, tasks: 100, generation: 1 });
    expect(report.archiveEvents).toBeGreaterThan(0);
    expect(report.logEvents).toBeGreaterThan(0);
    expect(report.verify).toMatchObject({ checked: 100, mismatches: [], behind: 0, counts: [] });
    expect((await verifyReadModel({ store: fx.log, pool: fx.pool, archive: fx.archive })).mismatches).toEqual(
      [],
    );
    // Nothing left behind: no rebuild state, checkpoint or schema; the archiver is no longer held back.
    const { rows: left } = await fx.pool.query(
      `select (select count(*)::int from projection_rebuilds) as rebuilds,
              (select count(*)::int from projection_checkpoints where projector like '%-rebuild') as checkpoints,
              (select count(*)::int from pg_namespace where nspname like $1) as schemas`,
      [`${fx.schema}\\_%`],
    );
    expect(left[0]).toEqual({ rebuilds: 0, checkpoints: 0, schemas: 0 });
  });

  it("rebuilds the counts by state, the analytics and the feed from the history, and keeps the feed's horizon", async () => {
    const before = await partlyArchived();
    // What a faulty fold could have left: counts that drifted, a lost minute, lost feed entries.
    await fx.pool.query("update task_state_counts set count = count + 3 where state = 'SUCCEEDED'");
    await fx.pool.query(
      "delete from analytics_minutes where minute = (select min(minute) from analytics_minutes)",
    );
    await fx.pool.query("delete from task_feed where seq % 3 = 0");
    // Retention's mark: a cursor at or before it was refused, and stays refused.
    await fx.pool.query("insert into task_feed_horizon (partition, stream_ms, stream_seq) values (0, 5, 1)");
    expect(await verifyStateCounts(fx.pool)).not.toEqual([]);
    expect(await fx.snapshot()).not.toEqual(before);

    const report = await fx.rebuild({ pageSize: 40 });

    expect(report.verify).toMatchObject({ mismatches: [], counts: [] });
    expect(await verifyStateCounts(fx.pool)).toEqual([]);
    expect(await fx.snapshot()).toEqual(before);
    expect(await fx.feedOutOfOrder()).toBe(0);
    const { rows: horizon } = await fx.pool.query("select * from task_feed_horizon");
    expect(horizon).toEqual([{ partition: 0, stream_ms: "5", stream_seq: "1" }]);
  });

  it("resumes after being stopped, from its own checkpoints, and leaves the live tables alone meanwhile", async () => {
    const before = await partlyArchived();
    const oldTable = await tableOid();
    const archiveEvents = (await fx.archive.countAfter("")).events;

    // Stopped in the archive: after three pages.
    const inArchive = new AbortController();
    await expect(
      fx.rebuild({
        pageSize: 20,
        signal: inArchive.signal,
        onPage: (phase, pages) => phase === "archive" && pages === 3 && inArchive.abort(),
      }),
    ).rejects.toThrow();
    expect(await tableOid()).toBe(oldTable);
    expect(await fx.snapshot()).toEqual(before);
    const stoppedInArchive = await loadRebuild(fx.pool, `${fx.prefix}:tasks`);
    expect(stoppedInArchive).toMatchObject({ phase: "archive" });
    expect(stoppedInArchive!.archiveAfter).not.toBe("");

    // Resumed, then stopped in the log: after two pages.
    const inLog = new AbortController();
    let resumedArchive = 0;
    await expect(
      fx.rebuild({
        pageSize: 20,
        signal: inLog.signal,
        onProgress: (p) => {
          if (p.phase === "archive") resumedArchive = p.events;
        },
        onPage: (phase, pages) => phase === "log" && pages === 2 && inLog.abort(),
      }),
    ).rejects.toThrow();
    expect(resumedArchive).toBeGreaterThan(0);
    expect(resumedArchive).toBeLessThan(archiveEvents); // not from the start of the archive
    expect(await loadRebuild(fx.pool, `${fx.prefix}:tasks`)).toMatchObject({ phase: "log" });
    expect(await fx.snapshot()).toEqual(before);

    // Resumed again: the rest of the log, then the swap.
    const report = await fx.rebuild({ pageSize: 20 });
    expect(report.resumed).toBe(true);
    expect(report.archiveEvents).toBe(0);
    const logEvents = before.events.length - archiveEvents;
    expect(report.logEvents).toBeGreaterThan(0);
    expect(report.logEvents).toBeLessThan(logEvents);
    expect(await fx.snapshot()).toEqual(before);
    expect(report.verify?.mismatches).toEqual([]);
  });

  it("holds the archiver back until the rebuild has passed a task in the log: none is missed at the seam", async () => {
    await fx.seed(60);
    await fx.live.catchUp();
    await fx.archiver.runOnce();
    await fx.seed(60); // finished ones among them could be archived now: every reader has passed them
    await fx.live.catchUp();
    const before = await fx.snapshot();
    const stopAt = (phase: "archive" | "log", page: number) => {
      const stop = new AbortController();
      return {
        signal: stop.signal,
        onPage: (p: "archive" | "log", pages: number) => p === phase && pages === page && stop.abort(),
      };
    };
    await expect(fx.rebuild({ pageSize: 40, ...stopAt("archive", 1) })).rejects.toThrow();
    // The rebuild's checkpoint is at the log's start: nothing may leave the log.
    expect((await fx.archiver.runOnce()).archived).toBe(0);
    await expect(fx.rebuild({ pageSize: 40, ...stopAt("log", 2) })).rejects.toThrow();
    // Tasks the rebuild has folded from the log may go now; it will not read them again.
    expect((await fx.archiver.runOnce()).archived).toBeGreaterThan(0);
    const report = await fx.rebuild({ pageSize: 40 });
    expect(await fx.snapshot()).toEqual(before);
    expect(report.verify?.mismatches).toEqual([]);
  });

  it("discards an unfinished rebuild with restart and starts from nothing", async () => {
    const before = await partlyArchived();
    const stop = new AbortController();
    await expect(
      fx.rebuild({
        pageSize: 20,
        signal: stop.signal,
        onPage: (_phase, pages) => pages === 2 && stop.abort(),
      }),
    ).rejects.toThrow();
    const report = await fx.rebuild({ restart: true, pageSize: 20 });
    expect(report.resumed).toBe(false);
    expect(report.archiveEvents).toBe((await fx.archive.countAfter("")).events);
    expect(await fx.snapshot()).toEqual(before);
  });

  it("refuses a second rebuild while one runs, naming the process that holds it", async () => {
    await partlyArchived();
    let second: Promise<unknown> | undefined;
    await fx.rebuild({
      pageSize: 20,
      onPage: (_phase, pages) => {
        if (pages === 1)
          second = fx.rebuild().then(
            () => "ran",
            (error: unknown) => error,
          );
      },
    });
    const refused = await second;
    expect(refused).toBeInstanceOf(RebuildRunningError);
    expect((refused as Error).message).toMatch(
      /a rebuild of .*:tasks is already running \(PostgreSQL backend \d+, "taskstream projections rebuild"/,
    );
    // Held by another session (a process elsewhere): refused the same way, nothing changed.
    const lock = await acquireRebuildLock(fx.newPool(), `${fx.prefix}:tasks`);
    try {
      await expect(fx.rebuild()).rejects.toBeInstanceOf(RebuildRunningError);
      expect(await loadRebuild(fx.pool, `${fx.prefix}:tasks`)).toBeNull();
    } finally {
      await lock.release();
    }
  });

  it("folds at the swap what the live projector did meanwhile, or catches up first when that is too much", async () => {
    await fx.seed(40);
    await fx.live.catchUp();
    const report = await fx.rebuild({
      pageSize: 20,
      maxSwapTailEvents: 8,
      // Before the first attempt the live projector folds 20 more tasks (too many events for the
      // swap, which gives up); before the second, 2 tasks: 7 events, which the swap folds itself.
      beforeSwap: async (attempt) => {
        if (attempt <= 2) await fx.seed(attempt === 1 ? 20 : 2);
        await fx.live.catchUp();
      },
    });
    expect(report.swapTailEvents).toBe(7);
    const after = await fx.snapshot();
    expect(after.tasks).toHaveLength(62);
    await fx.live.catchUp();
    expect(await fx.snapshot()).toEqual(after); // the checkpoint moved with the tables: nothing left to fold
    expect((await verifyReadModel({ store: fx.log, pool: fx.pool, archive: fx.archive })).mismatches).toEqual(
      [],
    );
  });

  it("gives up a swap that waits too long for a reader's lock, and swaps on a later attempt", async () => {
    await partlyArchived();
    const reader = new pg.Client({
      connectionString: testServices.pgUrl,
      options: `-c search_path=${fx.schema}`,
    });
    await reader.connect();
    let held: Promise<unknown> = Promise.resolve();
    let attempts = 0;
    try {
      const report = await fx.rebuild({
        swapLockTimeoutMs: 150,
        beforeSwap: async (attempt) => {
          attempts = attempt;
          if (attempt !== 1) return;
          // A reader's transaction that has read `tasks` holds its lock until it ends.
          await reader.query("begin");
          await reader.query("select count(*) from tasks");
          held = new Promise((resolve) => setTimeout(resolve, 400)).then(() => reader.query("commit"));
        },
      });
      expect(attempts).toBeGreaterThan(1);
      expect(report.generation).toBe(1);
      expect(report.verify?.mismatches).toEqual([]);
    } finally {
      await held;
      await reader.end();
    }
  });
  it("tries again when PostgreSQL aborts the swap to break a deadlock with a reader, and the reader goes on", async () => {
    await partlyArchived();
    const reader = new pg.Client({
      connectionString: testServices.pgUrl,
      options: `-c search_path=${fx.schema}`,
    });
    await reader.connect();
    /** Whether the swap waits for its lock on the live `task_state_counts` (it holds `tasks`' by then). */
    const swapWaits = async () =>
      (
        await fx.pool.query<{ n: number }>(
          `select count(*)::int as n from pg_locks l join pg_class c on c.oid = l.relation
           join pg_namespace s on s.oid = c.relnamespace
           where not l.granted and l.mode = 'AccessExclusiveLock' and c.relname = 'task_state_counts'
             and s.nspname = $1`,
          [fx.schema],
        )
      ).rows[0]!.n > 0;
    let attempts = 0;
    let reading: Promise<unknown> = Promise.resolve();
    let readerError: unknown = null;
    try {
      const report = await fx.rebuild({
        // Only the deadlock ends the first attempt.
        swapLockTimeoutMs: 60_000,
        beforeSwap: async (attempt) => {
          attempts = attempt;
          if (attempt !== 1) return;
          // A reader holding the counts' lock, that then reads `tasks`: the order opposite to the swap's.
          await reader.query("begin");
          await reader.query("select count(*) from task_state_counts");
          reading = (async () => {
            for (let i = 0; i < 2000 && !(await swapWaits()); i++)
              await new Promise((resolve) => setTimeout(resolve, 10));
            await reader.query("select count(*) from tasks");
            await reader.query("commit");
          })().catch((error: unknown) => {
            readerError = error;
          });
        },
      });
      await reading;
      expect(readerError).toBeNull();
      expect(attempts).toBe(2);
      expect(report.generation).toBe(1);
      expect(report.verify).toMatchObject({ mismatches: [], counts: [] });
    } finally {
      await reading;
      await reader.end();
    }
  });
});
