import { afterAll, beforeAll, describe, expect, it } from "vitest";
import Fastify, { type FastifyInstance } from "fastify";
import { TaskCommands } from "../commands/task-commands.ts";
import { QueueSettingsStore } from "../queues/queue-settings.ts";
import { ScheduleCommands } from "../commands/schedules/schedule-commands.ts";
import { scheduleStore } from "../event-store/schedule-store.ts";
import { TasksProjector } from "../projections/tasks-projector.ts";
import {
  createReadModelFixture,
  on,
  type ReadModelFixture,
} from "../projections/testing/read-model-fixture.ts";
import { readApiPlugin } from "./plugin.ts";

interface Answer {
  data: Record<string, unknown> | null;
  errors?: { message: string; extensions?: { code?: string; fields?: { field: string }[] } }[];
}

const noTrace = { traceparent: null, tracestate: null };

/** GraphQL the console relies on: analytics, task filters and order, asOf, history states, queues. */
describe("GraphQL for the console", () => {
  let fx: ReadModelFixture;
  let app: FastifyInstance;
  let commands: TaskCommands;
  let projector: TasksProjector;
  const graphql = async (query: string, variables: Record<string, unknown> = {}) =>
    (await app.inject({ method: "POST", url: "/graphql", payload: { query, variables } })).json<Answer>();
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    fx = await createReadModelFixture("console-gql");
    commands = new TaskCommands(fx.store, { maxPayloadBytes: 1 << 20 });
    projector = new TasksProjector({ store: fx.store, redis: fx.redis, pool: fx.pool });
    app = Fastify();
    await app.register(readApiPlugin, {
      pool: fx.pool,
      redis: fx.redis,
      prefix: fx.prefix,
      graphiql: false,
      partitions: 4,
      commands,
      queueSettings: new QueueSettingsStore(fx.redis, fx.prefix),
      scheduleCommands: new ScheduleCommands(scheduleStore(fx.redis, fx.prefix), commands),
    });
    // Tasks submitted for real (UUIDv7 ids from the submission's clock), then run by hand.
    const now = Date.now();
    const submit = async (name: string, input: Record<string, unknown>, at: number) =>
      (ids[name] = (await commands.submit(input, noTrace, undefined, at)).id);
    await submit("old", { type: "img", priority: 2, metadata: { team: "a" } }, now - 60_000);
    await submit(
      "gpu",
      { type: "img", priority: 7, requires: { gpu: "a100" }, idempotencyKey: "k-9" },
      now - 30_000,
    );
    await submit("mail", { type: "mail", priority: 7, metadata: { team: "b" } }, now - 10_000);
    const t = now - 9_000;
    await fx.store.append(ids.gpu!, 1, [on.assigned(1, t + 200, "w-1"), on.started(1, t + 210, "w-1")]);
    await fx.store.append(ids.gpu!, 3, [on.succeeded(1, t + 1210, { done: true })]);
    await fx.store.append(ids.mail!, 1, [
      on.assigned(1, t + 5, "w-2"),
      on.started(1, t + 6, "w-2"),
      on.failed(1, t + 56, t + 100),
    ]);
    await projector.catchUp();
  });
  afterAll(async () => {
    await app?.close();
    await fx?.close();
  });

  it("serves stats over a window: counts by state, totals, rates, percentiles, series, workers", async () => {
    const answer = await graphql(`
      {
        stats(window: "15m") {
          total
          byState {
            state
            count
          }
          window {
            minutes
          }
          totals {
            submitted
            started
            succeeded
            failed
            retried
            failureRate
            retryRate
            scheduleToStart {
              count
              p50
              p99
            }
            runTime {
              count
              p50
            }
          }
          byType {
            type
            submitted
          }
          series(stepMinutes: 5) {
            at
            submitted
          }
          busiestWorkers {
            workerId
            succeeded
            failed
            busyMs
            connected
          }
          projection {
            lagMs
            partitionsBehind
          }
        }
        img: stats(window: "1h", type: "img", namespace: "ignored") {
          total
          totals {
            type
            submitted
          }
        }
      }
    `);
    expect(answer.errors).toBeUndefined();
    const stats = answer.data!.stats as Record<string, unknown> & {
      byState: { state: string; count: number }[];
      totals: Record<string, unknown> & {
        runTime: { p50: number };
        scheduleToStart: { count: number; p50: number };
      };
      series: { submitted: number }[];
    };
    expect(stats.total).toBe(3);
    expect(Object.fromEntries(stats.byState.map((s) => [s.state, s.count]))).toMatchObject({
      QUEUED: 2,
      SUCCEEDED: 1,
      RUNNING: 0,
    });
    expect(stats.totals).toMatchObject({ submitted: 3, started: 2, succeeded: 1, failed: 1, retried: 1 });
    expect(stats.totals.failureRate).toBeCloseTo(0.5);
    expect(stats.totals.retryRate).toBeCloseTo(0.5);
    expect(stats.totals.scheduleToStart.count).toBe(2);
    // One run of 1000 ms and one of 50 ms: the median falls in the 50 ms one's bucket (÷√2..×√2).
    expect(stats.totals.runTime.p50).toBeGreaterThan(50 / Math.SQRT2);
    expect(stats.totals.runTime.p50).toBeLessThan(50 * Math.SQRT2);
    expect(stats.series).toHaveLength(3);
    expect(stats.series.reduce((sum, p) => sum + p.submitted, 0)).toBe(3);
    expect(stats.byType).toEqual([
      { type: "img", submitted: 2 },
      { type: "mail", submitted: 1 },
    ]);
    expect(stats.busiestWorkers).toEqual([
      { workerId: "w-1", succeeded: 1, failed: 0, busyMs: 1000, connected: false },
      { workerId: "w-2", succeeded: 0, failed: 1, busyMs: 50, connected: false },
    ]);
    expect(stats.projection).toEqual({ lagMs: 0, partitionsBehind: 0 });
    expect(answer.data!.img).toEqual({ total: 2, totals: { type: "img", submitted: 2 } });

    const bad = await graphql(`
      {
        stats(window: "3 weeks") {
          total
        }
      }
    `);
    expect(bad.errors?.[0]).toMatchObject({ extensions: { code: "BAD_USER_INPUT" } });
    expect(bad.errors?.[0]?.message).toMatch(/^window: must be/);
  });

  it("filters tasks by priority, worker, labels, metadata, key and time, newest first with pages", async () => {
    const list = async (filter: Record<string, unknown>, extra = "") => {
      const answer = await graphql(
        `query ($filter: TaskFilter) { tasks(filter: $filter ${extra}) { edges { node { id } } pageInfo { hasNextPage endCursor } } }`,
        { filter },
      );
      expect(answer.errors).toBeUndefined();
      const tasks = answer.data!.tasks as { edges: { node: { id: string } }[] };
      return tasks.edges.map((e) => e.node.id);
    };
    expect(await list({ priority: 7 })).toEqual([ids.gpu, ids.mail]);
    expect(await list({ workerId: "w-1" })).toEqual([ids.gpu]);
    expect(await list({ requires: { gpu: "a100" } })).toEqual([ids.gpu]);
    expect(await list({ metadata: { team: "b" } })).toEqual([ids.mail]);
    expect(await list({ idempotencyKey: "k-9" })).toEqual([ids.gpu]);
    const now = Date.now();
    expect(await list({ createdAfter: new Date(now - 45_000).toISOString() })).toEqual([ids.gpu, ids.mail]);
    expect(await list({ createdBefore: new Date(now - 45_000).toISOString() })).toEqual([ids.old]);
    expect(await list({ updatedAfter: new Date(now - 9_500).toISOString(), type: "img" })).toEqual([ids.gpu]);
    expect(await list({}, "orderBy: NEWEST_FIRST")).toEqual([ids.mail, ids.gpu, ids.old]);
    // Pages newest first: the cursor continues in the same order.
    const page = await graphql(`
      {
        tasks(orderBy: NEWEST_FIRST, first: 2) {
          pageInfo {
            endCursor
          }
        }
      }
    `);
    const after = (page.data!.tasks as { pageInfo: { endCursor: string } }).pageInfo.endCursor;
    expect(await list({}, `orderBy: NEWEST_FIRST, after: "${after}"`)).toEqual([ids.old]);

    const bad = await graphql(`
      {
        tasks(filter: { priority: 12, metadata: ["x"] }) {
          edges {
            cursor
          }
        }
      }
    `);
    expect(bad.errors?.[0]?.extensions?.code).toBe("VALIDATION");
  });

  it("answers a task as it was (asOf a version or a time) and each event with the state after it", async () => {
    const answer = await graphql(
      `
        query ($id: ID!) {
          v2: task(id: $id, asOf: { version: 2 }) {
            state
            attempt
            workerId
            version
            result
          }
          now: task(id: $id) {
            state
            version
            events {
              version
              type
              state
            }
          }
          before: task(id: $id, asOf: { time: "2000-01-01T00:00:00Z" }) {
            id
          }
        }
      `,
      { id: ids.gpu },
    );
    expect(answer.errors).toBeUndefined();
    expect(answer.data!.v2).toEqual({
      state: "ASSIGNED",
      attempt: 1,
      workerId: "w-1",
      version: 2,
      result: null,
    });
    expect(answer.data!.before).toBeNull();
    expect((answer.data!.now as { events: unknown[] }).events).toEqual([
      { version: 1, type: "TaskSubmitted", state: "QUEUED" },
      { version: 2, type: "TaskAssigned", state: "ASSIGNED" },
      { version: 3, type: "TaskStarted", state: "RUNNING" },
      { version: 4, type: "TaskSucceeded", state: "SUCCEEDED" },
    ]);
    const past = await graphql(
      `
        query ($id: ID!) {
          task(id: $id, asOf: { version: 9 }) {
            id
          }
        }
      `,
      { id: ids.gpu },
    );
    expect(past.errors?.[0]?.message).toMatch(/has 4 events, not 9/);
    const both = await graphql(
      `
        query ($id: ID!) {
          task(id: $id, asOf: { version: 1, time: "2030-01-01T00:00:00Z" }) {
            id
          }
        }
      `,
      {
        id: ids.gpu,
      },
    );
    expect(both.errors?.[0]?.message).toMatch(/exactly one/);
  });

  it("lists queues with their counts and changes their limits; schedules say when they fire next", async () => {
    const changed = await graphql(`
      mutation {
        setQueue(type: "img", settings: { ratePerSecond: 5, maxBacklog: 100 }) {
          type
          ratePerSecond
          burst
          maxBacklog
        }
        setConcurrencyLimit(key: "tenant-1", maxRunning: 3) {
          key
          maxRunning
        }
      }
    `);
    expect(changed.errors).toBeUndefined();
    expect(changed.data!.setQueue).toEqual({ type: "img", ratePerSecond: 5, burst: 5, maxBacklog: 100 });
    const queues = await graphql(`
      {
        queues {
          type
          ratePerSecond
          waiting
          byState {
            state
            count
          }
        }
        concurrencyLimits {
          key
          maxRunning
        }
      }
    `);
    const list = queues.data!.queues as {
      type: string;
      ratePerSecond: number;
      byState: { state: string; count: number }[];
    }[];
    expect(list.map((q) => q.type)).toEqual(["img", "mail"]);
    expect(list[0]!.ratePerSecond).toBe(5);
    expect(list[0]!.byState.find((s) => s.state === "SUCCEEDED")?.count).toBe(1);
    expect(queues.data!.concurrencyLimits).toEqual([{ key: "tenant-1", maxRunning: 3 }]);
    const bad = await graphql(`
      mutation {
        setQueue(type: "img", settings: { ratePerSecond: -1 }) {
          type
        }
      }
    `);
    expect(bad.errors?.[0]?.extensions).toMatchObject({
      code: "VALIDATION",
      fields: [{ field: "ratePerSecond" }],
    });

    const created = await graphql(`
      mutation {
        createSchedule(input: { cron: "0 9 * * *", timeZone: "UTC", task: { type: "mail" } }) {
          id
          upcoming(first: 3)
        }
      }
    `);
    expect(created.errors).toBeUndefined();
    const upcoming = (created.data!.createSchedule as { upcoming: string[] }).upcoming.map(
      (t) => new Date(t),
    );
    expect(upcoming).toHaveLength(3);
    for (const time of upcoming) expect(time.getUTCHours()).toBe(9);
    expect(upcoming[1]!.getTime() - upcoming[0]!.getTime()).toBe(86_400_000);
  });
});
