import type { Verb } from "../verb.ts";

/** The verbs that run Taskstream itself: their help, over the functions in serve.ts, dev.ts and migrate.ts. */

export const serve: Verb = {
  name: "serve",
  summary:
    "Run the configured roles until SIGINT or SIGTERM (migrating PostgreSQL first when a role reads it).",
  config: true,
  noJson: true,
  flags: {},
  examples: [
    "taskstream serve --roles api,read-api --http-port 8080 --pg-url postgres://taskstream@db/taskstream",
  ],
  run: async (c) => (await import("./serve.ts")).serve(c.argv),
};

export const dev: Verb = {
  name: "dev",
  summary: "Every role in one process on loopback, GraphiQL on, and a demo worker for echo, sleep and fail.",
  config: true,
  noJson: true,
  flags: {},
  examples: ["taskstream dev --http-port 8081"],
  run: async (c) => (await import("./dev.ts")).dev(c.argv),
};

export const migrate: Verb = {
  name: "migrate",
  summary: "Apply the numbered PostgreSQL migrations not applied yet.",
  config: true,
  noJson: true,
  flags: {},
  examples: ["taskstream migrate --pg-url postgres://taskstream@db/taskstream"],
  run: async (c) => (await import("./migrate.ts")).migrateVerb(c.argv),
};
