import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { NotFoundError, ValidationError } from "../domain/task/index.ts";
import { ApiError } from "./client/api-client.ts";
import { ProgressBar, renderBar } from "./output/progress.ts";
import { details, table } from "./output/table.ts";
import { isEntry, VERBS, type Entry } from "./registry.ts";
import { describeFailure, helpText, parseVerbArgs, UsageError, type Verb } from "./verb.ts";

/** Every verb, with the name it is typed as. */
async function everyVerb(): Promise<[string, Verb][]> {
  const entries: [string, Entry][] = [];
  for (const [name, value] of Object.entries(VERBS)) {
    if (isEntry(value)) entries.push([name, value]);
    else for (const [sub, entry] of Object.entries(value)) entries.push([`${name} ${sub}`, entry]);
  }
  return Promise.all(entries.map(async ([name, entry]) => [name, await entry.load()] as [string, Verb]));
}

const verb: Verb = {
  name: "try",
  summary: "A verb for this spec.",
  args: ["ID"],
  flags: { first: { type: "string", value: "N", help: "how many" }, all: { type: "boolean", help: "all" } },
  examples: ["taskstream try x --first 2"],
  client: true,
  run: async () => undefined,
};
const usage = (argv: string[]) => {
  try {
    parseVerbArgs(verb, argv);
  } catch (error) {
    return error;
  }
  throw new Error("parsed");
};

describe("the verbs' command lines", () => {
  it("every verb has a summary, --help with its usage and an example of itself, and --json unless it runs a server", async () => {
    const verbs = await everyVerb();
    expect(verbs.map(([name]) => name)).toEqual(
      expect.arrayContaining([
        ...["submit", "get", "list", "cancel", "retry", "replay", "history"],
        ...["dead-letters list", "dead-letters retry", "workers", "queues get", "queues set"],
        ...["schedules create", "schedules list", "schedules pause", "schedules resume", "schedules delete"],
        ...["stats", "verify", "serve", "dev", "migrate"],
      ]),
    );
    for (const [name, v] of verbs) {
      expect(v.name).toBe(name);
      const help = helpText(v);
      expect(help).toContain(`usage: taskstream ${name}`);
      expect(help).toMatch(/\nexamples?:\n {2}taskstream /);
      for (const example of v.examples) expect(example.startsWith(`taskstream ${name}`), example).toBe(true);
      expect(help.includes("--json"), name).toBe(!v.noJson);
      expect(help).toContain("-h, --help");
      if (v.client) expect(help).toContain("--url URL");
    }
  });

  it("names the flag that is unknown, lacks its value, or takes none", () => {
    expect(usage(["x", "--firts", "2"])).toEqual(new UsageError("unknown flag --firts"));
    expect(usage(["x", "--first"])).toEqual(new UsageError("--first needs a value"));
    expect(usage(["x", "--all=yes"])).toEqual(new UsageError("--all takes no value"));
    expect(usage(["x", "--first", "-2"])).toEqual(
      new UsageError('--first: a value starting with "-" is written --first=VALUE'),
    );
    expect(usage(["x", "y"])).toEqual(new UsageError('unexpected argument "y"'));
  });

  it("checks values: integers in bounds, JSON, choices, required arguments", () => {
    const c = parseVerbArgs(verb, ["--first", "2.5"]);
    expect(() => c.int("first", 1, 10)).toThrow(
      new UsageError('--first: must be an integer from 1 to 10, got "2.5"'),
    );
    expect(parseVerbArgs(verb, ["x", "--first", "7"]).int("first", 1, 10)).toBe(7);
    expect(() => c.arg(0, "ID")).toThrow(new UsageError("ID is required"));
    expect(() => parseVerbArgs(verb, ["--first", "{"]).jsonValue("first")).toThrow(/--first: not valid JSON/);
    expect(parseVerbArgs(verb, ["--first", "queued"]).choice("first", ["QUEUED"])).toBe("QUEUED");
  });

  it("exits 2 for the command line, 1 for the rest, with one line for server errors and no stack", () => {
    expect(describeFailure(new UsageError("unknown flag --x"))).toEqual({
      message: "unknown flag --x",
      code: 2,
    });
    expect(
      describeFailure(new ValidationError([{ field: "http-port", reason: "must be a port" }])).code,
    ).toBe(2);
    expect(describeFailure(new NotFoundError("task t"))).toEqual({ message: "task t not found", code: 1 });
    const api = new ApiError("payload: too big", 400, "VALIDATION", [
      { field: "payload", reason: "too big" },
      { field: "priority", reason: "must be 0-9" },
    ]);
    expect(describeFailure(api)).toEqual({
      message: "payload: too big [400 VALIDATION]\n  payload: too big\n  priority: must be 0-9",
      code: 1,
    });
    expect(describeFailure(new Error("bug")).message).toMatch(/^Error: bug\n\s+at /);
  });
});

describe("human output", () => {
  it("aligns columns under their headers, numbers to the right, with no quotes and '-' for nothing", () => {
    const rows = [
      { id: "a", state: "QUEUED", n: 5, error: null, data: { x: "y" } },
      { id: "bbbb", state: "DEAD_LETTERED", n: 10, error: "boom", data: "text with\nnewline" },
    ];
    const text = table(rows, [
      { header: "ID", value: (r) => r.id },
      { header: "STATE", value: (r) => r.state },
      { header: "N", value: (r) => r.n, right: true },
      { header: "ERROR", value: (r) => r.error },
      { header: "DATA", value: (r) => r.data, max: 9 },
    ]);
    expect(text.split("\n")).toEqual([
      "ID    STATE           N  ERROR  DATA",
      'a     QUEUED          5  -      {"x":"y"}'.replace('{"x":"y"}', '{"x":"y"}'),
      "bbbb  DEAD_LETTERED  10  boom   text wit…",
    ]);
    expect(table([], [{ header: "ID", value: () => 1 }], "(no tasks)")).toBe("(no tasks)");
    expect(
      details([
        ["id", "t1"],
        ["last error", null],
      ]),
    ).toBe("id          t1\nlast error  -");
  });

  it("draws the bar in place on a terminal, and nothing elsewhere", () => {
    const written = (live: boolean) => {
      let text = "";
      const stream = new Writable({
        write(chunk: Buffer, _encoding, done) {
          text += chunk.toString();
          done();
        },
      }) as unknown as NodeJS.WriteStream;
      const bar = new ProgressBar("retrying", 4, stream, live);
      for (let i = 1; i <= 4; i++) bar.update(i);
      bar.done("4 retried");
      return text;
    };
    expect(written(false)).toBe("");
    const live = written(true);
    expect(live).toContain(`\r${renderBar("retrying", 2, 4)}`);
    expect(live.endsWith("\r\x1b[2Kretrying: 4 retried\n")).toBe(true);
    expect(renderBar("verifying", 5, 10, 10)).toBe("verifying [#####.....]  50% 5/10");
  });
});
