import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Server, ServerCredentials, status, type ServerDuplexStream } from "@grpc/grpc-js";
import {
  WorkerServiceClient,
  WorkerServiceService,
  type DispatcherMessage,
  type WorkerMessage,
} from "../../../../proto/gen/taskstream/v1/workers.ts";
import { workerCredentials } from "./credentials.ts";

/** A real gRPC server on loopback that ends every Connect stream, answering what it was sent as authorization. */
describe("conformance worker credentials", () => {
  const server = new Server();
  let address = "";

  beforeAll(async () => {
    server.addService(WorkerServiceService, {
      connect: (call: ServerDuplexStream<WorkerMessage, DispatcherMessage>) => {
        const authorization = call.metadata.get("authorization")[0];
        call.emit("error", { code: status.UNAUTHENTICATED, details: String(authorization ?? "none") });
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, bound) =>
        error ? reject(error) : resolve(bound),
      ),
    );
    address = `127.0.0.1:${port}`;
  });
  afterAll(() => server.forceShutdown());

  const authorizationSent = (apiKey: string | undefined) =>
    new Promise<string>((resolve) => {
      const client = new WorkerServiceClient(address, workerCredentials(apiKey));
      const call = client.connect();
      call.on("error", (error: { details?: string }) => {
        client.close();
        resolve(error.details ?? "");
      });
      call.on("data", () => undefined);
    });

  it("sends the API key as a bearer token over a plaintext channel", async () => {
    expect(await authorizationSent("k-123")).toBe("Bearer k-123");
  });

  it("sends no authorization without a key", async () => {
    expect(await authorizationSent(undefined)).toBe("none");
  });
});
