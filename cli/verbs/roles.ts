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

export const keys: Verb = {
  name: "keys",
  summary: "API keys in PostgreSQL (docs/security.md): create (the secret is shown once), list, revoke.",
  args: ["create|list|revoke", "[ID]"],
  config: true,
  flags: {
    namespace: { type: "string", value: "NS[,NS…|*]", help: "the namespaces the key may use (create)" },
    scopes: { type: "string", value: "SCOPES", help: "submit,read,cancel,admin,worker (create)" },
    "task-types": { type: "string", value: "T,…", help: "limit a worker key to these task types (create)" },
    name: { type: "string", value: "TEXT", help: "a name for the key (create)" },
  },
  examples: [
    "taskstream keys create --namespace default --scopes submit,read",
    "taskstream keys list --json",
    "taskstream keys revoke 01a2…",
  ],
  run: async (c) => (await import("./keys.ts")).keys(c.argv),
};

export const projections: Verb = {
  name: "projections",
  summary:
    "Refill the read model from the archive and the log in fresh tables, then swap it in (docs/projection-rebuild.md); progress on stderr.",
  args: ["rebuild"],
  config: true,
  flags: {
    restart: { type: "boolean", help: "discard an unfinished rebuild and start over" },
    discard: { type: "boolean", help: "only discard an unfinished rebuild" },
    "no-verify": { type: "boolean", help: "skip the verification of the new tables" },
    "keep-old": { type: "boolean", help: "keep the replaced tables beside the new ones" },
    "page-size": { type: "string", value: "N", help: "events per page, 1-100000 (default 4000)" },
  },
  examples: ["taskstream projections rebuild --json"],
  run: async (c) => (await import("./projections.ts")).projectionsVerb(c.argv),
};
