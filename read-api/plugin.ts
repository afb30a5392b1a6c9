import { readdirSync, readFileSync } from "node:fs";
import type { FastifyInstance } from "fastify";
import type { Redis } from "ioredis";
import mercurius, { type IResolvers, type MercuriusLoaders } from "mercurius";
import type pg from "pg";
import type { TaskRow } from "../projections/task-row.ts";
import { eventsLoader } from "./resolvers/events-loader.ts";
import { queryResolvers } from "./resolvers/query.ts";
import { DateTimeScalar, JsonScalar } from "./resolvers/scalars.ts";
import { subscriptionResolvers } from "./resolvers/subscription.ts";
import { dispatchResolvers } from "./resolvers/dispatch-stats.ts";
import { mutationResolvers } from "./resolvers/mutations.ts";
import type { TaskCommands } from "../commands/task-commands.ts";
import { TaskUpdatesFeed } from "./task-updates.ts";
import { scheduleResolvers } from "./resolvers/schedules.ts";
import type { ScheduleCommands } from "../commands/schedules/schedule-commands.ts";

export interface ReadApiOptions {
  /** The read model's database. */
  pool: pg.Pool;
  /** A connection whose `duplicate()` becomes this instance's subscriber to the projector's updates. */
  redis: Redis;
  /** The event store's key prefix: the updates arrive on `${prefix}:task-updates`. */
  prefix: string;
  /** Serve GraphiQL at /graphiql. */
  graphiql: boolean;
  /** Answers `task(id)` for a task not projected yet; see `taskFromLog`. Its `events` stay empty until projected. */
  getTaskFromLog?: (id: string) => Promise<TaskRow | null>;
  /** The command layer, for mutations (cancelTask, retryTask); without it they answer an error. */
  commands?: TaskCommands;
  /** The schedule command layer, for the schedule mutations; without it they answer an error. */
  scheduleCommands?: ScheduleCommands;
}

// schema.graphql first, then every extension of it in this folder (`extend type Query …`), by name.
const here = new URL("./", import.meta.url);
const schemaFiles = readdirSync(here).filter(
  (name) => name.endsWith(".graphql") && name !== "schema.graphql",
);
const schema = ["schema.graphql", ...schemaFiles.sort()].map((name) =>
  readFileSync(new URL(name, here), "utf8"),
);

/**
 * The read API as a Fastify plugin: GraphQL over the PostgreSQL read model at /graphql, with
 * subscriptions over WebSocket on the same path, fed by the projector through Redis so that any
 * number of instances, in any process, serve them.
 */
export async function readApiPlugin(app: FastifyInstance, options: ReadApiOptions): Promise<void> {
  const { pool, redis, prefix, graphiql, getTaskFromLog, commands, scheduleCommands } = options;
  const dispatch = dispatchResolvers(redis, prefix);
  // Each extension brings resolvers and loaders for its schema file; they are merged type by type.
  const extensions = [scheduleResolvers({ pool, commands: scheduleCommands })];
  // Mercurius and its `graphql` decoration stay encapsulated in a context of their own.
  await app.register(async (graphqlApp) => {
    // Mercurius' pubsub exists once it is registered, before any update can arrive.
    const feed = new TaskUpdatesFeed(
      redis,
      prefix,
      (event) => graphqlApp.graphql.pubsub.publish(event),
      graphqlApp.log,
    );
    await graphqlApp.register(mercurius, {
      schema,
      resolvers: mergeByType(
        {
          JSON: JsonScalar,
          DateTime: DateTimeScalar,
          Query: { ...queryResolvers({ pool, getTaskFromLog }), workers: dispatch.workers },
          Stats: { dispatch: dispatch.dispatch },
          Mutation: mutationResolvers(commands),
          Subscription: subscriptionResolvers(feed),
        },
        ...extensions.map((extension) => extension.resolvers),
      ) as IResolvers,
      loaders: mergeByType(
        { Task: { events: eventsLoader(pool) } },
        ...extensions.map((extension) => extension.loaders),
      ) as MercuriusLoaders,
      subscription: true,
      graphiql,
    });
    graphqlApp.addHook("onClose", (_instance, done) => {
      feed.close();
      done();
    });
  });
}

/** Merges resolver (or loader) maps type by type; a type defined once (a scalar) is kept as it is. */
function mergeByType(...maps: object[]): Record<string, unknown> {
  const merged: Record<string, unknown> = {};
  for (const map of maps) {
    for (const [type, fields] of Object.entries(map)) {
      const known = merged[type];
      merged[type] = known === undefined ? fields : { ...(known as object), ...(fields as object) };
    }
  }
  return merged;
}

// Fastify reads a `prefix` option as a route prefix; this plugin's `prefix` is the key prefix, so it
// skips Fastify's override (what fastify-plugin does) and encapsulates inside instead.
Object.assign(readApiPlugin, { [Symbol.for("skip-override")]: true });
