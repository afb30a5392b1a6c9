import type { Verb } from "./verb.ts";

/** Every verb of `taskstream`, by name (a group's verbs under its name), loaded when run. */
export interface Entry {
  summary: string;
  load: () => Promise<Verb>;
}
export type Group = Record<string, Entry>;

const tasks = () => import("./verbs/tasks.ts");
export const VERBS: Record<string, Entry | Group> = {
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
  keys: {
    summary: "API keys: create, list, revoke",
    load: async () => (await import("./verbs/roles.ts")).keys,
  },
  projections: {
    summary: "rebuild the read model from the archive and the log, then swap it in",
    load: async () => (await import("./verbs/roles.ts")).projections,
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

export const isEntry = (value: Entry | Group): value is Entry => typeof (value as Entry).load === "function";

export function overview(): string {
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
    "Logs (serve, dev): --log-level fatal|error|warn|info|debug|trace|silent (info), --log-format pretty|json (dev: pretty, serve: json).",
    "Tracing (serve, dev): the standard OTEL_* variables (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER, …).",
  ].join("\n");
}
