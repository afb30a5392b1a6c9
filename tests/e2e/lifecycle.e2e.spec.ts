import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { credentials, Metadata } from "@grpc/grpc-js";
import pg from "pg";
import { TaskServiceClient, type SubmitTaskResponse } from "../../proto/gen/taskstream/v1/tasks.ts";
import { Worker } from "../../sdk/typescript/src/index.ts";
import { fold } from "../../domain/task/index.ts";
import { compareStreamIds } from "../../event-store/stream-ids.ts";
import { verifyReadModel } from "../../projections/verify.ts";
import { migrateUrl } from "../../cli/verbs/migrate.ts";
import { startTestServer } from "../support/server.ts";
import { testServices } from "../support/services.ts";
import type { RunningServer } from "../../cli/server.ts";
import { leading } from "../support/signals.ts";

const TASKS = 1000;

interface Submitted {
  index: number;
  via: "rest" | "grpc";
  key: string | null;
  payload: { index: number; shared: string | null };
  response: { id: string; deduplicated: boolean };
}

/**
 * One thousand tasks through the whole system: half over REST, half over gRPC, mixed priorities,
 * some sharing idempotency keys, run by two SDK workers; then GraphQL, the log and the read model
 * must agree on every one of them.
 */
describe("a thousand tasks end to end", () => {
  let server: RunningServer;
  let grpc: TaskServiceClient;
  const workers: Worker[] = [];
  const runs = new Map<string, number>();
  const traces = new Map<string, string | null>();
  /** Tasks whose result a dispatcher accepted (written to the log), as the workers' acks say. */
  const recorded = new Set<string>();
  let onRecorded = () => {};
  const traceIdOf = (index: number) => index.toString(16).padStart(32, "a");

  beforeAll(async () => {
    await migrateUrl(testServices.pgUrl);
    server = await startTestServer({}, "e2e");
    grpc = new TaskServiceClient(server.grpcAddress, credentials.createInsecure());
    await leading(server.dispatcher!, 20_000);
    for (const name of ["worker-a", "worker-b"]) {
      const worker = new Worker({
        addresses: [server.grpcAddress],
        name,
        slots: 25,
        handlers: {
          echo: async (payload: unknown, ctx) => {
            runs.set(ctx.taskId, (runs.get(ctx.taskId) ?? 0) + 1);
            traces.set(ctx.taskId, ctx.traceparent);
            await Promise.resolve();
            return { echoed: payload, by: name };
          },
        },
      });
      worker.on("ack", (ack) => {
        if (!ack.accepted) return;
        recorded.add(ack.taskId);
        onRecorded();
      });
      await worker.start();
      workers.push(worker);
    }
  });

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop({ graceMs: 2000 })));
    grpc?.close();
    await server?.close();
  });

  it("runs every task once, deduplicates shared keys, and the read model equals the fold of the log", async () => {
    const submitted: Submitted[] = [];
    const submitOne = async (index: number): Promise<void> => {
      // Every tenth task reuses the key of the task ten before it (itself keyed).
      // A repeat sends the same request as its original (only its transport differs): a retry.
      const source = index % 10 === 5 ? index - 5 : index;
      const key = index % 5 === 0 ? `e2e-key-${source}` : null;
      const payload = { index: source, shared: key };
      const priority = source % 10;
      const via = index % 2 === 0 ? "rest" : "grpc";
      let response: { id: string; deduplicated: boolean };
      if (via === "rest") {
        const reply = await fetch(`${server.httpUrl}/v1/tasks`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            traceparent: `00-${traceIdOf(index)}-b7ad6b7169203331-01`,
          },
          body: JSON.stringify({ type: "echo", payload, priority, ...(key ? { idempotencyKey: key } : {}) }),
        });
        expect([200, 201]).toContain(reply.status);
        response = (await reply.json()) as { id: string; deduplicated: boolean };
        expect(reply.status).toBe(response.deduplicated ? 200 : 201);
      } else {
        response = await new Promise<SubmitTaskResponse>((resolve, reject) =>
          grpc.submitTask(
            {
              task: {
                namespace: "",
                type: "echo",
                payloadJson: JSON.stringify(payload),
                priority,
                idempotencyKey: key ?? "",
                requires: {},
                runAt: "",
                metadata: {},
                retry: undefined,
                timeouts: undefined,
                concurrencyKey: "",
              },
            },
            new Metadata(),
            (error, reply) => (error ? reject(error) : resolve(reply)),
          ),
        );
      }
      submitted.push({ index, via, key, payload, response });
    };
    // Keyed originals first, then the rest in concurrent waves of 50.
    const order = [...Array(TASKS).keys()].sort((a, b) => Number(b % 10 === 0) - Number(a % 10 === 0));
    for (let i = 0; i < order.length; i += 50) await Promise.all(order.slice(i, i + 50).map(submitOne));

    const byIndex = new Map(submitted.map((s) => [s.index, s]));
    const duplicates = submitted.filter((s) => s.key !== null && s.index % 10 === 5);
    expect(duplicates.length).toBe(TASKS / 10);
    for (const duplicate of duplicates) {
      const original = byIndex.get(duplicate.index - 5)!;
      expect(duplicate.response).toMatchObject({ id: original.response.id, deduplicated: true });
      expect(original.response.deduplicated).toBe(false);
    }
    const unique = submitted.filter((s) => !s.response.deduplicated);
    expect(unique).toHaveLength(TASKS - duplicates.length);

    // Every task reaches SUCCEEDED in GraphQL, with its result.
    const graphql = async (query: string, variables: Record<string, unknown> = {}) => {
      const reply = await fetch(`${server.httpUrl}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await reply.json()) as { data: Record<string, unknown>; errors?: unknown };
      expect(body.errors).toBeUndefined();
      return body.data;
    };
    // This test's tasks only (the read model is shared): each one's result accepted into the log,
    // then the projector's checkpoint past each one's last event.
    const ids = unique.map((task) => task.response.id);
    await new Promise<void>((resolve) => {
      onRecorded = () => ids.every((id) => recorded.has(id)) && resolve();
      onRecorded();
    });
    const last = new Map<number, string>();
    for (const id of ids) {
      const newest = (await server.store.readTask(id)).at(-1)!;
      const seen = last.get(newest.partition);
      if (seen === undefined || compareStreamIds(newest.streamId, seen) > 0)
        last.set(newest.partition, newest.streamId);
    }
    await server.readSide!.projector!.waitFor(last, 120_000);
    for (const task of unique) {
      const data = (await graphql(
        `
          query ($id: ID!) {
            task(id: $id) {
              id
              state
              result
              attempt
              events {
                type
              }
            }
          }
        `,
        { id: task.response.id },
      )) as {
        task: { state: string; result: { echoed: unknown }; attempt: number; events: { type: string }[] };
      };
      expect(data.task.state).toBe("SUCCEEDED");
      expect(data.task.result.echoed).toEqual(task.payload);
      expect(data.task.events.filter((e) => e.type === "TaskSucceeded")).toHaveLength(1);
    }

    // Exactly once here (no failures were injected), and the fold of each task's log equals its row.
    for (const task of unique) expect(runs.get(task.response.id)).toBe(1);
    // The producer's trace continues in the worker's handler.
    for (const task of unique.filter((t) => t.via === "rest"))
      expect(traces.get(task.response.id)).toContain(traceIdOf(task.index));
    for (const task of unique.slice(0, 50))
      expect(fold(await server.store.readTask(task.response.id)).state).toBe("SUCCEEDED");
    const pool = new pg.Pool({ connectionString: testServices.pgUrl, max: 4 });
    try {
      const report = await verifyReadModel({
        store: server.store,
        pool,
        taskIds: unique.map((t) => t.response.id),
      });
      expect(report.checked).toBe(unique.length);
      expect(report.mismatches).toEqual([]);
    } finally {
      await pool.end();
    }
  });
});
