import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client, credentials, status, type ServiceError } from "@grpc/grpc-js";
import { create, fromBinary, toBinary, type DescMessage } from "@bufbuild/protobuf";
import { eventually, startTestServer } from "../tests/support/server.ts";
import { DiscoveryClient } from "../tests/support/grpc-reflection-client.ts";
import type { RunningServer } from "./server.ts";

const TASKS = "taskstream.v1.TaskService";
const WORKERS = "taskstream.v1.WorkerService";

/** Calls a unary method knowing only the descriptors reflection gave: no generated code, no .proto file. */
function callDynamic(
  address: string,
  path: string,
  input: DescMessage,
  output: DescMessage,
  init: Record<string, unknown>,
) {
  const client = new Client(address, credentials.createInsecure());
  return new Promise<Record<string, unknown>>((resolve, reject) =>
    client.makeUnaryRequest(
      path,
      (message: Record<string, unknown>) => Buffer.from(toBinary(input, create(input, message))),
      (bytes: Buffer) => fromBinary(output, bytes) as unknown as Record<string, unknown>,
      init,
      (error: ServiceError | null, answer?: Record<string, unknown>) => {
        client.close();
        if (error) reject(error);
        else resolve(answer ?? {});
      },
    ),
  );
}

describe("gRPC discovery: reflection and the health service", () => {
  let leader: RunningServer;
  let standby: RunningServer | undefined;
  let client: DiscoveryClient;

  beforeAll(async () => {
    leader = await startTestServer({ roles: new Set(["api", "dispatcher"]) }, "discover");
    await eventually(() => (leader.dispatcher?.leading ? true : undefined), 15_000, "leadership");
    client = new DiscoveryClient(leader.grpcAddress);
  });

  afterAll(async () => {
    client.close();
    await standby?.close();
    await leader.close();
  });

  it("lists the public services, and only them", async () => {
    expect(await client.listServices()).toEqual([
      "grpc.health.v1.Health",
      "taskstream.v1.LimitsService",
      "taskstream.v1.ScheduleService",
      TASKS,
      WORKERS,
    ]);
    // The dispatchers' own protocol shares the server but is not part of the public contract.
    await expect(client.describe("taskstream.cluster.v1.PeerService")).rejects.toThrow(/^5: /);
  });

  it("describes a method well enough to call it without the .proto files", async () => {
    const registry = await client.describe(TASKS);
    const service = registry.getService(TASKS);
    const submit = service?.methods.find((m) => m.name === "SubmitTask");
    expect(submit?.input.typeName).toBe("taskstream.v1.SubmitTaskRequest");
    expect(submit?.output.typeName).toBe("taskstream.v1.SubmitTaskResponse");
    const spec = registry.getMessage("taskstream.v1.TaskSpec");
    expect(spec?.fields.map((f) => f.name)).toEqual(
      expect.arrayContaining(["type", "payload_json", "priority"]),
    );
    const answer = await callDynamic(
      leader.grpcAddress,
      `/${TASKS}/SubmitTask`,
      submit!.input,
      submit!.output,
      {
        task: { type: "echo", payloadJson: '{"from":"reflection"}', priority: 3 },
      },
    );
    expect(answer.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(answer.deduplicated).toBe(false);
    expect((await leader.http.inject(`/v1/tasks/${String(answer.id)}`)).json()).toMatchObject({
      type: "echo",
      priority: 3,
      payload: { from: "reflection" },
    });
  });

  it("answers Check as /readyz does, per service", async () => {
    expect((await leader.http.inject("/readyz")).statusCode).toBe(200);
    expect(await client.check("")).toBe("SERVING");
    expect(await client.check(TASKS)).toBe("SERVING");
    expect(await client.check(WORKERS)).toBe("SERVING");
    expect(await client.check("taskstream.cluster.v1.PeerService")).toBe(`error ${status.NOT_FOUND}`);
  });

  it("follows a joining dispatcher's readiness to SERVING once it leads the partitions", async () => {
    standby = await startTestServer(
      { roles: new Set(["dispatcher"]), prefix: leader.config.prefix },
      "standby",
    );
    const watcher = new DiscoveryClient(standby.grpcAddress);
    try {
      expect(await watcher.listServices()).toEqual(["grpc.health.v1.Health", WORKERS]);
      // It may already lead its share of the partitions, or come to while we ask: Check says what
      // /readyz says just before or just after it.
      const readyz = async () =>
        (await standby!.http.inject("/readyz")).statusCode === 200 ? "SERVING" : "NOT_SERVING";
      for (const service of ["", WORKERS]) {
        const before = await readyz();
        const answer = await watcher.check(service);
        expect([before, await readyz()]).toContain(answer);
      }
      expect(await watcher.check(TASKS)).toBe(`error ${status.NOT_FOUND}`); // not served here

      const seen: string[] = [];
      const watch = watcher.health.Watch({ service: WORKERS });
      watch.on("data", (answer: { status: string }) => seen.push(answer.status));
      watch.on("error", () => undefined); // cancelled below
      await eventually(() => (seen.length > 0 ? true : undefined), 5000, "the first Watch answer");

      await leader.close(); // every partition passes to the second dispatcher
      await eventually(
        async () => ((await watcher.check(WORKERS)) === "SERVING" ? true : undefined),
        20_000,
        "the standby serving",
      );
      expect(await watcher.check("")).toBe("SERVING");
      expect((await standby.http.inject("/readyz")).statusCode).toBe(200);
      await eventually(() => (seen.at(-1) === "SERVING" ? true : undefined), 5000, "Watch hearing SERVING");
      // Each change heard once: [NOT_SERVING, SERVING], or [SERVING] if it was ready from the start.
      expect(seen.filter((answer, i) => answer === seen[i - 1])).toEqual([]);
      expect(seen.at(-1)).toBe("SERVING");
      (watch as unknown as { cancel(): void }).cancel();
    } finally {
      watcher.close();
    }
  });
});
