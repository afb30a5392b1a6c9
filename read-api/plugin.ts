import { readdirSync, readFileSync } from "node:fs";
import type { FastifyInstance } from "fastify";
import type { Logger } from "../observability/log.ts";
import { GraphQLError } from "graphql";
import type { RedisClient } from "../event-store/redis-client.ts";
import mercurius, { type IResolvers, type MercuriusLoaders } from "mercurius";
import type pg from "pg";
import type { TaskRow } from "../projections/task-row.ts";
import { eventsLoader } from "./resolvers/events-loader.ts";
import { queryResolvers } from "./resolvers/query.ts";
import { DateTimeScalar, JsonScalar } from "./resolvers/scalars.ts";
import { subscriptionResolvers } from "./resolvers/subscription.ts";
import { dispatchResolvers } from "./resolvers/dispatch-stats.ts";
import { mutationResolvers } from "./resolvers/mutations.ts";
import { TaskUpdatesFeed } from "./task-updates.ts";
import { graphiqlRoutes } from "./graphiql.ts";
import { DEFAULT_QUERY_LIMITS, queryLimitsRule, type QueryLimits } from "./limits/query-cost.ts";
import {
  chargeResponse,
  DEFAULT_RESPONSE_LIMITS,
  RequestLimits,
  type ResponseLimits,
} from "./limits/request-limits.ts";
import { scheduleResolvers } from "./resolvers/schedules.ts";
import type { ScheduleMutations, TaskMutations } from "./command-ports.ts";
import type { QueueSettingsStore } from "../queues/queue-settings.ts";
import { analyticsResolvers } from "./resolvers/analytics.ts";
import { feedResolvers } from "./resolvers/feed.ts";
import { queueResolvers } from "./resolvers/queues.ts";
import { FeedHub } from "./feed/feed-hub.ts";
import { consoleRoutes } from "./console-routes.ts";

export interface ReadApiOptions {
  /** The read model's database. */
  pool: pg.Pool;
  /** A connection whose `duplicate()` becomes this instance's subscriber to the projector's updates. */
  redis: RedisClient;
  /** The event store's key prefix: the updates arrive on `${prefix}:task-updates`. */
  prefix: string;
  /** Serve GraphiQL at /graphiql. */
  graphiql: boolean;
  /** Answers `task(id)` for a task not projected yet; see `taskFromLog`. Its `events` stay empty until projected. */
  getTaskFromLog?: (id: string) => Promise<TaskRow | null>;
  /** The command layer, for mutations (cancelTask, retryTask); without it they answer an error. */
  commands?: TaskMutations;
  /** The schedule command layer, for the schedule mutations; without it they answer an error. */
  scheduleCommands?: ScheduleMutations;
  /**
   * Whether a page of `origin` may open subscriptions (the WebSocket handshake's Origin; requests
   * without one come from no page). Default: only the server's own pages.
   */
  allowOrigin?: (origin: string, host: string | undefined) => boolean;
  /** Bounds on each document (cost, aliases, depth); defaults in limits/query-cost.ts. */
  queryLimits?: QueryLimits;
  /** Bounds on each request's time and answer; defaults in limits/request-limits.ts. */
  responseLimits?: ResponseLimits;
  /** The log's partition count (the task feed's cursors and the projection lag); default 8. */
  partitions?: number;
  /** Queue settings, for Query.queues; changing them also needs `commands` (the api role). */
  queueSettings?: QueueSettingsStore;
  /** Serve the web console at /ui (default true). */
  console?: boolean;
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
  const queryLimits = options.queryLimits ?? DEFAULT_QUERY_LIMITS;
  const responseLimits = options.responseLimits ?? DEFAULT_RESPONSE_LIMITS;
  const partitions = options.partitions ?? 8;
  const dispatch = dispatchResolvers(redis, prefix, partitions);
  if (options.console !== false) await app.register(consoleRoutes);
  // Mercurius and its `graphql` decoration stay encapsulated in a context of their own.
  await app.register(async (graphqlApp) => {
    const hub = new FeedHub(redis, prefix, graphqlApp.log);
    // Each extension brings resolvers and loaders for its schema file; they are merged type by type.
    const extensions = [
      scheduleResolvers({ pool, commands: scheduleCommands }),
      feedResolvers({ pool, hub, partitions, prefix }),
      { resolvers: analyticsResolvers({ pool, redis, prefix, partitions }), loaders: {} },
      {
        resolvers: queueResolvers({
          pool,
          redis,
          prefix,
          settings: options.queueSettings,
          writable: commands !== undefined,
          partitions,
        }),
        loaders: {},
      },
    ];
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
          Task: chargedTaskFields,
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
      subscription: {
        // A page of another origin must not open subscriptions with the user's network position:
        // the WebSocket handshake's Origin is judged like a CORS request (docs/http-security.md).
        verifyClient: (info, next) => {
          const origin = info.req.headers.origin;
          const ok = origin === undefined || (options.allowOrigin ?? sameHost)(origin, info.req.headers.host);
          next(ok, ok ? undefined : 403, ok ? undefined : `origin ${origin} is not allowed`);
        },
      },
      graphiql: false,
      // Batched queries would multiply every limit by the batch's length.
      allowBatchedQueries: false,
      // The cost of a document depends on its variables (`first: $n`), so each request is validated
      // with them; Mercurius' cache of validated documents cannot hold that.
      cache: false,
      validationRules: ({ variables }) => [queryLimitsRule(queryLimits, variables ?? {})],
      context: (_request, reply) => {
        // The response's "close" before it finished: the client went away; stop working for it.
        const abandoned = new AbortController();
        reply.raw.once("close", () => {
          if (!reply.raw.writableFinished) abandoned.abort();
        });
        return { limits: new RequestLimits(responseLimits, abandoned.signal) };
      },
      errorFormatter: (execution, context) =>
        mercurius.defaultErrorFormatter(
          { ...execution, errors: execution.errors.map((error) => withoutInternals(error, graphqlApp.log)) },
          context,
        ),
    });
    if (graphiql) await graphqlApp.register(graphiqlRoutes);
    graphqlApp.addHook("onClose", (_instance, done) => {
      feed.close();
      hub.close();
      done();
    });
  });
}

/**
 * A resolver's failure that is not a GraphQLError (a database error, a stack overflow) is logged and
 * answered as "internal error": its message may carry internals no client should see.
 */
function withoutInternals(error: GraphQLError, log: Logger): GraphQLError {
  const original = error.originalError;
  // By name, not instanceof: resolvers may throw another copy of the graphql module's class.
  if (!original || original.name === "GraphQLError" || "extensions" in original) return error;
  // Mercurius' own errors (a document that fails validation, a bad request) are not resolver failures.
  if (String((original as { code?: unknown }).code).startsWith("MER_ERR")) return error;
  log.error({ err: original, path: error.path }, "GraphQL resolver failed");
  return new GraphQLError("internal error", {
    nodes: error.nodes,
    path: error.path,
    extensions: { code: "INTERNAL" },
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

/** Whether `origin` is the server's own: the Host the request was sent to. */
function sameHost(origin: string, host: string | undefined): boolean {
  try {
    return host !== undefined && new URL(origin).host === host;
  } catch {
    return false;
  }
}

/** Task fields that can be large are counted against the request's answer size as they resolve. */
const chargedTaskFields = {
  payload: (row: TaskRow, _args: unknown, context: { limits?: RequestLimits }) => {
    if (context.limits) chargeResponse(context.limits, row.payload);
    return row.payload;
  },
  result: (row: TaskRow, _args: unknown, context: { limits?: RequestLimits }) => {
    if (context.limits) chargeResponse(context.limits, row.result);
    return row.result;
  },
};

// Fastify reads a `prefix` option as a route prefix; this plugin's `prefix` is the key prefix, so it
// skips Fastify's override (what fastify-plugin does) and encapsulates inside instead.
Object.assign(readApiPlugin, { [Symbol.for("skip-override")]: true });
