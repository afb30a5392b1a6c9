import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { credentials, Metadata, status } from "@grpc/grpc-js";
import {
  TaskServiceClient,
  type ListTasksRequest,
  type ListTasksResponse,
} from "../proto/gen/taskstream/v1/tasks.ts";
import { ScheduleServiceClient } from "../proto/gen/taskstream/v1/schedules.ts";
import { LimitsServiceClient } from "../proto/gen/taskstream/v1/limits.ts";
import type { RunningServer } from "../cli/server.ts";
import { eventually, startTestServer } from "../tests/support/server.ts";
import { openWs } from "../tests/support/ws-client.ts";
import type { Scope } from "./principal.ts";

/** A unary gRPC call with a key: its status code, and its answer when OK. */
function unary<Req, Res>(
  call: (
    request: Req,
    metadata: Metadata,
    callback: (error: { code?: number } | null, response: Res) => void,
  ) => unknown,
  request: Req,
  key: string,
): Promise<{ code: number; response?: Res }> {
  const metadata = new Metadata();
  metadata.set("authorization", `Bearer ${key}`);
  return new Promise((resolve) =>
    call(request, metadata, (error, response) =>
      resolve(error ? { code: error.code ?? -1 } : { code: status.OK, response }),
    ),
  );
}

describe("namespaces: a key sees and changes only its own", () => {
  let server: RunningServer;
  let http: string;
  let tasks: TaskServiceClient;
  let schedules: ScheduleServiceClient;
  const key: Record<"a" | "b" | "operator" | "adminA", string> = { a: "", b: "", operator: "", adminA: "" };
  const keyIds: Record<string, string> = {};

  beforeAll(async () => {
    server = await startTestServer({ auth: "required" }, "ns");
    http = server.httpUrl;
    tasks = new TaskServiceClient(server.grpcAddress, credentials.createInsecure());
    schedules = new ScheduleServiceClient(server.grpcAddress, credentials.createInsecure());
    const make = async (name: keyof typeof key, namespaces: string[], scopes: Scope[]) => {
      const made = await server.keys.create({
        name,
        namespaces,
        scopes,
        taskTypes: null,
      });
      key[name] = made.key;
      keyIds[name] = made.record.id;
    };
    await make("a", ["team-a"], ["submit", "read", "cancel"]);
    await make("b", ["team-b"], ["submit", "read", "cancel"]);
    await make("operator", ["*"], ["read", "admin"]);
    await make("adminA", ["team-a"], ["read", "admin"]);
  });
  afterAll(async () => {
    tasks?.close();
    schedules?.close();
    await server?.close();
  });

  const rest = async (method: string, path: string, as: string, body?: unknown) => {
    const response = await fetch(`${http}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${as}`,
        ...(method === "GET" ? {} : { "content-type": "application/json" }),
      },
      body: method === "GET" ? undefined : JSON.stringify(body ?? {}),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const graphql = async (as: string, query: string, variables: Record<string, unknown> = {}) =>
    (await rest("POST", "/graphql", as, { query, variables })).body as {
      data?: Record<string, unknown> | null;
      errors?: { extensions?: { code?: string } }[];
    };

  it("REST: a task lives in its key's namespace; another key finds nothing and cannot name it", async () => {
    const created = await rest("POST", "/v1/tasks", key.a, { type: "echo", idempotencyKey: "same" });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const seen = await rest("GET", `/v1/tasks/${id}`, key.a);
    expect(seen.body.namespace).toBe("team-a");
    // Another tenant: not found, whatever it tries, and nothing is written.
    expect((await rest("GET", `/v1/tasks/${id}`, key.b)).status).toBe(404);
    expect((await rest("GET", `/v1/tasks/${id}/history`, key.b)).status).toBe(404);
    expect((await rest("POST", `/v1/tasks/${id}/cancel`, key.b)).status).toBe(404);
    expect((await rest("GET", `/v1/tasks/${id}/history`, key.a)).body.events).toHaveLength(1);
    // Naming a namespace the key does not hold: 403, naming the field.
    const denied = await rest("POST", "/v1/tasks", key.b, { type: "echo", namespace: "team-a" });
    expect(denied.status).toBe(403);
    expect((denied.body.error as { code: string }).code).toBe("PERMISSION_DENIED");
    const invalid = await rest("POST", "/v1/tasks", key.b, { type: "echo", namespace: "Team B!" });
    expect(invalid.status).toBe(400);
    expect(JSON.stringify(invalid.body)).toContain('"field":"namespace"');
    // The same idempotency key in two namespaces names two tasks.
    const other = await rest("POST", "/v1/tasks", key.b, { type: "echo", idempotencyKey: "same" });
    expect(other.status).toBe(201);
    expect(other.body.id).not.toBe(id);
    const again = await rest("POST", "/v1/tasks", key.a, { type: "echo", idempotencyKey: "same" });
    expect(again).toMatchObject({ status: 200, body: { id, deduplicated: true } });
  });

  it("records the key as the actor of what it caused, in the history and in GraphQL", async () => {
    const { body } = await rest("POST", "/v1/tasks", key.a, { type: "echo", delayMs: 3_600_000 });
    const id = body.id as string;
    expect((await rest("POST", `/v1/tasks/${id}/cancel`, key.a, { reason: "no" })).status).toBe(200);
    const history = (await rest("GET", `/v1/tasks/${id}/history`, key.a)).body.events as {
      type: string;
      data: { actor?: string };
    }[];
    expect(history.map((event) => [event.type, event.data.actor])).toEqual([
      ["TaskSubmitted", `k:${keyIds.a}`],
      ["TaskCancelled", `k:${keyIds.a}`],
    ]);
    const events = await eventually(async () => {
      const answer = await graphql(
        key.a,
        `
          query ($id: ID!) {
            task(id: $id) {
              events {
                type
                actor
                actorDescription
              }
            }
          }
        `,
        {
          id,
        },
      );
      const list = (answer.data?.task as { events: unknown[] } | null)?.events;
      return list && list.length === 2 ? list : undefined;
    });
    expect(events).toEqual([
      { type: "TaskSubmitted", actor: `k:${keyIds.a}`, actorDescription: `key ${keyIds.a}` },
      { type: "TaskCancelled", actor: `k:${keyIds.a}`, actorDescription: `key ${keyIds.a}` },
    ]);
  });

  it("GraphQL: another tenant's task is null, listings hold only the key's namespaces", async () => {
    const mine = (await rest("POST", "/v1/tasks", key.b, { type: "echo" })).body.id as string;
    const theirs = (await rest("POST", "/v1/tasks", key.a, { type: "echo" })).body.id as string;
    const taskQuery = `query($id: ID!) { task(id: $id) { id namespace } }`;
    await eventually(async () =>
      (await graphql(key.b, taskQuery, { id: mine })).data?.task ? true : undefined,
    );
    expect((await graphql(key.b, taskQuery, { id: theirs })).data?.task).toBeNull();
    await eventually(async () =>
      (await graphql(key.a, taskQuery, { id: theirs })).data?.task ? true : undefined,
    );
    type Edges = { edges: { node: { id: string; namespace: string } }[] };
    const newest = "{ tasks(first: 500, orderBy: NEWEST_FIRST) { edges { node { id namespace } } } }";
    const nodes = await eventually(async () => {
      const edges = ((await graphql(key.b, newest)).data?.tasks as Edges).edges;
      return edges.some((edge) => edge.node.id === mine) ? edges : undefined;
    });
    expect(nodes.map((edge) => edge.node.id)).toContain(mine);
    expect(new Set(nodes.map((edge) => edge.node.namespace))).toEqual(new Set(["team-b"]));
    const named = await graphql(
      key.b,
      `
        {
          tasks(filter: { namespace: "team-a" }) {
            edges {
              node {
                id
              }
            }
          }
        }
      `,
    );
    expect(named.errors?.[0]?.extensions?.code).toBe("PERMISSION_DENIED");
    // Views over every tenant need a key for every namespace.
    expect(
      (
        await graphql(
          key.b,
          `
            {
              stats {
                total
              }
            }
          `,
        )
      ).errors?.[0]?.extensions?.code,
    ).toBe("PERMISSION_DENIED");
    expect(
      (
        await graphql(
          key.operator,
          `
            {
              stats {
                total
              }
            }
          `,
        )
      ).errors,
    ).toBeUndefined();
    const cancel = await graphql(
      key.b,
      `
        mutation ($id: ID!) {
          cancelTask(id: $id) {
            id
          }
        }
      `,
      { id: theirs },
    );
    expect(cancel.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
  });

  it("subscriptions carry only the key's namespaces", async () => {
    const url = `${http.replace("http", "ws")}/graphql`;
    const subscribe = {
      id: "1",
      type: "subscribe",
      payload: { query: "subscription { tasksUpdated { id } }" },
    };
    const socketA = await openWs(url, { authorization: `Bearer ${key.a}` });
    const socketB = await openWs(url, { authorization: `Bearer ${key.b}` });
    try {
      for (const socket of [socketA, socketB]) {
        expect(await socket.next((m) => m.type === "connection_ack")).toBeDefined();
        socket.send(subscribe);
      }
      const idOf = (m: { payload?: unknown }) =>
        (m.payload as { data?: { tasksUpdated?: { id: string } } }).data?.tasksUpdated?.id;
      // A's task is published and delivered to A before B's task exists; B's socket receives in
      // publication order, so had A's update reached B, it would come before B's own.
      const theirs = (await rest("POST", "/v1/tasks", key.a, { type: "echo" })).body.id as string;
      expect(await socketA.next((m) => m.type === "next" && idOf(m) === theirs, 15_000)).toBeDefined();
      const mine = (await rest("POST", "/v1/tasks", key.b, { type: "echo" })).body.id as string;
      const seenByB: (string | undefined)[] = [];
      await eventually(async () => {
        const message = await socketB.next((m) => m.type === "next", 500);
        if (message) seenByB.push(idOf(message));
        return seenByB.includes(mine) ? true : undefined;
      }, 15_000);
      expect(seenByB).not.toContain(theirs);
    } finally {
      socketA.close();
      socketB.close();
    }
  });

  it("gRPC: another tenant's task is NOT_FOUND; listings hold only the key's namespaces", async () => {
    const id = (await rest("POST", "/v1/tasks", key.a, { type: "echo" })).body.id as string;
    expect((await unary(tasks.getTask.bind(tasks), { id }, key.a)).code).toBe(status.OK);
    expect((await unary(tasks.getTask.bind(tasks), { id }, key.b)).code).toBe(status.NOT_FOUND);
    expect((await unary(tasks.getTaskHistory.bind(tasks), { id }, key.b)).code).toBe(status.NOT_FOUND);
    expect((await unary(tasks.cancelTask.bind(tasks), { id, reason: "" }, key.b)).code).toBe(
      status.NOT_FOUND,
    );
    const listing = await eventually(async () => {
      const answer = await unary<ListTasksRequest, ListTasksResponse>(
        tasks.listTasks.bind(tasks),
        { namespace: "", state: "", type: "", pageSize: 500, pageToken: "" },
        key.a,
      );
      return answer.response?.tasks.some((task) => task.id === id) ? answer.response : undefined;
    });
    const ofB = await unary<ListTasksRequest, ListTasksResponse>(
      tasks.listTasks.bind(tasks),
      { namespace: "", state: "", type: "", pageSize: 500, pageToken: "" },
      key.b,
    );
    expect(ofB.response?.tasks.map((task) => task.id)).not.toContain(id);
    expect(listing.tasks.length).toBeGreaterThan(0);
  });

  it("schedules belong to their template's namespace", async () => {
    const created = await rest("POST", "/v1/schedules", key.a, { cron: "0 0 1 1 *", task: { type: "echo" } });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    expect((await rest("GET", `/v1/schedules/${id}`, key.a)).status).toBe(200);
    expect((await rest("GET", `/v1/schedules/${id}`, key.b)).status).toBe(404);
    expect((await rest("POST", `/v1/schedules/${id}/pause`, key.b)).status).toBe(404);
    const listed = (await rest("GET", "/v1/schedules", key.b)).body.schedules as { id: string }[];
    expect(listed.map((schedule) => schedule.id)).not.toContain(id);
    expect((await unary(schedules.getSchedule.bind(schedules), { id }, key.b)).code).toBe(status.NOT_FOUND);
    const denied = await rest("POST", "/v1/schedules", key.b, {
      cron: "0 0 1 1 *",
      task: { type: "echo", namespace: "team-a" },
    });
    expect(denied.status).toBe(403);
  });

  it("queue settings are the cluster's: only an admin key for every namespace sees or sets them", async () => {
    expect((await rest("PUT", "/v1/queues/echo", key.adminA, { ratePerSecond: 5 })).status).toBe(403);
    expect((await rest("GET", "/v1/queues", key.adminA)).status).toBe(403);
    expect((await rest("PUT", "/v1/queues/echo", key.operator, { ratePerSecond: 5 })).status).toBe(200);
    const mutation = await graphql(
      key.adminA,
      `
        mutation {
          setQueue(type: "echo", settings: { ratePerSecond: 1 }) {
            type
          }
        }
      `,
    );
    expect(mutation.errors?.[0]?.extensions?.code).toBe("PERMISSION_DENIED");
    const limits = new LimitsServiceClient(server.grpcAddress, credentials.createInsecure());
    try {
      const set = (as: string) =>
        unary(
          limits.setQueueLimits.bind(limits),
          { type: "echo", ratePerSecond: 5, burst: 5, maxBacklog: 0 },
          as,
        );
      expect((await set(key.adminA)).code).toBe(status.PERMISSION_DENIED);
      expect((await set(key.operator)).code).toBe(status.OK);
    } finally {
      limits.close();
    }
  });
});
