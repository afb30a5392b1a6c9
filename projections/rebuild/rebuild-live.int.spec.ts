import { afterEach, beforeEach, describe, expect, it } from "vitest";
import Fastify, { type FastifyInstance } from "fastify";
import { v7 as uuidv7 } from "uuid";
import { taskEvents as on, succeededLife } from "../../domain/testing/task-events.ts";
import { STREAM_START } from "../../event-store/stream-ids.ts";
import { readApiPlugin } from "../../read-api/plugin.ts";
import { commitBatch } from "../commit-batch.ts";
import { RowCache } from "../row-cache.ts";
import { verifyStateCounts } from "../state-counts.ts";
import { loadTasks } from "../task-table.ts";
import { verifyReadModel } from "../verify.ts";
import { createRebuildFixture, type RebuildFixture } from "./testing/rebuild-fixture.ts";

/** A rebuild beside a live read side: readers, subscriptions and the live projector go on. */
describe("projection rebuild beside live readers and a live projector", () => {
  let fx: RebuildFixture;
  let app: FastifyInstance | undefined;

  beforeEach(async () => {
    fx = await createRebuildFixture("rebuildlive");
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
    await fx?.close();
  });

  const heads = async () => {
    const positions = new Map<number, string>();
    for (let p = 0; p < fx.log.partitions; p++) positions.set(p, await fx.log.head(p));
    return positions;
  };
  /** Every task's recorded events are exactly versions 1..n, once each. */
  const doubledOrMissing = async () =>
    (
      await fx.pool.query<{ id: string; version: number; events: number; distinct_events: number }>(
        `select t.id, t.version, count(e.version)::int as events, count(distinct e.version)::int as distinct_events
         from tasks t left join task_events e on e.task_id = t.id
         group by t.id, t.version having count(e.version) <> t.version or count(distinct e.version) <> t.version`,
      )
    ).rows;

  it("answers readers throughout (never empty, never partial), keeps subscriptions, and the projector goes on after the swap", async () => {
    await fx.seed(60);
    await fx.live.catchUp();
    await fx.archiver.runOnce();
    const ids = await fx.seed(40);
    await fx.live.start();
    await fx.live.waitFor(await heads());
    const before = await fx.snapshot();
    const watched = ids.find((_, i) => i % 5 === 1)!; // running: submitted, assigned, started

    app = Fastify();
    await app.register(readApiPlugin, { pool: fx.pool, redis: fx.redis, prefix: fx.prefix, graphiql: false });
    const graphql = async () => {
      const reply = await app!.inject({
        method: "POST",
        url: "/graphql",
        payload: { query: `{ stats { total } task(id: "${watched}") { state events { type } } }` },
      });
      return reply.json<{
        data?: { stats: { total: number }; task: { events: unknown[] } };
        errors?: unknown;
      }>();
    };
    const seen: { tasks: number; events: number; graphqlTotal: number; graphqlEvents: number }[] = [];
    const errors: unknown[] = [];
    const read = async () => {
      try {
        const [tasks, events, reply] = await Promise.all([
          fx.pool.query<{ n: number }>("select count(*)::int as n from tasks"),
          fx.pool.query<{ n: number }>("select count(*)::int as n from task_events"),
          graphql(),
        ]);
        if (reply.errors) errors.push(reply.errors);
        seen.push({
          tasks: tasks.rows[0]!.n,
          events: events.rows[0]!.n,
          graphqlTotal: reply.data?.stats.total ?? -1,
          graphqlEvents: reply.data?.task.events.length ?? -1,
        });
      } catch (error) {
        errors.push(error);
      }
    };
    let rebuilding = true;
    const readers = (async () => {
      while (rebuilding) await read();
    })();
    const atSwap: Promise<void>[] = [];
    const updates = fx.redis.duplicate();
    const published: string[] = [];
    await updates.subscribe(`${fx.prefix}:task-updates`);
    updates.on("message", (_channel, message: string) => published.push(message));

    const report = await fx
      .rebuild({
        pageSize: 20,
        // Reads in flight while the swap takes its locks: they wait for it, or it for them.
        beforeSwap: async () => {
          for (let i = 0; i < 10; i++) atSwap.push(read());
        },
      })
      .finally(() => {
        rebuilding = false;
      });
    await Promise.all([readers, ...atSwap]);
    expect(errors).toEqual([]);
    expect(seen.length).toBeGreaterThan(10);
    const expected = { tasks: 100, events: before.events.length, graphqlTotal: 100, graphqlEvents: 3 };
    expect(seen.filter((s) => JSON.stringify(s) !== JSON.stringify(expected))).toEqual([]);
    expect(report.verify?.mismatches).toEqual([]);

    // After the swap: the running projector folds new events into the fresh tables and publishes them.
    await fx.log.append(watched, 3, [on.succeeded(1, Date.now(), { after: "swap" })]);
    const fresh = uuidv7();
    await fx.log.append(fresh, 0, succeededLife(Date.now()));
    await fx.live.waitFor(await heads());
    expect((await loadTasks(fx.pool, [watched])).get(watched)).toMatchObject({
      state: "SUCCEEDED",
      version: 4,
      result: { after: "swap" },
    });
    const task = (await graphql()).data?.task;
    expect(task?.events).toHaveLength(4);
    for (let i = 0; i < 50 && !published.some((m) => m.includes(watched)); i++)
      await new Promise((resolve) => setTimeout(resolve, 20));
    expect(published.some((m) => m.includes(watched) && m.includes("SUCCEEDED"))).toBe(true);
    updates.disconnect();
    expect(await doubledOrMissing()).toEqual([]);
    expect((await fx.snapshot()).tasks).toHaveLength(101);
    expect((await verifyReadModel({ store: fx.log, pool: fx.pool, archive: fx.archive })).mismatches).toEqual(
      [],
    );
  });

  it("follows a log that grows while it runs; after the swap the live projector doubles and skips nothing", async () => {
    await fx.seed(80);
    await fx.live.start();
    let writing = true;
    let written = 80;
    const writer = (async () => {
      while (writing) {
        await fx.seed(5);
        written += 5;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    const report = await fx.rebuild({ pageSize: 25 }).finally(() => {
      writing = false;
    });
    await writer;
    // A little more after the swap, then everything folded.
    await fx.seed(10);
    written += 10;
    await fx.live.waitFor(await heads());
    expect(report.verify?.mismatches).toEqual([]);
    expect(report.verify?.counts).toEqual([]);
    const after = await fx.snapshot();
    expect(after.tasks).toHaveLength(written);
    expect(await doubledOrMissing()).toEqual([]);
    expect((await verifyReadModel({ store: fx.log, pool: fx.pool, archive: fx.archive })).mismatches).toEqual(
      [],
    );
    // The side models too: the rebuild's part and the live projector's after it add up to one fold
    // of the log from nothing — each event once in the feed, in each partition's order, and counted
    // once in the counts by state and the analytics.
    expect(await verifyStateCounts(fx.pool)).toEqual([]);
    expect(await fx.feedOutOfOrder()).toBe(0);
    expect(after).toEqual(await fx.referenceFold());
  });

  it("makes a projector forget the rows it remembers: after a swap they describe tables that are gone", async () => {
    const id = uuidv7();
    await fx.log.append(id, 0, [on.submitted(1000), on.assigned(1, 1001), on.started(1, 1002)]);
    await fx.live.catchUp();
    const key = `${fx.prefix}:tasks`;
    // What an instance remembers of the row it committed last, from before any swap (here
    // deliberately unlike the rebuilt row, as when the rebuild fixes what an older projector wrote).
    const remembered = async () => {
      const row = (await loadTasks(fx.pool, [id])).get(id)!;
      const cache = new RowCache();
      cache.keepIfGeneration(0);
      cache.remember([{ ...row, workerId: "remembered" }]);
      return cache;
    };
    const project = async (cache: RowCache, version: number) => {
      const [event] = (await fx.log.readTask(id)).filter((e) => e.version === version);
      const checkpoint = await fx.pool.query<{ stream_id: string }>(
        "select stream_id from projection_checkpoints where projector = $1 and partition = $2",
        [key, event!.partition],
      );
      const expected = checkpoint.rows[0]?.stream_id ?? STREAM_START;
      await commitBatch(
        { pool: fx.pool, store: fx.log, checkpointKey: key, cache },
        [event!],
        [{ partition: event!.partition, expected, next: event!.streamId }],
      );
      return (await loadTasks(fx.pool, [id])).get(id)!.workerId;
    };
    // Without a swap the remembered row is folded onto (the cache's whole point)…
    await fx.log.append(id, 3, [on.progress(1, 1003, { step: 1 })]);
    expect(await project(await remembered(), 4)).toBe("remembered");
    await fx.rebuild();
    // …after one it is not: the row comes from the fresh table.
    const cache = await remembered();
    await fx.log.append(id, 4, [on.progress(1, 1004, { step: 2 })]);
    expect(await project(cache, 5)).toBe("worker-1");
  });
});
