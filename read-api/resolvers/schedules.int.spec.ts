import { ANONYMOUS } from "../../auth/principal.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import Fastify, { type FastifyInstance } from "fastify";
import { TaskCommands } from "../../commands/task-commands.ts";
import { ScheduleCommands } from "../../commands/schedules/schedule-commands.ts";
import { scheduleStore } from "../../event-store/schedule-store.ts";
import { Scheduler, type SchedulerEvents } from "../../dispatcher/schedules/scheduler.ts";
import { firingKey } from "../../dispatcher/schedules/firing.ts";
import { SchedulesProjector } from "../../projections/schedules/schedules-projector.ts";
import { TasksProjector } from "../../projections/tasks-projector.ts";
import {
  createReadModelFixture,
  type ReadModelFixture,
} from "../../projections/testing/read-model-fixture.ts";
import { announced } from "../../tests/support/signals.ts";
import { readApiPlugin } from "../plugin.ts";

interface GraphQLResult {
  data: Record<string, unknown> | null;
  errors?: { message: string; extensions?: { code?: string; fields?: { field: string }[] } }[];
}

describe("GraphQL: schedules, their firings and history", () => {
  let fixture: ReadModelFixture;
  let app: FastifyInstance;
  let schedules: ScheduleCommands;
  let projectors: { tasks: TasksProjector; schedules: SchedulesProjector };
  let scheduler: Scheduler;
  const graphql = async (query: string, variables: Record<string, unknown> = {}) =>
    (
      await app.inject({ method: "POST", url: "/graphql", payload: { query, variables } })
    ).json<GraphQLResult>();
  const project = async () => {
    await projectors.schedules.catchUp();
    await projectors.tasks.catchUp();
  };

  beforeAll(async () => {
    fixture = await createReadModelFixture("sched-gql");
    const tasks = new TaskCommands(fixture.store, { maxPayloadBytes: 1 << 20 });
    const store = scheduleStore(fixture.redis, fixture.prefix);
    schedules = new ScheduleCommands(store, tasks);
    const { redis, pool } = fixture;
    projectors = {
      tasks: new TasksProjector({ store: fixture.store, redis, pool }),
      schedules: new SchedulesProjector({ store, pool }),
    };
    const log = { info: () => undefined, warn: () => undefined, error: () => undefined };
    scheduler = new Scheduler({ store, tasks, log });
    app = Fastify();
    await app.register(readApiPlugin, {
      authenticate: async () => ANONYMOUS,
      pool,
      redis,
      prefix: fixture.prefix,
      graphiql: false,
      commands: tasks,
      scheduleCommands: schedules,
    });
  });
  afterAll(async () => {
    await scheduler.stop();
    await app.close();
    await fixture.close();
  });

  it("creates, pauses and resumes through mutations; firings and history show in queries", async () => {
    const created = await graphql(
      `
        mutation ($input: ScheduleInput!) {
          createSchedule(input: $input) {
            id
            status
            cron
            timeZone
            catchUp
            task
            nextFireAt
            firingCount
          }
        }
      `,
      { input: { cron: "* * * * * *", timeZone: "Europe/Berlin", task: { type: "gql", payload: { a: 1 } } } },
    );
    expect(created.errors).toBeUndefined();
    const schedule = created.data!.createSchedule as { id: string };
    expect(schedule).toMatchObject({
      status: "ACTIVE",
      catchUp: "LATEST",
      task: { type: "gql", payload: { a: 1 } },
    });
    const { id } = schedule;
    // Not projected yet: answered from the log.
    expect((await graphql(`{ schedule(id: "${id}") { id status } }`)).data).toEqual({
      schedule: { id, status: "ACTIVE" },
    });

    let firings = 0;
    const second = announced(
      scheduler,
      "fired",
      (firing: SchedulerEvents["fired"][0]) => firing.scheduleId === id && ++firings >= 2,
    );
    await scheduler.start(1);
    await second;
    await scheduler.stop();
    expect((await graphql(`mutation { pauseSchedule(id: "${id}") { status nextFireAt } }`)).data).toEqual({
      pauseSchedule: { status: "PAUSED", nextFireAt: null },
    });
    await project();

    const read = await graphql(`{
      schedule(id: "${id}") {
        status firingCount lastFiredAt
        firings(first: 2) { fireAt taskId error task { id idempotencyKey type } }
        all: firings { fireAt }
        history { version type }
      }
    }`);
    expect(read.errors).toBeUndefined();
    const node = read.data!.schedule as {
      firingCount: number;
      lastFiredAt: string;
      firings: {
        fireAt: string;
        taskId: string;
        task: { id: string; idempotencyKey: string; type: string };
      }[];
      history: { type: string }[];
    };
    expect(node).toMatchObject({ status: "PAUSED" });
    expect(node.firings).toHaveLength(2);
    expect((node as unknown as { all: unknown[] }).all).toHaveLength(node.firingCount); // default first: 20
    expect(Date.parse(node.firings[0]!.fireAt)).toBeGreaterThan(Date.parse(node.firings[1]!.fireAt)); // newest first
    expect(node.firings[0]!.fireAt).toBe(node.lastFiredAt);
    for (const firing of node.firings) {
      expect(firing.task).toEqual({
        id: firing.taskId,
        idempotencyKey: firingKey(id, Date.parse(firing.fireAt)),
        type: "gql",
      });
    }
    const types = node.history.map((e) => e.type);
    expect(types[0]).toBe("ScheduleCreated");
    expect(types.filter((t) => t === "ScheduleFired")).toHaveLength(node.firingCount);
    expect(types.at(-1)).toBe("SchedulePaused");

    expect((await graphql(`mutation { resumeSchedule(id: "${id}") { status } }`)).data).toEqual({
      resumeSchedule: { status: "ACTIVE" },
    });
  });

  it("lists by status with cursor pagination", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++)
      ids.push((await schedules.create({ cron: "@daily", task: { type: "page" } })).id);
    await schedules.pause(ids[1]!);
    await project();
    const page = async (after: string | null) =>
      (
        await graphql(
          `
            query ($after: String) {
              schedules(status: ACTIVE, first: 1, after: $after) {
                edges {
                  node {
                    id
                  }
                  cursor
                }
                pageInfo {
                  hasNextPage
                  endCursor
                }
              }
            }
          `,
          { after },
        )
      ).data!.schedules as {
        edges: { node: { id: string } }[];
        pageInfo: { hasNextPage: boolean; endCursor: string };
      };
    const seen: string[] = [];
    let after: string | null = null;
    for (let more = true; more;) {
      const result = await page(after);
      seen.push(...result.edges.map((e) => e.node.id));
      more = result.pageInfo.hasNextPage;
      after = result.pageInfo.endCursor;
    }
    expect(seen).toContain(ids[0]);
    expect(seen).toContain(ids[2]);
    expect(seen).not.toContain(ids[1]);
    expect(seen).toEqual([...seen].sort());
  });

  it("answers bad input with the field, unknown ids with NOT_FOUND, illegal transitions with ILLEGAL_STATE", async () => {
    const invalid = await graphql(`
      mutation {
        createSchedule(input: { cron: "every day", timeZone: "Moon/Base", task: { type: "x" } }) {
          id
        }
      }
    `);
    expect(invalid.errors?.[0]?.extensions?.code).toBe("VALIDATION");
    expect(invalid.errors?.[0]?.extensions?.fields?.map((f) => f.field).sort()).toEqual(["cron", "timeZone"]);
    const unknown = await graphql(`
      mutation {
        pauseSchedule(id: "nope") {
          id
        }
      }
    `);
    expect(unknown.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    const { id } = await schedules.create({ cron: "@daily", task: { type: "x" } });
    await schedules.delete(id);
    const illegal = await graphql(`mutation { resumeSchedule(id: "${id}") { id } }`);
    expect(illegal.errors?.[0]?.extensions?.code).toBe("ILLEGAL_STATE");
    expect((await schedules.get(id)).status).toBe("DELETED");
    expect(
      (
        await graphql(`
          {
            schedule(id: "nope") {
              id
            }
          }
        `)
      ).data,
    ).toEqual({ schedule: null });
  });
});
