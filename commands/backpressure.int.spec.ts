import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { credentials, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { TaskServiceClient } from "../proto/gen/taskstream/v1/tasks.ts";
import { startTestServer } from "../tests/support/server.ts";
import type { RunningServer } from "../cli/server.ts";
import { atSweep, leading } from "../tests/support/signals.ts";

describe("backpressure: admission limit on a queue's backlog", () => {
  let server: RunningServer;
  let grpc: TaskServiceClient;

  beforeAll(async () => {
    server = await startTestServer({ roles: new Set(["api", "dispatcher"]) }, "backpressure");
    grpc = new TaskServiceClient(server.grpcAddress, credentials.createInsecure());
    await leading(server.dispatcher!);
  });
  afterAll(async () => {
    grpc.close();
    await server.close();
  });

  it("answers 429 with Retry-After (gRPC RESOURCE_EXHAUSTED) past the limit, and writes nothing", async () => {
    await server.http.inject({ method: "PUT", url: "/v1/queues/bounded", payload: { maxBacklog: 3 } });
    for (let i = 0; i < 3; i++) {
      expect(
        (await server.http.inject({ method: "POST", url: "/v1/tasks", payload: { type: "bounded" } }))
          .statusCode,
      ).toBe(201);
    }
    // The leader reports backlogs at each sweep, once a second: the limit bites after one.
    await atSweep(server.dispatcher!, async () => {
      const reply = await server.http.inject({
        method: "POST",
        url: "/v1/tasks",
        payload: { type: "bounded" },
      });
      return reply.statusCode === 429 ? reply : undefined;
    });
    const refused = await server.http.inject({
      method: "POST",
      url: "/v1/tasks",
      payload: { type: "bounded", idempotencyKey: "over-the-limit" },
    });
    expect(refused.statusCode).toBe(429);
    expect(Number(refused.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(refused.json()).toMatchObject({ error: { code: "RESOURCE_EXHAUSTED" } });

    const error = await new Promise<ServiceError>((resolve) =>
      grpc.submitTask(
        {
          task: {
            namespace: "",
            type: "bounded",
            payloadJson: "",
            requires: {},
            idempotencyKey: "",
            runAt: "",
            metadata: {},
            concurrencyKey: "",
            retry: undefined,
            timeouts: undefined,
          },
        },
        new Metadata(),
        (e) => resolve(e!),
      ),
    );
    expect(error.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(error.metadata.get("retry-after-ms")).toEqual(["1000"]);

    // Nothing was written: the refused submission's key is still free once there is room again.
    await server.http.inject({ method: "PUT", url: "/v1/queues/bounded", payload: { maxBacklog: 100 } });
    const accepted = await server.http.inject({
      method: "POST",
      url: "/v1/tasks",
      payload: { type: "bounded", idempotencyKey: "over-the-limit" },
    });
    expect(accepted.statusCode).toBe(201);
    // Other queues are not affected by one queue's limit.
    expect(
      (await server.http.inject({ method: "POST", url: "/v1/tasks", payload: { type: "unbounded" } }))
        .statusCode,
    ).toBe(201);
  });

  it("rejects bad limit settings with the field named", async () => {
    const reply = await server.http.inject({
      method: "PUT",
      url: "/v1/queues/bounded",
      payload: { ratePerSecond: -1, colour: 1 },
    });
    expect(reply.statusCode).toBe(400);
    expect(JSON.stringify(reply.json())).toMatch(/ratePerSecond/);
  });
});
