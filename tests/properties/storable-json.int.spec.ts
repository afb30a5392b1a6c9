import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { jsonProblem } from "../../domain/task/index.ts";
import { compareStreamIds } from "../../event-store/stream-ids.ts";
import { verifyReadModel } from "../../projections/verify.ts";
import { migrateUrl } from "../../cli/verbs/migrate.ts";
import type { RunningServer } from "../../cli/server.ts";
import { RawWorker } from "../support/raw-worker.ts";
import { startTestServer } from "../support/server.ts";
import { testServices } from "../support/services.ts";
import { leading } from "../support/signals.ts";

/** Keys JSON parsers refuse in request bodies as prototype pollution (REST answers 400). */
function hasForbiddenKey(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(hasForbiddenKey);
  if (value === null || typeof value !== "object") return false;
  return Object.entries(value).some(
    ([key, child]) => key === "__proto__" || key === "constructor" || hasForbiddenKey(child),
  );
}

/** Any JSON: strings of any UTF-16 code units (lone surrogates and NUL included), now and then a NUL on purpose. */
const anyJson = fc.oneof(
  { weight: 5, arbitrary: fc.jsonValue({ stringUnit: "binary", maxDepth: 3 }) },
  { weight: 3, arbitrary: fc.jsonValue({ stringUnit: "grapheme", maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.string({ unit: "binary" }).map((s) => ({ text: `${s}\u0000` })) },
);

/**
 * Everything the write side accepts, the read side can project: generated JSON goes through
 * submission (REST), a worker's progress and result (the worker stream) and the projection, and the
 * read model must equal the fold of the log. What cannot be stored is refused at the edge — a 400
 * for a payload, a non-retryable INVALID_RESULT for a result — and never reaches the log.
 */
describe("generated JSON through submit, worker result and projection", () => {
  let server: RunningServer;
  let worker: RawWorker;

  beforeAll(async () => {
    await migrateUrl(testServices.pgUrl);
    server = await startTestServer({ roles: new Set(["api", "dispatcher", "projector"]) }, "storable");
    await leading(server.dispatcher!);
    worker = new RawWorker(server.grpcAddress);
    await worker.register(["prop"], { slots: 100 });
  });
  afterAll(async () => {
    worker.close();
    await server.close();
  });

  it("accepts exactly what projects, and the read model equals the fold of the log", async () => {
    const accepted: string[] = [];
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(anyJson, anyJson), { minLength: 10, maxLength: 10 }),
        async (cases) => {
          const results = new Map<string, unknown>();
          for (const [payload, result] of cases) {
            const answer = await server.http.inject({
              method: "POST",
              url: "/v1/tasks",
              headers: { "content-type": "application/json" },
              payload: JSON.stringify({ type: "prop", payload }),
            });
            const storable = jsonProblem(payload) === null && !hasForbiddenKey(payload);
            expect(answer.statusCode, JSON.stringify(payload)).toBe(storable ? 201 : 400);
            if (answer.statusCode === 201) results.set(answer.json<{ id: string }>().id, result);
          }
          for (let i = 0; i < results.size; i++) {
            const assignment = await worker.next("assignment");
            const result = results.get(assignment.taskId);
            const attempt = assignment.attempt;
            worker.send({
              $case: "progress",
              value: { taskId: assignment.taskId, attempt, detailsJson: JSON.stringify(result) },
            });
            worker.send({
              $case: "completed",
              value: { taskId: assignment.taskId, attempt, resultJson: JSON.stringify(result) },
            });
            expect(await worker.next("ack")).toMatchObject({ taskId: assignment.taskId, accepted: true });
          }
          for (const [id, result] of results) {
            const task = (await server.http.inject({ method: "GET", url: `/v1/tasks/${id}` })).json<{
              state: string;
              lastError: { type: string } | null;
            }>();
            if (jsonProblem(JSON.parse(JSON.stringify(result))) === null)
              expect(task.state).toBe("SUCCEEDED");
            else
              expect(task).toMatchObject({ state: "DEAD_LETTERED", lastError: { type: "INVALID_RESULT" } });
            accepted.push(id);
          }
        },
      ),
      { numRuns: 20 },
    );
    // Every accepted task reaches the read model, equal to the fold of its log.
    // Each task's last event is in the log (its result was acknowledged): wait for the projector there.
    const last = new Map<number, string>();
    for (const id of accepted) {
      const newest = (await server.store.readTask(id)).at(-1)!;
      const seen = last.get(newest.partition);
      if (seen === undefined || compareStreamIds(newest.streamId, seen) > 0)
        last.set(newest.partition, newest.streamId);
    }
    await server.readSide!.projector!.waitFor(last, 20_000);
    const report = await verifyReadModel({ store: server.store, pool: server.pool, taskIds: accepted });
    expect(report.mismatches).toEqual([]);
    expect(server.readSide!.projector!.stalled()).toEqual([]);
  });
});
