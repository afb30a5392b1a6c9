import { ANONYMOUS } from "../auth/principal.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import Fastify, { type FastifyInstance } from "fastify";
import { TasksProjector } from "../projections/tasks-projector.ts";
import {
  createReadModelFixture,
  newTaskId,
  on,
  taskSpec,
  type ReadModelFixture,
} from "../projections/testing/read-model-fixture.ts";
import { readApiPlugin } from "./plugin.ts";

const T0 = Date.parse("2030-01-01T00:00:00.000Z");

interface Reply {
  data: Record<string, unknown> | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

/** Runaway queries are refused before they run, or stopped while they run; errors leak nothing. */
describe("GraphQL limits", () => {
  let fx: ReadModelFixture;
  let app: FastifyInstance;
  const long = newTaskId();
  const big: string[] = [];

  const post = async (query: string, variables: Record<string, unknown> = {}) => {
    const reply = await app.inject({ method: "POST", url: "/graphql", payload: { query, variables } });
    return { status: reply.statusCode, body: reply.json<Reply>() };
  };

  beforeAll(async () => {
    fx = await createReadModelFixture("gqllimits");
    // One task with a long history: 250 progress events.
    const events = [on.submitted(T0), on.assigned(1, T0 + 1), on.started(1, T0 + 2)];
    for (let i = 0; i < 250; i++) events.push(on.progress(1, T0 + 3 + i, { step: i }));
    await fx.store.append(long, 0, events);
    // Ten tasks with 100 KB payloads.
    for (let i = 0; i < 10; i++) {
      const id = newTaskId();
      big.push(id);
      await fx.store.append(id, 0, [
        on.submitted(T0, taskSpec({ type: "big", payload: "x".repeat(100_000) })),
      ]);
    }
    await new TasksProjector({ store: fx.store, redis: fx.redis, pool: fx.pool }).catchUp();
    app = Fastify();
    await app.register(readApiPlugin, {
      authenticate: async () => ANONYMOUS,
      pool: fx.pool,
      redis: fx.redis,
      prefix: fx.prefix,
      graphiql: false,
      responseLimits: { timeoutMs: 10_000, maxResponseBytes: 500_000 },
    });
  });
  afterAll(async () => {
    await app.close();
    await fx.close();
  });

  it("refuses 60 aliases of a 500-task page before running anything", async () => {
    const aliases = Array.from(
      { length: 60 },
      (_, i) => `a${i}: tasks(first: 500) { edges { node { id } } }`,
    );
    const { status, body } = await post(`{ ${aliases.join(" ")} }`);
    expect(status).toBe(400);
    expect(body.errors?.[0]?.message).toMatch(/more than 50 aliases/);
    expect(body.errors?.[0]?.extensions?.code).toBe("QUERY_TOO_COMPLEX");
  });

  it("stops parsing a document of more tokens than any query needs: 5,000 aliases are refused by the parser", async () => {
    const aliases = Array.from(
      { length: 5000 },
      (_, i) => `a${i}: tasks(first: 500) { edges { node { id } } }`,
    );
    const { status, body } = await post(`{ ${aliases.join(" ")} }`);
    expect(status).toBe(400);
    expect(body.errors?.[0]?.message).toMatch(/Document contains more that 10000 tokens/);
  });

  it("refuses a query whose lists multiply past the object limit, counting `first` given as a variable", async () => {
    const query = `query ($n: Int) {
      a: tasks(first: $n) { edges { node { id events(first: 500) { type } } } }
      b: tasks(first: $n) { edges { node { id events(first: 500) { type } } } }
    }`;
    const { status, body } = await post(query, { n: 500 });
    expect(status).toBe(400);
    expect(body.errors?.[0]?.message).toMatch(/more than 100000 objects/);
    expect((await post(query, { n: 5 })).status).toBe(200);
  });

  it("refuses nesting deeper than the limit, through fragments too", async () => {
    const nest = (levels: number) => {
      let inner = "name";
      for (let i = 0; i < levels; i++) inner = `ofType { ${inner} }`;
      return inner;
    };
    const shallow = await post(`{ __schema { types { fields { type { ${nest(3)} } } } } }`);
    expect(shallow.status).toBe(200);
    const tooDeep = await post(`{ __schema { types { fields { type { ${nest(10)} } } } } }`);
    expect(tooDeep.status).toBe(400);
    expect(tooDeep.body.errors?.[0]?.message).toMatch(/deeper than 12 levels/);
    const throughFragment = await post(
      `{ __schema { types { fields { type { ...Deep } } } } } fragment Deep on __Type { ${nest(10)} }`,
    );
    expect(throughFragment.status).toBe(400);
    expect(throughFragment.body.errors?.[0]?.message).toMatch(/deeper than 12 levels/);
  });

  it("pages a task's events by version", async () => {
    const page = async (after: number, first: number) => {
      const { body } = await post(
        `{ task(id: "${long}") { events(after: ${after}, first: ${first}) { version } } }`,
      );
      return (body.data?.task as { events: { version: number }[] }).events.map((e) => e.version);
    };
    expect(await page(0, 3)).toEqual([1, 2, 3]);
    expect(await page(250, 100)).toEqual([251, 252, 253]);
    const all: number[] = [];
    for (let after = 0; ;) {
      const versions = await page(after, 100);
      if (versions.length === 0) break;
      all.push(...versions);
      after = versions.at(-1)!;
    }
    expect(all).toEqual(Array.from({ length: 253 }, (_, i) => i + 1));
    const { body } = await post(`{ task(id: "${long}") { events(first: 501) { version } } }`);
    expect(body.errors?.[0]?.message).toMatch(/first: must be between 1 and 500/);
  });

  it("stops resolving once the answer passes its size limit, with a clear error", async () => {
    const { body } = await post(
      `{ tasks(first: 20, filter: { type: "big" }) { edges { node { id payload } } } }`,
    );
    expect(body.errors?.some((e) => e.extensions?.code === "RESPONSE_TOO_LARGE")).toBe(true);
    expect(body.errors?.[0]?.message).toMatch(/response exceeds 500000 bytes/);
    const small = await post(
      `{ tasks(first: 2, filter: { type: "big" }) { edges { node { id payload } } } }`,
    );
    expect(small.body.errors).toBeUndefined();
  });

  it("answers batched queries with an error instead of running them all", async () => {
    const reply = await app.inject({
      method: "POST",
      url: "/graphql",
      payload: [{ query: "{ stats { total } }" }, { query: "{ stats { total } }" }],
    });
    expect(reply.statusCode).toBeGreaterThanOrEqual(400);
  });
});
