import { ANONYMOUS } from "../auth/principal.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import Fastify, { type FastifyInstance } from "fastify";
import { TasksProjector } from "../projections/tasks-projector.ts";
import {
  createReadModelFixture,
  newTaskId,
  on,
  succeededLife,
  taskSpec,
  type ReadModelFixture,
} from "../projections/testing/read-model-fixture.ts";
import { taskFromLog } from "./log-fallback.ts";
import { readApiPlugin } from "./plugin.ts";

const T0 = Date.parse("2030-01-01T00:00:00.000Z");

/** The read API over a fixture's read model and log. */
async function readApiOn(fx: ReadModelFixture): Promise<FastifyInstance> {
  const app = Fastify();
  await app.register(readApiPlugin, {
    authenticate: async () => ANONYMOUS,
    pool: fx.pool,
    redis: fx.redis,
    prefix: fx.prefix,
    graphiql: true,
    getTaskFromLog: taskFromLog(fx.store),
  });
  return app;
}

interface GraphQLReply<T> {
  data: T | null;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

describe("read API over GraphQL", () => {
  let fx: ReadModelFixture;
  let app: FastifyInstance;
  const done = newTaskId();
  const paged: string[] = [];

  const graphqlOn = async <T>(
    target: FastifyInstance,
    query: string,
    variables: Record<string, unknown> = {},
  ): Promise<GraphQLReply<T>> => {
    const reply = await target.inject({ method: "POST", url: "/graphql", payload: { query, variables } });
    expect(reply.statusCode).toBe(200);
    return reply.json<GraphQLReply<T>>();
  };
  const graphql = <T>(query: string, variables: Record<string, unknown> = {}) =>
    graphqlOn<T>(app, query, variables);

  beforeAll(async () => {
    fx = await createReadModelFixture("gql");
    await fx.store.append(
      done,
      0,
      succeededLife(T0, { answer: 42 }, taskSpec({ type: "echo", priority: 9 })),
    );
    // Seven "page" tasks, three of them created in the same millisecond: the id breaks the tie.
    for (let i = 0; i < 7; i++) {
      const id = newTaskId();
      paged.push(id);
      const events = [on.submitted(T0 + 100 + Math.min(i, 3), taskSpec({ type: "page" }))];
      if (i % 2 === 1) events.push(on.assigned(1, T0 + 200));
      await fx.store.append(id, 0, events);
    }
    await new TasksProjector({ store: fx.store, redis: fx.redis, pool: fx.pool }).catchUp();
    app = await readApiOn(fx);
  });
  afterAll(async () => {
    try {
      await app?.close();
    } finally {
      await fx?.close();
    }
  });

  it("answers a task by id with its events, batched from task_events", async () => {
    const { data, errors } = await graphql<{ task: Record<string, unknown> }>(
      `
        query ($id: ID!) {
          task(id: $id) {
            id
            type
            state
            priority
            attempt
            maxAttempts
            payload
            result
            lastError {
              message
            }
            cancelRequested
            workerId
            createdAt
            updatedAt
            availableAt
            version
            events {
              version
              type
              at
              data
            }
          }
        }
      `,
      { id: done },
    );
    expect(errors).toBeUndefined();
    expect(data!.task).toMatchObject({
      id: done,
      type: "echo",
      state: "SUCCEEDED",
      priority: 9,
      attempt: 1,
      maxAttempts: 5,
      payload: { hello: "world" },
      result: { answer: 42 },
      lastError: null,
      cancelRequested: false,
      workerId: "worker-1",
      createdAt: new Date(T0).toISOString(),
      updatedAt: new Date(T0 + 3).toISOString(),
      availableAt: null,
      version: 4,
    });
    const events = data!.task.events as {
      version: number;
      type: string;
      at: string;
      data: Record<string, unknown>;
    }[];
    expect(events.map((e) => [e.version, e.type])).toEqual([
      [1, "TaskSubmitted"],
      [2, "TaskAssigned"],
      [3, "TaskStarted"],
      [4, "TaskSucceeded"],
    ]);
    expect(events[3]!.data).toEqual({ attempt: 1, result: { answer: 42 }, completedAt: T0 + 3 });
    expect(Date.parse(events[0]!.at)).toBeGreaterThan(0);
  });

  it("answers null for an unknown task, and a not yet projected task from the log", async () => {
    expect(
      (
        await graphql(`
          {
            task(id: "nope") {
              id
            }
          }
        `)
      ).data,
    ).toEqual({ task: null });
    const pending = newTaskId();
    await fx.store.append(pending, 0, [on.submitted(T0 + 5000)]);
    const { data } = await graphql<{ task: unknown }>(
      `
        query ($id: ID!) {
          task(id: $id) {
            id
            state
            version
            events {
              type
            }
          }
        }
      `,
      { id: pending },
    );
    expect(data!.task).toEqual({ id: pending, state: "QUEUED", version: 1, events: [] });
  });

  it("pages through filtered tasks in id (creation) order with opaque cursors", async () => {
    const query = `query($filter: TaskFilter, $first: Int, $after: String) {
      tasks(filter: $filter, first: $first, after: $after) { edges { cursor node { id createdAt } } pageInfo { hasNextPage endCursor } } }`;
    type Page = {
      tasks: {
        edges: { cursor: string; node: { id: string; createdAt: string } }[];
        pageInfo: { hasNextPage: boolean; endCursor: string | null };
      };
    };
    const seen: string[] = [];
    const pages: boolean[] = [];
    let after: string | null = null;
    do {
      const reply: GraphQLReply<Page> = await graphql<Page>(query, {
        filter: { type: "page" },
        first: 3,
        after,
      });
      expect(reply.errors).toBeUndefined();
      const { edges, pageInfo } = reply.data!.tasks;
      seen.push(...edges.map((edge) => edge.node.id));
      expect(pageInfo.endCursor).toBe(edges.at(-1)!.cursor);
      pages.push(pageInfo.hasNextPage);
      after = pageInfo.hasNextPage ? pageInfo.endCursor : null;
    } while (after);
    expect(seen).toEqual([...paged].sort());
    expect(pages).toEqual([true, true, false]);

    const assigned = await graphql<Page>(query, { filter: { type: "page", state: "ASSIGNED" }, first: 10 });
    expect(assigned.data!.tasks.edges.map((e) => e.node.id).sort()).toEqual(
      paged.filter((_, i) => i % 2 === 1).sort(),
    );
    expect(assigned.data!.tasks.pageInfo).toMatchObject({ hasNextPage: false });
  });

  it("refuses `first` outside 1..500 with an error naming it", async () => {
    for (const first of [0, 501]) {
      const reply = await graphql(
        `
          query ($first: Int) {
            tasks(first: $first) {
              edges {
                cursor
              }
            }
          }
        `,
        { first },
      );
      expect(reply.data).toBeNull();
      expect(reply.errors![0]!.message).toMatch(/^first: must be between 1 and 500/);
      expect(reply.errors![0]!.extensions).toMatchObject({ code: "BAD_USER_INPUT", argument: "first" });
    }
  });

  it("refuses a malformed cursor with an error naming `after`", async () => {
    for (const after of ["not a cursor!", Buffer.from("hello").toString("base64url")]) {
      const reply = await graphql(
        `
          query ($after: String) {
            tasks(after: $after) {
              edges {
                cursor
              }
            }
          }
        `,
        { after },
      );
      expect(reply.errors![0]!.message).toMatch(/^after: not a cursor/);
      expect(reply.errors![0]!.extensions).toMatchObject({ argument: "after" });
    }
  });

  it("counts tasks by state, in a read model that holds only this test's tasks", async () => {
    // Counts cover the whole read model: this test has one of its own, so no other test's tasks count.
    const own = await createReadModelFixture("gql-stats");
    const ownApp = await readApiOn(own);
    try {
      const histories = [
        succeededLife(T0),
        [on.submitted(T0)],
        [on.submitted(T0)],
        [on.submitted(T0), on.assigned(1, T0 + 1)],
        [on.submitted(T0), on.assigned(1, T0 + 1), on.started(1, T0 + 2)],
        [on.submitted(T0), on.cancelled(T0 + 1)],
      ];
      for (const events of histories) await own.store.append(newTaskId(), 0, events);
      await new TasksProjector({ store: own.store, redis: own.redis, pool: own.pool }).catchUp();
      const { data } = await graphqlOn<{
        stats: { byState: { state: string; count: number }[]; total: number };
      }>(
        ownApp,
        `
        {
          stats {
            byState {
              state
              count
            }
            total
          }
        }
      `,
      );
      expect(data!.stats.total).toBe(6);
      expect(Object.fromEntries(data!.stats.byState.map((s) => [s.state, s.count]))).toEqual({
        QUEUED: 2,
        ASSIGNED: 1,
        RUNNING: 1,
        SUCCEEDED: 1,
        DEAD_LETTERED: 0,
        CANCELLED: 1,
      });
    } finally {
      await ownApp.close();
      await own.close();
    }
  });

  it("serves GraphiQL when asked, every file from this server (it works offline)", async () => {
    const page = await app.inject({ method: "GET", url: "/graphiql" });
    expect(page.statusCode).toBe(200);
    const script = await app.inject({ method: "GET", url: "/graphiql/main.js" });
    expect(script.statusCode).toBe(200);
    for (const text of [page.body, script.body])
      expect(text).not.toMatch(/unpkg|jsdelivr|https?:\/\/(?!localhost)/);
    const assets = [...new Set(script.body.match(/\/graphiql\/vendor\/[\w.-]+/g) ?? [])];
    expect(assets).toHaveLength(4);
    for (const asset of assets) {
      const file = await app.inject({ method: "GET", url: asset });
      expect(file.statusCode, asset).toBe(200);
      expect(file.body.length).toBeGreaterThan(1000);
    }
    expect((await app.inject({ method: "GET", url: "/graphiql/vendor/../../package.json" })).statusCode).toBe(
      404,
    );
  });
});
