/**
 * A Taskstream producer process: REST (`POST /v1/tasks`, `POST /v1/tasks/batch`) over keep-alive
 * HTTP/1.1, or gRPC through the SDK's TaskstreamClient (`submit()`, which coalesces concurrent calls
 * into SubmitTasks, and `submitMany()`).
 */
import http from "node:http";
import { TaskstreamClient, type SubmitSpec } from "../../sdk/typescript/src/index.ts";
import { runProducerProcess, type BenchTask, type Submitter } from "../producer-harness.ts";
import { TASK_TYPE } from "../protocol.ts";

const spec = ({ payload, priority }: BenchTask): SubmitSpec =>
  priority === undefined ? { type: TASK_TYPE, payload } : { type: TASK_TYPE, payload, priority };

function restSubmitter(baseUrl: string): Submitter {
  const url = new URL(baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const post = (path: string, body: unknown) =>
    new Promise<void>((resolve, reject) => {
      const text = JSON.stringify(body);
      const request = http.request(
        {
          agent,
          host: url.hostname,
          port: url.port,
          path,
          method: "POST",
          headers: { "content-type": "application/json", "content-length": Buffer.byteLength(text) },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on("data", (chunk: Buffer) => chunks.push(chunk));
          response.on("end", () => {
            const status = response.statusCode ?? 0;
            if (status >= 200 && status < 300) resolve();
            else reject(new Error(`HTTP ${status}: ${Buffer.concat(chunks).toString().slice(0, 200)}`));
          });
          response.on("error", reject);
        },
      );
      request.on("error", reject);
      request.end(text);
    });
  return {
    one: (task) => post("/v1/tasks", spec(task)),
    many: (tasks) => post("/v1/tasks/batch", { tasks: tasks.map(spec) }),
    close: async () => agent.destroy(),
  };
}

function grpcSubmitter(address: string): Submitter {
  const client = new TaskstreamClient({ address, timeoutMs: 60_000 });
  return {
    one: async (task) => void (await client.submit(spec(task))),
    many: async (tasks) => void (await client.submitMany(tasks.map(spec))),
    close: async () => client.close(),
  };
}

await runProducerProcess((config, transport) =>
  transport === "rest" ? restSubmitter(config.httpUrl!) : grpcSubmitter(config.grpcAddress!),
);
