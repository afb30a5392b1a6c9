import { createServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fold } from "../domain/task/index.ts";
import { startTaskstream, taskstream } from "../tests/support/cli.ts";
import { startTestServer } from "../tests/support/server.ts";
import { uniquePrefix, testServices } from "../tests/support/services.ts";
import type { RunningServer } from "./server.ts";
import { migrateUrl } from "./verbs/migrate.ts";

interface Submitted {
  id: string;
  deduplicated: boolean;
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * The task verbs (submit, get, list, cancel, history, and --watch) as processes of their own,
 * against a running Taskstream's REST and GraphQL APIs, told where by TASKSTREAM_URL.
 */
describe("taskstream task verbs", () => {
  let server: RunningServer;
  const env = () => ({ TASKSTREAM_URL: server.httpUrl });
  /** `taskstream <verb> …` against this test's server. */
  const run = (...args: string[]) => taskstream(args, env());
  const submitted = async (...args: string[]) => {
    const result = await run("submit", ...args, "--json");
    expect(result, result.stderr).toMatchObject({ code: 0 });
    return JSON.parse(result.stdout) as Submitted;
  };
  /** Waits until the projector has folded the task's last event. */
  const projected = async (id: string) => {
    const last = (await server.store.readTask(id)).at(-1)!;
    await server.readSide!.projector!.waitFor({ [last.partition]: last.streamId });
  };
  const uniqueType = (name: string) => uniquePrefix(name).replace(/[^A-Za-z0-9-]/g, "-");

  beforeAll(async () => {
    await migrateUrl(testServices.pgUrl);
    // No dispatcher: tasks stay QUEUED until the test moves them.
    server = await startTestServer({ roles: new Set(["api", "projector", "read-api"]) }, "cli-tasks");
  });
  afterAll(async () => server?.close());

  it("submit prints the new id; the same key again answers the same task, deduplicated", async () => {
    const key = uniquePrefix("cli-key");
    const human = await run("submit", "cli-echo", "--payload", '{"n":1}', "--priority", "7", "--key", key);
    expect(human.code).toBe(0);
    const id = human.stdout.trim();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const spec = fold(await server.store.readTask(id)).spec;
    expect(spec).toMatchObject({ type: "cli-echo", payload: { n: 1 }, priority: 7, idempotencyKey: key });

    const again = await submitted("cli-echo", "--payload", '{"n":1}', "--priority", "7", "--key", key);
    expect(again).toEqual({ id, deduplicated: true });
  });

  it("a wrong command line exits 2 naming the flag or argument, and submits nothing", async () => {
    const type = uniqueType("cli-bad");
    const cases: [string[], RegExp][] = [
      [["submit"], /^taskstream submit: TYPE is required\n/],
      [["submit", type, "--colour", "red"], /^taskstream submit: unknown flag --colour\n/],
      [
        ["submit", type, "--priority", "12"],
        /^taskstream submit: --priority: must be an integer from 0 to 9, got "12"/,
      ],
      [["submit", type, "--payload", "{nope"], /^taskstream submit: --payload: not valid JSON/],
      [["submit", type, "--priority"], /^taskstream submit: --priority needs a value/],
      [["list", "--state", "DONE"], /^taskstream list: --state: must be one of QUEUED, .*got "DONE"/],
      [["list", "--first", "0"], /^taskstream list: --first: must be an integer from 1 to 500/],
      [["get", "a", "b"], /^taskstream get: unexpected argument "b"/],
      [["frobnicate"], /^taskstream: unknown verb "frobnicate"/],
    ];
    for (const [args, message] of cases) {
      const result = await run(...args);
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stderr, args.join(" ")).toMatch(message);
      expect(result.stderr).not.toMatch(/^\s+at /m);
    }
    const listed = await run("list", "--type", type, "--json");
    expect(JSON.parse(listed.stdout)).toMatchObject({ tasks: [] });
  });

  it("get prints the task's fields as aligned lines, --json as the API's object; an unknown id exits 1 without a stack", async () => {
    const { id } = await submitted("cli-get", "--payload", '{"to":"ada"}');
    const got = await run("get", id);
    expect(got.code).toBe(0);
    const lines = got.stdout.trimEnd().split("\n");
    expect(lines).toContain(`id               ${id}`);
    expect(lines).toContain("state            QUEUED");
    expect(lines).toContain('payload          {"to":"ada"}');
    expect(JSON.parse((await run("get", id, "--json")).stdout)).toMatchObject({
      id,
      type: "cli-get",
      state: "QUEUED",
    });

    const unknown = await run("get", "no-such-task");
    expect(unknown).toMatchObject({ code: 1, stdout: "" });
    expect(unknown.stderr).toBe("taskstream get: task no-such-task not found [404 NOT_FOUND]\n");
  });

  it("cancel cancels a queued task with the reason given; cancelling it again exits 1 with the 409", async () => {
    const { id } = await submitted("cli-cancel");
    const cancelled = await run("cancel", id, "--reason", "operator changed their mind");
    expect(cancelled).toMatchObject({ code: 0, stdout: `${id} CANCELLED\n` });
    const last = (await server.store.readTask(id)).at(-1);
    expect(last).toMatchObject({ type: "TaskCancelled", data: { reason: "operator changed their mind" } });

    const again = await run("cancel", id);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^taskstream cancel: .* \[409 ILLEGAL_STATE\]\n$/);
  });

  it("retry of a task that is not dead-lettered exits 1 with the 409", async () => {
    const { id } = await submitted("cli-retry");
    const result = await run("retry", id);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^taskstream retry: .* \[409 ILLEGAL_STATE\]\n$/);
  });

  it("history prints each event as a row; --json the events", async () => {
    const { id } = await submitted("cli-history");
    await run("cancel", id, "--reason", "enough");
    const result = await run("history", id);
    expect(result.code).toBe(0);
    const [header, first, second] = result.stdout.trimEnd().split("\n");
    expect(header).toMatch(/^V\s+AT\s+EVENT\s+DATA$/);
    expect(first).toMatch(/^1\s+\d{4}-\d\d-\d\dT[\d:.]+Z\s+TaskSubmitted\s+\{"spec":/);
    expect(second).toMatch(/^2\s+\S+\s+TaskCancelled\s+\{"reason":"enough"/);
    const json = JSON.parse((await run("history", id, "--json")).stdout) as { type: string }[];
    expect(json.map((e) => e.type)).toEqual(["TaskSubmitted", "TaskCancelled"]);
  });

  it("list prints an aligned table without quotes or index column, filtered by type and state", async () => {
    const type = uniqueType("cli-list");
    const waiting = await submitted(type, "--priority", "3");
    const dropped = await submitted(type);
    expect((await run("cancel", dropped.id)).code).toBe(0);
    for (const id of [waiting.id, dropped.id]) await projected(id);

    const all = await run("list", "--type", type);
    expect(all.code).toBe(0);
    const [header, ...rows] = all.stdout.trimEnd().split("\n");
    expect(header).toMatch(/^ID\s+TYPE\s+STATE\s+PRI\s+ATTEMPT\s+WORKER\s+UPDATED$/);
    // Newest first; every column starts where its header does.
    expect(rows.map((row) => row.slice(0, 36))).toEqual([dropped.id, waiting.id]);
    const stateAt = header!.indexOf("STATE");
    expect(rows.map((row) => row.slice(stateAt).split(/\s+/)[0])).toEqual(["CANCELLED", "QUEUED"]);
    expect(all.stdout).not.toMatch(/['"│┌]|\(index\)/);

    const cancelled = await run("list", "--type", type, "--state", "cancelled", "--json");
    const page = JSON.parse(cancelled.stdout) as { tasks: { id: string }[]; hasNextPage: boolean };
    expect(page.tasks.map((t) => t.id)).toEqual([dropped.id]);

    const firstPage = await run("list", "--type", type, "--first", "1", "--oldest");
    expect(firstPage.stdout).toContain(waiting.id);
    const cursor = /\(more: --after (\S+)\)/.exec(firstPage.stdout)?.[1];
    expect(cursor).toBeDefined();
    const next = await run("list", "--type", type, "--first", "1", "--oldest", "--after", cursor!);
    expect(next.stdout).toContain(dropped.id);
    expect(next.stdout).not.toContain("(more:");
  });

  it("get --watch prints the task, then each change, and ends by itself when it finishes", async () => {
    const { id } = await submitted("cli-watch");
    const watch = startTaskstream(["get", id, "--watch"], env());
    await watch.printed(/state\s+QUEUED/);
    expect((await run("cancel", id, "--reason", "watched")).code).toBe(0);
    const ended = await watch.ended;
    expect(ended.code, ended.stderr).toBe(0);
    expect(ended.stdout).toMatch(/\n\S+Z {2}v2 {2}TaskCancelled\s+→ CANCELLED\n$/);
  });

  it("list --watch prints the page, then each matching event as it happens, until interrupted", async () => {
    const type = uniqueType("cli-follow");
    const before = await submitted(type);
    await projected(before.id);
    const watch = startTaskstream(["list", "--type", type, "--watch", "--json"], env());
    const [page] = (await watch.printed(/\n/)).split("\n");
    expect((JSON.parse(page!) as { tasks: { id: string }[] }).tasks.map((t) => t.id)).toEqual([before.id]);

    const after = await submitted(type);
    await run("cancel", after.id);
    await watch.printed(/"type":"TaskCancelled"/);
    const ended = await watch.stop("SIGINT");
    expect(ended.code, ended.stderr).toBe(0);
    const events = ended.stdout
      .trimEnd()
      .split("\n")
      .slice(1)
      .map((line) => JSON.parse(line) as { taskId: string; type: string; state: string });
    expect(events.map((e) => [e.taskId, e.type, e.state])).toEqual([
      [after.id, "TaskSubmitted", "QUEUED"],
      [after.id, "TaskCancelled", "CANCELLED"],
    ]);
  });

  it("--watch with a filter the feed cannot follow exits 2 naming the flag", async () => {
    const result = await run("list", "--priority", "3", "--watch");
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^taskstream list: --priority cannot be combined with --watch/);
  });

  it("a server that cannot be reached exits 1 and says where it looked", async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const result = await taskstream(["list", "--url", url]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      new RegExp(`^taskstream list: cannot reach Taskstream at ${url} \\(.*ECONNREFUSED.*\\)`),
    );
  });

  it("list --watch resumes after the server restarts, from the last event it printed: no gap, no repeat", async () => {
    const type = uniqueType("cli-resume");
    const roles = new Set(["api", "projector", "read-api"] as const);
    let first: RunningServer | undefined = await startTestServer({ roles }, "cli-resume");
    const { prefix } = first.config;
    const port = Number(new URL(first.httpUrl).port);
    let second: RunningServer | undefined;
    const submit = async (url: string) => {
      const response = await fetch(`${url}/v1/tasks`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ type }),
      });
      return ((await response.json()) as Submitted).id;
    };
    try {
      const watch = startTaskstream(["list", "--type", type, "--watch", "--json"], {
        TASKSTREAM_URL: first.httpUrl,
      });
      await watch.printed(/\n/);
      const before = await submit(first.httpUrl);
      await watch.printed(new RegExp(before));
      await first.close();
      first = undefined;
      second = await startTestServer({ roles, prefix, httpPort: port }, "cli-resume");
      const after = await submit(second.httpUrl);
      await watch.printed(new RegExp(after));
      const ended = await watch.stop("SIGINT");
      expect(ended.code, ended.stderr).toBe(0);
      expect(ended.stderr).toMatch(/resuming after the last event seen/);
      const events = ended.stdout
        .trimEnd()
        .split("\n")
        .slice(1)
        .map((line) => JSON.parse(line) as { taskId: string; type: string });
      expect(events.map((e) => [e.taskId, e.type])).toEqual([
        [before, "TaskSubmitted"],
        [after, "TaskSubmitted"],
      ]);
    } finally {
      await first?.close();
      await second?.close();
    }
  });
});
