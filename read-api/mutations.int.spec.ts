import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrateUrl } from "../cli/verbs/migrate.ts";
import { RawWorker } from "../tests/support/raw-worker.ts";
import { startTestServer } from "../tests/support/server.ts";
import { testServices } from "../tests/support/services.ts";
import type { RunningServer } from "../cli/server.ts";
import { atSweep, leading } from "../tests/support/signals.ts";

describe("GraphQL mutations, workers and dispatch stats", () => {
  let server: RunningServer;
  let worker: RawWorker;
  const graphql = async (query: string, variables: Record<string, unknown> = {}) =>
    (await server.http.inject({ method: "POST", url: "/graphql", payload: { query, variables } })).json<{
      data: Record<string, unknown> | null;
      errors?: { message: string; extensions?: Record<string, unknown> }[];
    }>();

  beforeAll(async () => {
    await migrateUrl(testServices.pgUrl);
    server = await startTestServer({}, "gql-mut");
    await leading(server.dispatcher!);
    worker = new RawWorker(server.grpcAddress);
    await worker.register(["fatal"], { labels: { zone: "eu" } });
  });
  afterAll(async () => {
    worker.close();
    await server.close();
  });

  it("retries a dead-lettered task and cancels a waiting one; illegal transitions are errors with a code", async () => {
    const { id } = (
      await server.http.inject({ method: "POST", url: "/v1/tasks", payload: { type: "fatal" } })
    ).json<{ id: string }>();
    await worker.next("assignment");
    worker.send({
      $case: "failed",
      value: {
        taskId: id,
        attempt: 1,
        message: "bad",
        errorType: "Bad",
        nonRetryable: true,
        cancelled: false,
      },
    });
    await worker.next("ack");
    const retried = await graphql(
      `
        mutation ($id: ID!) {
          retryTask(id: $id, maxAttempts: 2) {
            id
            state
            maxAttempts
          }
        }
      `,
      { id },
    );
    expect(retried.errors).toBeUndefined();
    expect(retried.data).toEqual({ retryTask: { id, state: "QUEUED", maxAttempts: 3 } });
    expect((await worker.next("assignment")).attempt).toBe(2);

    const waiting = (
      await server.http.inject({ method: "POST", url: "/v1/tasks", payload: { type: "nobody" } })
    ).json<{ id: string }>();
    const cancelled = await graphql(
      `
        mutation ($id: ID!) {
          cancelTask(id: $id, reason: "changed my mind") {
            state
          }
        }
      `,
      { id: waiting.id },
    );
    expect(cancelled.data).toEqual({ cancelTask: { state: "CANCELLED" } });
    const again = await graphql(
      `
        mutation ($id: ID!) {
          cancelTask(id: $id) {
            state
          }
        }
      `,
      { id: waiting.id },
    );
    expect(again.errors?.[0]?.extensions).toMatchObject({ code: "ILLEGAL_STATE", status: 409 });
    const unknown = await graphql(`
      mutation {
        retryTask(id: "nope") {
          state
        }
      }
    `);
    expect(unknown.errors?.[0]?.extensions).toMatchObject({ code: "NOT_FOUND", status: 404 });
  });

  it("lists connected workers and the dispatcher's backlog and unroutable counts", async () => {
    // The raw worker sends no heartbeats: register a fresh one so a slow run cannot have timed it out.
    worker.close();
    worker = new RawWorker(server.grpcAddress);
    await worker.register(["fatal"], { labels: { zone: "eu" } });
    await server.http.inject({
      method: "POST",
      url: "/v1/tasks",
      payload: { type: "fatal", requires: { zone: "us" } },
    });
    // The leader reports its workers and counts at each sweep.
    const result = await atSweep(server.dispatcher!, async () => {
      const r = await graphql(`
        {
          workers {
            id
            types
            labels
            connected
          }
          stats {
            dispatch {
              unroutable
              backlog {
                type
                waiting
              }
              queueDepthByPriority
            }
          }
        }
      `);
      const dispatch = (r.data?.stats as { dispatch: { unroutable: number } | null }).dispatch;
      const workers = r.data?.workers as unknown[] | undefined;
      return dispatch && dispatch.unroutable >= 1 && workers?.length ? r : undefined;
    });
    // The closed worker may still be listed, disconnected, during its reconnect grace.
    expect(result.data?.workers).toContainEqual(
      expect.objectContaining({ types: ["fatal"], labels: { zone: "eu" }, connected: true }),
    );
    const dispatch = (
      result.data?.stats as {
        dispatch: { backlog: { type: string; waiting: number }[]; queueDepthByPriority: number[] };
      }
    ).dispatch;
    expect(dispatch.backlog).toContainEqual({ type: "fatal", waiting: 1 });
    expect(dispatch.queueDepthByPriority).toHaveLength(10);
  });
});
