import { TaskstreamError } from "../domain/task/index.ts";
import { ApiError, UnreachableError } from "./client/api-client.ts";
import { runVerb, UsageError, type Verb } from "./verb.ts";

/**
 * The `taskstream` program: one binary, a verb per role or operator action. Verbs that manage
 * tasks, queues, workers and schedules are clients of a running server (--url); serve, dev and
 * migrate run it; replay and verify read the log and the read model themselves.
 */
interface Entry {
  summary: string;
  load: () => Promise<Verb>;
}
type Group = Record<string, Entry>;

const tasks = () => import("./verbs/tasks.ts");
const VERBS: Record<string, Entry | Group> = {
  submit: { summary: "submit a task", load: async () => (await tasks()).submit },
  get: { summary: "a task's current state (--watch follows it)", load: async () => (await tasks()).get },
  list: {
    summary: "tasks from the read model (--watch follows them)",
    load: async () => (await tasks()).list,
  },
  cancel: { summary: "cancel a task", load: async () => (await tasks()).cancel },
  retry: { summary: "revive a dead-lettered task", load: async () => (await tasks()).retry },
  history: { summary: "a task's events, over the API", load: async () => (await tasks()).history },
  replay: {
    summary: "a task's events from the log, with the state after each",
    load: async () => (await import("./verbs/audit.ts")).replay,
  },
  "dead-letters": {
    list: {
      summary: "dead-lettered tasks and their errors",
      load: async () => (await import("./verbs/dead-letters.ts")).list,
    },
    retry: {
      summary: "retry every dead letter matching a filter",
      load: async () => (await import("./verbs/dead-letters.ts")).retry,
    },
  },
  workers: { summary: "connected workers", load: async () => (await import("./verbs/cluster.ts")).workers },
  queues: {
    get: {
      summary: "queues, their limits and tasks by state",
      load: async () => (await import("./verbs/cluster.ts")).queuesGet,
    },
    set: {
      summary: "change a queue's limits",
      load: async () => (await import("./verbs/cluster.ts")).queuesSet,
    },
  },
  schedules: {
    create: {
      summary: "create a cron schedule",
      load: async () => (await import("./verbs/schedules.ts")).create,
    },
    list: { summary: "list schedules", load: async () => (await import("./verbs/schedules.ts")).list },
    pause: { summary: "pause a schedule", load: async () => (await import("./verbs/schedules.ts")).pause },
    resume: { summary: "resume a schedule", load: async () => (await import("./verbs/schedules.ts")).resume },
    delete: { summary: "delete a schedule", load: async () => (await import("./verbs/schedules.ts")).remove },
  },
  stats: {
    summary: "tasks by state, throughput and latency",
    load: async () => (await import("./verbs/cluster.ts")).stats,
  },
  verify: {
    summary: "prove the read model equals the fold of the log",
    load: async () => (await import("./verbs/audit.ts")).verify,
  },
  serve: {
    summary: "run roles: serve --roles api,dispatcher,projector,read-api",
    load: async () => (await import("./verbs/roles.ts")).serve,
  },
  dev: {
    summary: "local services + every role + a demo worker",
    load: async () => (await import("./verbs/roles.ts")).dev,
  },
  migrate: {
    summary: "apply the PostgreSQL migrations",
    load: async () => (await import("./verbs/roles.ts")).migrate,
  },
};

const isEntry = (value: Entry | Group): value is Entry => typeof (value as Entry).load === "function";

function overview(): string {
  const lines: string[] = [];
  for (const [name, value] of Object.entries(VERBS)) {
    if (isEntry(value)) lines.push(`  ${name.padEnd(22)} ${value.summary}`);
    else
      for (const [sub, entry] of Object.entries(value))
        lines.push(`  ${`${name} ${sub}`.padEnd(22)} ${entry.summary}`);
  }
  return [
    "usage: taskstream <verb> [flags]     (taskstream <verb> --help: its flags and an example)",
    "",
    ...lines,
    "",
    "Client verbs talk to a running server: --url or TASKSTREAM_URL (default http://127.0.0.1:8080), --json for JSON.",
    "Exit codes: 0 done, 1 the operation failed, 2 the command line was wrong.",
  ].join("\n");
}

/** The verb the command line names, with the rest of it; or a usage error. */
function resolve(args: string[]): { name: string; entry: Entry; rest: string[] } | "help" {
  const [first, second, ...others] = args;
  if (first === undefined || first === "help" || first === "--help" || first === "-h") return "help";
  const value = VERBS[first];
  if (!value) throw new UsageError(`unknown verb "${first}"; taskstream help lists them`);
  if (isEntry(value)) return { name: first, entry: value, rest: args.slice(1) };
  const subs = Object.keys(value).join(", ");
  if (second === undefined || second === "--help" || second === "-h" || second === "help") {
    // Asked for: on stdout; a verb left out: on stderr, exit code 2.
    const print = second === undefined ? console.error : console.log;
    print(`taskstream ${first} <${Object.keys(value).join("|")}> [flags]\n`);
    for (const [sub, entry] of Object.entries(value)) print(`  ${first} ${sub.padEnd(10)} ${entry.summary}`);
    if (second === undefined) process.exitCode = 2;
    return "help";
  }
  const entry = value[second];
  if (!entry) throw new UsageError(`unknown verb "${first} ${second}"; one of: ${subs}`);
  return { name: `${first} ${second}`, entry, rest: others };
}

/** What to print for a failure, and the exit code: 2 for the command line, 1 for the rest. */
export function describeFailure(error: unknown): { message: string; code: number } {
  if (error instanceof UsageError) return { message: error.message, code: 2 };
  if (error instanceof ApiError) return { message: error.describe(), code: 1 };
  if (error instanceof UnreachableError) return { message: error.message, code: 1 };
  if (error instanceof TaskstreamError)
    return { message: error.message, code: error.code === "VALIDATION" ? 2 : 1 };
  // A connection failure of Redis or PostgreSQL (replay, verify) carries a system code.
  if (error instanceof Error && typeof (error as { code?: unknown }).code === "string")
    return { message: error.message, code: 1 };
  return { message: error instanceof Error ? (error.stack ?? error.message) : String(error), code: 1 };
}

async function main(args: string[]): Promise<void> {
  let name = VERBS[args[0] ?? ""] ? args[0]! : "";
  try {
    const resolved = resolve(args);
    if (resolved === "help") {
      if (process.exitCode === undefined && !VERBS[name]) console.log(overview());
      return;
    }
    name = resolved.name;
    await runVerb(await resolved.entry.load(), resolved.rest);
  } catch (error) {
    const { message, code } = describeFailure(error);
    const hint = code === 2 && VERBS[args[0] ?? ""] ? `\n(taskstream ${name} --help shows its flags)` : "";
    console.error(`taskstream${name ? ` ${name}` : ""}: ${message}${hint}`);
    process.exit(code);
  }
}

void main(process.argv.slice(2));
