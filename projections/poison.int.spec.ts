import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer } from "../tests/support/server.ts";
import { until } from "../tests/support/signals.ts";
import { testServices } from "../tests/support/services.ts";
import { migrateUrl } from "../cli/verbs/migrate.ts";
import { TasksProjector } from "./tasks-projector.ts";
import { ProjectionStalledError } from "./poison.ts";
import {
  createReadModelFixture,
  newTaskId,
  on,
  taskSpec,
  type ReadModelFixture,
} from "./testing/read-model-fixture.ts";

const T0 = Date.parse("2030-01-01T00:00:00.000Z");

/**
 * An event PostgreSQL cannot store, appended behind the command API's back (the API refuses such
 * input; a log written by an older version, or by hand, may still hold one): the projector must stop
 * that partition loudly at that very event and keep every other partition going.
 */
describe("a poison event in the log", () => {
  let fx: ReadModelFixture;
  beforeAll(async () => {
    fx = await createReadModelFixture("poison", 4);
  });
  afterAll(async () => fx.close());

  /** A task id of the given partition. */
  const idIn = (partition: number): string => {
    for (;;) {
      const id = newTaskId();
      if (fx.store.partitionOf(id) === partition) return id;
    }
  };

  it("stops only its partition, at the poison event, after committing what came before it", async () => {
    const errors: unknown[] = [];
    const projector = new TasksProjector({
      store: fx.store,
      redis: fx.redis,
      pool: fx.pool,
      blockMs: 50,
      minCommitIntervalMs: 0,
      stallRetryMs: 3_600_000,
      onError: (error) => errors.push(error),
    });
    const before = idIn(1);
    const poisoned = idIn(1);
    const after = idIn(1);
    const elsewhere = idIn(2);
    await fx.store.append(before, 0, [on.submitted(T0)]);
    const { streamIds } = (await fx.store.append(poisoned, 0, [
      on.submitted(T0, taskSpec({ payload: { text: "a\u0000b" } })),
    ])) as { streamIds: string[] };
    await fx.store.append(after, 0, [on.submitted(T0)]);
    const elsewhereAt = (await fx.store.append(elsewhere, 0, [on.submitted(T0)])) as { streamIds: string[] };

    await projector.start();
    try {
      const ids = [before, poisoned, after, elsewhere];
      const rows = async () =>
        new Set(
          (await fx.pool.query<{ id: string }>("select id from tasks where id = any($1)", [ids])).rows.map(
            (r) => r.id,
          ),
        );
      await until(projector, "handled", () => projector.stalled().length === 1);
      await projector.waitFor({ 2: elsewhereAt.streamIds[0]! });
      const projected = await rows();
      expect(projected.has(before)).toBe(true);
      expect(projected.has(poisoned)).toBe(false);
      expect(projected.has(after)).toBe(false);
      expect(projector.stalled()[0]).toMatchObject({
        partition: 1,
        streamId: streamIds[0],
        taskId: poisoned,
        eventType: "TaskSubmitted",
        error: expect.stringMatching(/Unicode|\\u0000/) as string,
      });
      const stalls = errors.filter((e) => e instanceof ProjectionStalledError);
      expect(stalls).toHaveLength(1);
      expect((stalls[0] as Error).message).toContain(streamIds[0]);

      // Partition 2 keeps flowing after the stall.
      const later = idIn(2);
      const laterAt = (await fx.store.append(later, 0, [on.submitted(T0)])) as { streamIds: string[] };
      await projector.waitFor({ 2: laterAt.streamIds[0]! });
      expect((await rows()).size).toBe(2);
      expect((await fx.pool.query("select 1 from tasks where id = $1", [later])).rowCount).toBe(1);
      expect(projector.stalled()).toHaveLength(1);
    } finally {
      await projector.stop();
    }
  });

  it("turns the projector role's readiness false and counts the error, naming the position", async () => {
    await migrateUrl(testServices.pgUrl);
    const server = await startTestServer({ roles: new Set(["api", "projector"]) }, "poison-srv");
    try {
      const id = newTaskId();
      await server.store.append(id, 0, [on.submitted(T0, taskSpec({ metadata: { k: "v\u0000" } }))]);
      const ready = async () => {
        const answer = await server.http.inject({ method: "GET", url: "/readyz" });
        return { status: answer.statusCode, body: answer.body };
      };
      const projector = server.readSide!.projector!;
      await until(projector, "handled", () => projector.stalled().length > 0);
      const answer = await ready();
      expect(answer.status).toBe(503);
      expect(answer.body).toContain(`task ${id}`);
      const metrics = (await server.http.inject({ method: "GET", url: "/metrics" })).body;
      expect(metrics).toMatch(/taskstream_projection_errors_total\{projector="tasks",kind="poison"\} [1-9]/);
      expect(metrics).toMatch(/taskstream_projection_stalled_partitions\{projector="tasks"\} 1/);
      expect((await server.http.inject({ method: "GET", url: "/healthz" })).statusCode).toBe(200);
    } finally {
      await server.close();
    }
  });
});
