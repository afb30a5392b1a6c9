/**
 * What tracing costs a submission: the CPU time an API process (`taskstream serve --roles api`)
 * spends per REST submission with tracing off, on for every task, and on for 1% of tasks. CPU time
 * (user + system, from /proc) rather than wall time, so a machine busy with other work moves the
 * figures little. Spans go to an OTLP stand-in in this process that accepts and discards them.
 *
 *   npm run bench:tracing                          # 4,000 submissions per measurement, 3 rounds
 *   npm run bench:tracing -- --tasks 1000 --rounds 1
 *
 * Prints one JSON line per measurement, then `{"tracingCost":{mode:{cpuMsPerSubmit,perS}}}` (medians).
 */
import { spawn } from "node:child_process";
import { createServer, type Server } from "node:http";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import { processCpuMs } from "./cpu.ts";
import { deletePrefix } from "./redis-admin.ts";
import { ROOT } from "./proc.ts";

const { values } = parseArgs({ options: { tasks: { type: "string" }, rounds: { type: "string" } } });
const TASKS = Number(values.tasks ?? 4000);
const ROUNDS = Number(values.rounds ?? 3);
const WARM_UP = 1000;
const IN_FLIGHT = 16;

interface Measurement {
  mode: string;
  cpuMsPerSubmit: number;
  perS: number;
}

/** An OTLP/HTTP endpoint that answers every export with 200 and keeps nothing. */
async function startSink(): Promise<{ server: Server; url: string }> {
  const server = createServer((request, response) => {
    request.resume();
    request.on("end", () => response.writeHead(200, { "content-type": "application/x-protobuf" }).end());
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("sink has no port");
  return { server, url: `http://127.0.0.1:${address.port}` };
}

async function submitAll(http: string, count: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < count) {
        next++;
        const reply = await fetch(`${http}/v1/tasks`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ type: "tracing-cost", payload: { n: next } }),
        });
        await reply.arrayBuffer();
        if (reply.status !== 201) throw new Error(`submission answered ${reply.status}`);
      }
    }),
  );
}

async function measure(mode: string, env: NodeJS.ProcessEnv, prefix: string): Promise<Measurement> {
  const args = ["--disable-warning=ExperimentalWarning", "cli/main.ts", "serve", "--roles", "api"];
  const child = spawn(process.execPath, [...args, "--http-port", "0", "--grpc-port", "0"], {
    cwd: ROOT,
    env: { ...process.env, ...env, TASKSTREAM_PREFIX: prefix, TASKSTREAM_LOG_LEVEL: "info" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    let http = "";
    for await (const line of createInterface({ input: child.stdout })) {
      if (!line.includes('"taskstream serving"')) continue;
      http = (JSON.parse(line) as { http: string }).http;
      break;
    }
    if (http === "") throw new Error(`taskstream serve (${mode}) exited before serving`);
    child.stdout.resume();
    await submitAll(http, WARM_UP);
    const before = processCpuMs(child.pid);
    const started = performance.now();
    await submitAll(http, TASKS);
    const seconds = (performance.now() - started) / 1000;
    const cpuMsPerSubmit = Math.round(((processCpuMs(child.pid) - before) / TASKS) * 1000) / 1000;
    return { mode, cpuMsPerSubmit, perS: Math.round(TASKS / seconds) };
  } finally {
    child.kill("SIGTERM");
    if (child.exitCode === null) await once(child, "exit");
  }
}

const median = (numbers: number[]) => [...numbers].sort((a, b) => a - b)[Math.floor(numbers.length / 2)]!;

const sink = await startSink();
const redis = new Redis(process.env.TASKSTREAM_REDIS_URL ?? "redis://127.0.0.1:6379");
const tracing = { OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, OTEL_METRICS_EXPORTER: "none" };
const modes: Record<string, NodeJS.ProcessEnv> = {
  off: {},
  "on, every task": tracing,
  "on, 1% of tasks": {
    ...tracing,
    OTEL_TRACES_SAMPLER: "parentbased_traceidratio",
    OTEL_TRACES_SAMPLER_ARG: "0.01",
  },
};
const results: Measurement[] = [];
try {
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [mode, env] of Object.entries(modes)) {
      const prefix = `tscost-${process.pid}-${round}`;
      try {
        const result = await measure(mode, env, prefix);
        results.push(result);
        console.log(JSON.stringify({ round, ...result }));
      } finally {
        await deletePrefix(redis, prefix);
      }
    }
  }
} finally {
  redis.disconnect();
  sink.server.close();
}
const summary = Object.fromEntries(
  Object.keys(modes).map((mode) => {
    const of = results.filter((r) => r.mode === mode);
    return [
      mode,
      { cpuMsPerSubmit: median(of.map((r) => r.cpuMsPerSubmit)), perS: median(of.map((r) => r.perS)) },
    ];
  }),
);
console.log(JSON.stringify({ tracingCost: summary }));
