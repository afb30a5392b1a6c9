import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fold } from "../domain/task/index.ts";
import { taskstream } from "../tests/support/cli.ts";
import { startTestServer } from "../tests/support/server.ts";
import { testServices, uniquePrefix } from "../tests/support/services.ts";
import type { RunningServer } from "./server.ts";
import { migrateUrl } from "./verbs/migrate.ts";

interface Submitted {
  id: string;
  deduplicated: boolean;
}

/** The operator verbs (submit, get, cancel, list) as processes of their own, against a running Taskstream's HTTP API. */
describe("taskstream operator verbs", () => {
  let server: RunningServer;
  /** `taskstream <verb> …` against this test's server. */
  const run = (verb: string, ...args: string[]) => taskstream([verb, ...args, "--api", server.httpUrl]);
  const submitted = async (...args: string[]) => {
    const result = await run("submit", ...args);
    expect(result, result.stderr).toMatchObject({ code: 0 });
    return JSON.parse(result.stdout) as Submitted;
  };

  beforeAll(async () => {
    await migrateUrl(testServices.pgUrl);
    // No dispatcher: tasks stay QUEUED until the test moves them.
    server = await startTestServer({ roles: new Set(["api", "projector", "read-api"]) }, "cli-ops");
  });
  afterAll(async () => server?.close());

  it("submit prints the new task; the same key again answers the same task", async () => {
    const key = uniquePrefix("cli-key");
    const first = await submitted("cli-echo", "--payload", '{"n":1}', "--priority", "7", "--key", key);
    expect(first.deduplicated).toBe(false);
    const spec = fold(await server.store.readTask(first.id)).spec;
    expect(spec).toMatchObject({ type: "cli-echo", payload: { n: 1 }, priority: 7, idempotencyKey: key });

    const again = await submitted("cli-echo", "--payload", '{"n":1}', "--priority", "7", "--key", key);
    expect(again).toEqual({ id: first.id, deduplicated: true });
  });

  it("submit without a type fails with exit code 1 and says what is missing", async () => {
    const result = await run("submit");
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/taskstream submit: TYPE: is required/);
  });

  it("get prints a task as the API folds it; an unknown id fails with the API's 404", async () => {
    const { id } = await submitted("cli-get");
    const got = await run("get", id);
    expect(got.code).toBe(0);
    expect(JSON.parse(got.stdout)).toMatchObject({ id, type: "cli-get", state: "QUEUED" });

    const unknown = await run("get", "no-such-task");
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/taskstream get: .*404 .*"NOT_FOUND"/);
  });

  it("cancel cancels a queued task with the reason given; cancelling it again fails", async () => {
    const { id } = await submitted("cli-cancel");
    const cancelled = await run("cancel", id, "--reason", "operator changed their mind");
    expect(cancelled.code).toBe(0);
    expect(JSON.parse(cancelled.stdout)).toMatchObject({ id, state: "CANCELLED" });
    const last = (await server.store.readTask(id)).at(-1);
    expect(last).toMatchObject({ type: "TaskCancelled", data: { reason: "operator changed their mind" } });

    const again = await run("cancel", id);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/taskstream cancel: .*409 .*"ILLEGAL_STATE"/);
  });

  it("list shows the read model's tasks of a type and state", async () => {
    const type = uniquePrefix("cli-list").replace(/[^A-Za-z0-9-]/g, "-");
    const waiting = await submitted(type);
    const dropped = await submitted(type);
    expect((await run("cancel", dropped.id)).code).toBe(0);
    // The projector has folded both tasks' last events.
    for (const id of [waiting.id, dropped.id]) {
      const last = (await server.store.readTask(id)).at(-1)!;
      await server.readSide!.projector!.waitFor({ [last.partition]: last.streamId });
    }

    const cancelled = await run("list", "--type", type, "--state", "CANCELLED");
    expect(cancelled.code).toBe(0);
    expect(cancelled.stdout).toContain(dropped.id);
    expect(cancelled.stdout).not.toContain(waiting.id);
    const all = await run("list", "--type", type, "--first", "10");
    expect(all.stdout).toContain(dropped.id);
    expect(all.stdout).toContain(waiting.id);
  });
});
