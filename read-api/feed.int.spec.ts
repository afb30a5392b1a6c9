import { afterAll, beforeAll, describe, expect, it } from "vitest";
import Fastify, { type FastifyInstance } from "fastify";
import { TasksProjector } from "../projections/tasks-projector.ts";
import { ReadModelRetention } from "../projections/retention.ts";
import {
  createReadModelFixture,
  newTaskId,
  succeededLife,
  taskSpec,
  type ReadModelFixture,
} from "../projections/testing/read-model-fixture.ts";
import { connectGraphqlWs } from "../tests/support/graphql-ws.ts";
import { eventually } from "../tests/support/server.ts";
import { readApiPlugin } from "./plugin.ts";
import { FeedStore } from "./feed/feed-store.ts";
import { FeedSubscription } from "./feed/feed-subscription.ts";
import type { FeedHub, FeedListener } from "./feed/feed-hub.ts";
import type { FeedBatch } from "../projections/feed/feed-table.ts";
import { partitionOfTaskId } from "../domain/task/index.ts";

/** A task id whose events go to `partition`. */
const idInPartition = (partition: number): string => {
  for (;;) {
    const id = newTaskId();
    if (partitionOfTaskId(id, PARTITIONS) === partition) return id;
  }
};

const T0 = Date.parse("2030-01-01T00:00:00.000Z");
const PARTITIONS = 4;

interface FeedEvent {
  cursor: string;
  taskId: string;
  version: number;
  type: string;
  queue: string;
  state: string;
}

const EVENT_FIELDS = "cursor taskId version type queue state";
const SUBSCRIPTION = `subscription ($after: String, $filter: TaskEventFilter) {
  taskEvents(after: $after, filter: $filter) { ${EVENT_FIELDS} } }`;

describe("the task feed: eventsSince and the resumable taskEvents subscription", () => {
  let fx: ReadModelFixture;
  let app: FastifyInstance;
  let projector: TasksProjector;
  let url: string;
  const graphql = async (query: string, variables: Record<string, unknown> = {}) =>
    (await app.inject({ method: "POST", url: "/graphql", payload: { query, variables } })).json<{
      data: Record<string, { events: FeedEvent[]; endCursor: string; hasMore: boolean }> | null;
      errors?: { message: string; extensions?: { code?: string } }[];
    }>();
  /** Every event in the feed, oldest commit first, as "taskId:version". */
  const everything = async () =>
    (
      await fx.pool.query<{ key: string }>(
        "select task_id || ':' || version as key from task_feed order by seq",
      )
    ).rows.map((r) => r.key);
  const submitLives = async (count: number, type = "feed") => {
    for (let i = 0; i < count; i++)
      await fx.store.append(newTaskId(), -1, succeededLife(T0, { i }, taskSpec({ type })));
  };

  beforeAll(async () => {
    fx = await createReadModelFixture("feed", PARTITIONS);
    projector = new TasksProjector({
      store: fx.store,
      redis: fx.redis,
      pool: fx.pool,
      minCommitIntervalMs: 20,
    });
    app = Fastify();
    await app.register(readApiPlugin, {
      pool: fx.pool,
      redis: fx.redis,
      prefix: fx.prefix,
      graphiql: false,
      partitions: PARTITIONS,
    });
    url = (await app.listen({ host: "127.0.0.1", port: 0 })).replace("http", "ws") + "/graphql";
  });
  afterAll(async () => {
    await projector.stop();
    await app?.close();
    await fx?.close();
  });

  it("pages through the feed with eventsSince, each page resuming where the last ended", async () => {
    await submitLives(10);
    await projector.catchUp();
    const seen: string[] = [];
    let after: string | undefined;
    for (let page = 0; page < 20; page++) {
      const answer = await graphql(
        `query ($after: String) { eventsSince(after: $after, first: 7) { events { ${EVENT_FIELDS} } endCursor hasMore } }`,
        { after },
      );
      expect(answer.errors).toBeUndefined();
      const { events, endCursor, hasMore } = answer.data!.eventsSince!;
      seen.push(...events.map((e) => `${e.taskId}:${e.version}`));
      after = endCursor;
      if (!hasMore && events.length === 0) break;
    }
    expect(seen.sort()).toEqual((await everything()).sort());
    expect(new Set(seen).size).toBe(40);

    const bad = await graphql(`
      {
        eventsSince(after: "not*a*cursor") {
          endCursor
        }
      }
    `);
    expect(bad.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
  });

  it("replays from a cursor, goes live, and resumes after a dropped WebSocket with no gap and no duplicate", async () => {
    const before = await everything();
    const first = await graphql(`
      {
        eventsSince(first: 5) {
          events {
            cursor
          }
          endCursor
        }
      }
    `);
    const cursor = first.data!.eventsSince!.endCursor;
    await projector.start();

    const received: FeedEvent[] = [];
    const client = await connectGraphqlWs(url);
    const id = client.subscribe(SUBSCRIPTION, { after: cursor });
    const take = async (ws: typeof client, sub: string, count: number) => {
      for (let i = 0; i < count; i++) {
        const message = await ws.next((m) => m.id === sub && m.type === "next");
        expect(message, `event ${received.length + 1}`).toBeDefined();
        received.push(message!.payload!.data!.taskEvents as FeedEvent);
      }
    };
    // The replay: everything after the first five events.
    await take(client, id, before.length - 5);
    // Live: more tasks while subscribed; the socket drops mid-stream.
    const live = submitLives(15);
    await take(client, id, 12);
    client.drop();
    await live;
    await submitLives(5);
    await projector.waitFor(await heads(fx, PARTITIONS));

    // Resume from the last cursor received: the rest, once each.
    const resumed = await connectGraphqlWs(url);
    const again = resumed.subscribe(SUBSCRIPTION, { after: received.at(-1)!.cursor });
    const all = await everything();
    await take(resumed, again, all.length - 5 - received.length);
    const keys = received.map((e) => `${e.taskId}:${e.version}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys.length).toBe(all.length - 5);
    expect(new Set([...keys, ...before.slice(0, 5)])).toEqual(new Set(all));
    // Nothing more arrives: no duplicate trails behind.
    expect(await resumed.next((m) => m.id === again && m.type === "next", 500)).toBeUndefined();
    // Each task's events arrive in version order, with the state after each.
    const byTask = new Map<string, FeedEvent[]>();
    for (const e of received) byTask.set(e.taskId, [...(byTask.get(e.taskId) ?? []), e]);
    for (const events of byTask.values()) {
      const versions = events.map((e) => e.version);
      expect(versions).toEqual([...versions].sort((a, b) => a - b));
    }
    expect(received.filter((e) => e.type === "TaskSucceeded").every((e) => e.state === "SUCCEEDED")).toBe(
      true,
    );
    resumed.drop();
  });

  it("answers the newest events and a cursor that follows on from exactly there", async () => {
    const answer = await graphql(
      `{ recentEvents(first: 3, filter: { eventTypes: ["TaskSucceeded"] }) { events { ${EVENT_FIELDS} } endCursor } }`,
    );
    expect(answer.errors).toBeUndefined();
    const { events, endCursor } = answer.data!.recentEvents!;
    const newest = (
      await fx.pool.query<{ key: string }>(
        "select task_id || ':' || version as key from task_feed where event_type = 'TaskSucceeded' order by seq desc limit 3",
      )
    ).rows.map((r) => r.key);
    expect(events.map((e) => `${e.taskId}:${e.version}`)).toEqual(newest);
    // Nothing new yet: a page past the cursor is empty; after one more task, exactly its events.
    const past = async () =>
      (
        await graphql(
          `
            query ($after: String) {
              eventsSince(after: $after) {
                events {
                  taskId
                }
              }
            }
          `,
          {
            after: endCursor,
          },
        )
      ).data!.eventsSince!.events;
    expect(await past()).toEqual([]);
    await submitLives(1);
    await projector.waitFor(await heads(fx, PARTITIONS));
    expect(await past()).toHaveLength(4);
  });

  it("delivers only what matches the filter, live", async () => {
    const client = await connectGraphqlWs(url);
    const id = client.subscribe(SUBSCRIPTION, {
      filter: { eventTypes: ["TaskSucceeded"], queues: ["wanted"] },
    });
    // Subscribed (no `after`: from now on) once the first batch after it arrives; wait for the hub.
    await new Promise((resolve) => setTimeout(resolve, 200));
    await submitLives(3, "other");
    await submitLives(3, "wanted");
    const events: FeedEvent[] = [];
    for (let i = 0; i < 3; i++) {
      const message = await client.next((m) => m.id === id && m.type === "next");
      events.push(message!.payload!.data!.taskEvents as FeedEvent);
    }
    expect(events.every((e) => e.type === "TaskSucceeded" && e.queue === "wanted")).toBe(true);
    expect(await client.next((m) => m.id === id && m.type === "next", 500)).toBeUndefined();
    client.drop();
  });

  it("fills a gap in the live batches (a lost message) from the read model", async () => {
    await projector.stop();
    const store = new FeedStore(fx.pool, PARTITIONS, fx.prefix);
    let listener: FeedListener = () => {};
    const hub = {
      acquire: async (l: FeedListener) => {
        listener = l;
        return () => {};
      },
    } as unknown as FeedHub;
    const subscription = await new FeedSubscription(store, hub, null, null).start();
    // Capture what a projector publishes on the feed channel, through a subscriber of our own.
    const batches: FeedBatch[] = [];
    const subscriber = fx.redis.duplicate();
    await subscriber.subscribe(`${fx.prefix}:task-feed`);
    subscriber.on("message", (_c: string, m: string) => batches.push(JSON.parse(m) as FeedBatch));
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    const other = new TasksProjector({ store: fx.store, redis: fx.redis, pool: fx.pool });
    /** Commits one task's life (one batch, partition 0: each follows the one before) and returns its batch. */
    const commitOne = async (i: number) => {
      await fx.store.append(idInPartition(0), -1, succeededLife(T0, { i }, taskSpec({ type: "gap" })));
      await other.catchUp();
      await eventually(() => (batches.length === other.committedBatches ? true : undefined));
      expect(batches.at(-1)!.moves.map((m) => m.partition)).toEqual([0]);
      return batches.at(-1)!;
    };
    const take = async (count: number) => {
      const got: string[] = [];
      for (let i = 0; i < count; i++) {
        const result = await subscription.next();
        if (result.done) throw new Error("the subscription ended");
        got.push(`${result.value.taskEvents.taskId}:${result.value.taskEvents.version}`);
      }
      return got;
    };
    const pending = () =>
      Promise.race([subscription.next().then(() => "more"), sleep(300).then(() => "none")]);
    // The first batch is lost; the second does not follow the position: both come from the read model.
    const lost = await commitOne(1);
    listener(await commitOne(2));
    const both = await take(8);
    expect(new Set(both.map((key) => key.split(":")[0])).size).toBe(2);
    expect(both.filter((key) => key.startsWith(lost.entries[0]!.taskId))).toHaveLength(4);
    // The next follows: delivered from the message itself.
    listener(await commitOne(3));
    expect(await take(4)).toHaveLength(4);
    // Another is lost, and the hub says its connection came back: read from the read model again.
    await commitOne(4);
    listener(null);
    expect(new Set(await take(4)).size).toBe(4);
    expect(await pending()).toBe("none");
    subscriber.disconnect();
    await subscription.return();
  });

  it("reads a rare filter in bounded windows that make progress, missing nothing", async () => {
    const store = new FeedStore(fx.pool, PARTITIONS, fx.prefix, 3);
    const filter = { eventTypes: ["TaskSucceeded"] };
    const expected = (
      await fx.pool.query<{ key: string }>(
        "select task_id || ':' || version as key from task_feed where event_type = 'TaskSucceeded'",
      )
    ).rows.map((r) => r.key);
    expect(expected.length).toBeGreaterThan(10);
    let position = new Map<number, readonly [number, number]>();
    const seen: string[] = [];
    let reads = 0;
    let emptyReads = 0;
    for (let more = true; more; reads++) {
      const read = await store.readPast(position, filter, 2);
      seen.push(...read.entries.map((e) => `${e.taskId}:${e.version}`));
      if (read.entries.length === 0) emptyReads++;
      position = read.position;
      more = read.more;
      expect(reads).toBeLessThan(1000);
    }
    expect(seen.sort()).toEqual(expected.sort());
    // Windows of 3 entries over 4-event lives: some reads find no match and still move on.
    expect(emptyReads).toBeGreaterThan(0);

    // A subscription catching up through the same windows delivers each match once.
    const hub = { acquire: async () => () => {} } as unknown as FeedHub;
    const subscription = await new FeedSubscription(store, hub, filter, new Map()).start();
    const delivered: string[] = [];
    for (let i = 0; i < expected.length; i++) {
      const result = await subscription.next();
      if (result.done) throw new Error("the subscription ended");
      delivered.push(`${result.value.taskEvents.taskId}:${result.value.taskEvents.version}`);
    }
    expect(delivered.sort()).toEqual(expected.sort());
    await subscription.return();
  });

  it("replays only as fast as the subscriber takes events, and drops one that falls too far behind", async () => {
    let reads = 0;
    const real = new FeedStore(fx.pool, PARTITIONS, fx.prefix);
    const store = {
      readPast: (...args: Parameters<FeedStore["readPast"]>) => {
        reads++;
        return real.readPast(...args);
      },
      head: () => real.head(),
    } as unknown as FeedStore;
    let listener: FeedListener = () => {};
    const hub = {
      acquire: async (l: FeedListener) => {
        listener = l;
        return () => {};
      },
    } as unknown as FeedHub;
    const total = (await fx.pool.query<{ n: number }>("select count(*)::int n from task_feed")).rows[0]!.n;
    const replay = await new FeedSubscription(store, hub, null, new Map(), {
      replayPage: 4,
      maxBuffered: 6,
    }).start();
    await new Promise((resolve) => setImmediate(resolve));
    expect(reads).toBeLessThanOrEqual(2); // the first page, and at most the next one: nobody took any
    for (let i = 0; i < total; i++) expect((await replay.next()).done).toBe(false);
    expect(reads).toBeGreaterThanOrEqual(total / 4);
    await replay.return();

    // Live: batches keep coming to a subscriber that takes nothing.
    const slow = await new FeedSubscription(store, hub, null, null, { maxBuffered: 6 }).start();
    const head = await real.head();
    const entry = (i: number) => ({
      partition: 0,
      streamId: `${Number.MAX_SAFE_INTEGER - 1000 + i}-0`,
      taskId: `t-${i}`,
      version: 1,
      eventType: "TaskSubmitted",
      taskType: "slow",
      state: "QUEUED" as const,
      priority: 5,
      at: 0,
    });
    const expected = `${(head.get(0) ?? [0, 0]).join("-")}`;
    listener({
      moves: [{ partition: 0, expected, next: entry(9).streamId }],
      entries: [...Array(10).keys()].map(entry),
    });
    const taken: string[] = [];
    await expect(
      (async () => {
        for (;;) {
          const result = await slow.next();
          if (result.done) return;
          taken.push(result.value.taskEvents.taskId);
        }
      })(),
    ).rejects.toMatchObject({ extensions: { code: "SUBSCRIBER_TOO_SLOW" } });
    expect(taken).toEqual(["t-0", "t-1", "t-2", "t-3", "t-4", "t-5"]);
  });

  it("refuses a cursor older than what retention kept", async () => {
    const start = await graphql(`
      {
        eventsSince(first: 1) {
          endCursor
        }
      }
    `);
    const old = start.data!.eventsSince!.endCursor;
    await new ReadModelRetention({
      pool: fx.pool,
      analyticsRetentionMs: 3_600_000,
      feedRetentionMs: 0,
    }).runOnce(Date.now() + 1000);
    const answer = await graphql(
      `
        query ($after: String) {
          eventsSince(after: $after) {
            endCursor
          }
        }
      `,
      {
        after: old,
      },
    );
    expect(answer.errors?.[0]?.extensions?.code).toBe("CURSOR_EXPIRED");
  });
});

/** The newest stream id of each partition of the log. */
async function heads(fx: ReadModelFixture, partitions: number): Promise<Map<number, string>> {
  const result = new Map<number, string>();
  for (let p = 0; p < partitions; p++) {
    const [last] = (await fx.redis.xrevrange(fx.store.streamKey(p), "+", "-", "COUNT", 1)) as [
      string,
      string[],
    ][];
    if (last) result.set(p, last[0]);
  }
  return result;
}
