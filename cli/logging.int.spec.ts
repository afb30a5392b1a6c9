import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { testServices, uniquePrefix } from "../tests/support/services.ts";
import { freePort } from "../tests/support/process-cluster.ts";

const MAIN = fileURLToPath(new URL("./main.ts", import.meta.url));

/** A `taskstream` process with its output split into lines as it comes. */
interface Program {
  child: ChildProcess;
  stdout: string[];
  stderr: string[];
  /** Resolves with the first stdout line matching `pattern` (already written or to come). */
  line(pattern: RegExp): Promise<string>;
  exited: Promise<number | null>;
}

const running: Program[] = [];

function taskstream(args: string[], env: Record<string, string> = {}): Program {
  const base = { ...process.env };
  delete base.TASKSTREAM_LOG_LEVEL;
  delete base.TASKSTREAM_LOG_FORMAT;
  const child = spawn(process.execPath, ["--disable-warning=ExperimentalWarning", MAIN, ...args], {
    env: {
      ...base,
      TASKSTREAM_HOST: "127.0.0.1",
      // On loopback with no keys: serve would otherwise refuse to start (docs/security.md).
      TASKSTREAM_AUTH: "off",
      TASKSTREAM_HTTP_PORT: "0",
      TASKSTREAM_GRPC_PORT: "0",
      TASKSTREAM_REDIS_URL: testServices.redisUrl,
      TASKSTREAM_PG_URL: testServices.pgUrl,
      TASKSTREAM_ETCD_ENDPOINTS: testServices.etcdEndpoints.join(","),
      TASKSTREAM_PREFIX: uniquePrefix("logs"),
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  const collect = (into: string[]) => {
    let pending = "";
    return (chunk: Buffer) => {
      const parts = (pending + chunk.toString()).split("\n");
      pending = parts.pop()!;
      into.push(...parts);
      if (into !== stdout) return;
      for (const waiter of [...waiters]) {
        const found = parts.find((part) => waiter.pattern.test(part));
        if (found === undefined) continue;
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(found);
      }
    };
  };
  child.stdout.on("data", collect(stdout));
  child.stderr.on("data", collect(stderr));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const program: Program = {
    child,
    stdout,
    stderr,
    exited,
    line: (pattern) => {
      const found = stdout.find((line) => pattern.test(line));
      if (found !== undefined) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        waiters.push({ pattern, resolve });
        void exited.then(() =>
          reject(new Error(`exited before ${pattern}:\n${stdout.join("\n")}\n${stderr.join("\n")}`)),
        );
      });
    },
  };
  running.push(program);
  return program;
}

/** Stops a program as Ctrl-C does and waits for it to end. */
async function interrupt(program: Program): Promise<void> {
  program.child.kill("SIGINT");
  expect(await program.exited).toBe(0);
}

/** The stdout lines that are JSON objects (the log), parsed. */
function jsonLines(program: Program): Record<string, unknown>[] {
  return program.stdout.flatMap((line) => {
    try {
      const value = JSON.parse(line) as Record<string, unknown> | null;
      return value !== null && typeof value === "object" ? [value] : [];
    } catch {
      return [];
    }
  });
}

afterEach(async () => {
  for (const program of running.splice(0)) {
    if (program.child.exitCode === null && program.child.signalCode === null) {
      program.child.kill("SIGKILL");
      await program.exited;
    }
  }
});

describe("the taskstream program's log", { timeout: 90_000 }, () => {
  it("`serve` logs JSON; at --log-level debug one line per request, with the request's trace ids", async () => {
    const serve = taskstream(["serve", "--roles", "api", "--log-level", "debug"], {
      OTEL_TRACES_EXPORTER: "console",
      OTEL_METRICS_EXPORTER: "none",
      OTEL_LOGS_EXPORTER: "none",
    });
    const serving = JSON.parse(await serve.line(/"msg":"taskstream serving"/)) as { http: string };
    expect(serving).toMatchObject({ level: "info", roles: "api" });
    expect((await fetch(`${serving.http}/v1/tasks/nonexistent`)).status).toBe(404);
    await serve.line(/"msg":"request"/);
    await interrupt(serve);

    const log = jsonLines(serve).filter((line) => "msg" in line);
    expect(log.length).toBeGreaterThan(2);
    for (const line of log) {
      expect(typeof line.level).toBe("string");
      expect(new Date(String(line.time)).toISOString()).toBe(line.time);
    }
    const request = log.find((line) => line.msg === "request");
    expect(request).toMatchObject({
      level: "debug",
      component: "http",
      method: "GET",
      url: "/v1/tasks/nonexistent",
      status: 404,
    });
    expect(request?.trace_id).toMatch(/^[\da-f]{32}$/);
    expect(request?.span_id).toMatch(/^[\da-f]{16}$/);
    // The console exporter printed the request's span, named by its route, in the same trace.
    const output = serve.stdout.join("\n");
    expect(output).toContain(`traceId: '${String(request!.trace_id)}'`);
    expect(output).toContain("name: 'GET /v1/tasks/:id'");
  });

  it("`serve` leaves out what is below --log-level (TASKSTREAM_LOG_LEVEL too)", async () => {
    const port = await freePort();
    const serve = taskstream(["serve", "--roles", "api"], {
      TASKSTREAM_LOG_LEVEL: "warn",
      TASKSTREAM_HTTP_PORT: String(port),
    });
    // Nothing says it is up at this level: ask it.
    for (let up = false; !up; await new Promise((resolve) => setTimeout(resolve, 100))) {
      expect(serve.child.exitCode).toBeNull();
      up = await fetch(`http://127.0.0.1:${port}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
    }
    expect((await fetch(`http://127.0.0.1:${port}/v1/tasks/nonexistent`)).status).toBe(404);
    await interrupt(serve);
    expect(serve.stdout).toEqual([]);
  });

  it("refuses a log level it does not know, naming the accepted ones", async () => {
    for (const [args, env] of [
      [["serve", "--log-level", "loud"], {}],
      [["dev"], { TASKSTREAM_LOG_LEVEL: "loud" }],
    ] as const) {
      const program = taskstream([...args], env);
      // A configuration value it cannot take is a wrong command line: exit code 2.
      expect(await program.exited).toBe(2);
      expect(program.stderr.join("\n")).toContain(
        'log-level: must be one of fatal, error, warn, info, debug, trace, silent; got "loud"',
      );
      expect(program.stdout).toEqual([]);
    }
  });

  it("`dev` prints one readable line per event: time, level, component, message, fields", async () => {
    const dev = taskstream(["dev", "--log-level", "debug"]);
    const rest = await dev.line(/^\s+REST\s+http:\/\/\S+\/v1\/tasks$/);
    const url = rest.trim().split(/\s+/)[1]!;
    await dev.line(/INFO: dispatcher {2}dispatcher leading its partitions {2}partitions=[\d,]+/);
    expect((await fetch(url.replace("/v1/tasks", "/healthz"))).status).toBe(200);
    await dev.line(/DEBUG: http {8}request {2}reqId=\S+ method=GET url=\/healthz status=200 ms=[\d.]+$/);
    await interrupt(dev);
    const events = dev.stdout.filter((line) => /^\[\d\d:\d\d:\d\d\.\d{3}\] [A-Z]+: /.test(line));
    expect(events.length).toBeGreaterThan(3);
    expect(dev.stdout.filter((line) => line.startsWith("{"))).toEqual([]);
  });
});
