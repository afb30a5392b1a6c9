import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../cli/server.ts";
import { startTestServer } from "../support/server.ts";
import { leading } from "../support/signals.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** What the scratch project runs: the packaged SDK, imported by name, against a running Taskstream. */
const WORKER_SCRIPT = `
import { TaskstreamClient, Worker } from "@taskstream/sdk";
const address = process.env.TASKSTREAM_ADDRESS;
const worker = new Worker({
  addresses: [address],
  handlers: { "pack-echo": async (payload, ctx) => ({ echoed: payload, attempt: ctx.attempt }) },
});
await worker.start();
const client = new TaskstreamClient({ address });
const { id } = await client.submit({ type: "pack-echo", payload: { from: "a project outside the repository" } });
let task = await client.get(id);
for (let i = 0; i < 200 && task.state !== "SUCCEEDED"; i++) {
  await new Promise((resolve) => setTimeout(resolve, 50));
  task = await client.get(id);
}
console.log(JSON.stringify({ state: task.state, result: task.result }));
client.close();
await worker.stop({ graceMs: 1000 });
`;

/**
 * The TypeScript SDK as users get it: `npm pack` of @taskstream/protocol and @taskstream/sdk (built
 * to JavaScript with type declarations), installed into a scratch project outside this repository,
 * running a worker and a client against a real Taskstream.
 */
describe("the packaged TypeScript SDK", () => {
  let server: RunningServer;
  let scratch: string;

  beforeAll(async () => {
    server = await startTestServer({ roles: new Set(["api", "dispatcher"]) }, "pack");
    await leading(server.dispatcher!);
    scratch = mkdtempSync(join(tmpdir(), "taskstream-sdk-"));
  });
  afterAll(async () => {
    await server.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  it("packs into tarballs that install into a project of their own and run a worker", async () => {
    const npm = (args: string[], cwd: string) =>
      execFileSync("npm", args, { cwd, encoding: "utf8", stdio: "pipe" });
    npm(["pack", "--pack-destination", scratch, "--silent"], join(ROOT, "proto"));
    npm(["pack", "--pack-destination", scratch, "--silent"], join(ROOT, "sdk", "typescript"));
    const tarballs = readdirSync(scratch)
      .filter((name) => name.endsWith(".tgz"))
      .sort();
    expect(tarballs).toEqual(["taskstream-protocol-0.2.0.tgz", "taskstream-sdk-0.2.0.tgz"]);
    writeFileSync(
      join(scratch, "package.json"),
      JSON.stringify({ name: "scratch", private: true, type: "module" }),
    );
    npm(
      ["install", "--no-audit", "--no-fund", "--prefer-offline", ...tarballs.map((t) => `./${t}`)],
      scratch,
    );
    writeFileSync(join(scratch, "worker.mjs"), WORKER_SCRIPT);
    // Asynchronously: the Taskstream it talks to runs in this process and must keep serving.
    const { stdout: output } = await promisify(execFile)(process.execPath, ["worker.mjs"], {
      cwd: scratch,
      encoding: "utf8",
      env: { ...process.env, TASKSTREAM_ADDRESS: server.grpcAddress },
      timeout: 60_000,
    });
    const last = JSON.parse(output.trim().split("\n").at(-1)!) as { state: string; result: unknown };
    expect(last).toEqual({
      state: "SUCCEEDED",
      result: { echoed: { from: "a project outside the repository" }, attempt: 1 },
    });
  });
});
