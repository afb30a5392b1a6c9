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
import { asGraphQLError, graphqlAccess } from "./access.ts";
import { ANONYMOUS, requireScope, type Principal } from "../auth/principal.ts";
import { TaskstreamError } from "../domain/task/index.ts";
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
  /**
   * Authenticates a subscription's credentials (`Bearer <key>`, from the WebSocket handshake's
   * header or its connection_init payload); HTTP requests arrive authenticated (auth/http.ts).
   * Absent: every caller has every right (in-process use and tests; the server always sets it).
   */
  authenticate?: (authorization: string | undefined) => Promise<Principal>;
}

/** The `authorization` a connection_init payload carries: `{authorization}` or `{headers: {authorization}}`. */
function payloadAuthorization(payload: unknown): string | undefined {
  if (typeof payload !== "object" || payload === null) return undefined;
  const record = payload as Record<string, unknown>;
  const headers = (
    typeof record.headers === "object" && record.headers !== null ? record.headers : {}
  ) as Record<string, unknown>;
  const value =
    record.authorization ?? record.Authorization ?? headers.authorization ?? headers.Authorization;
  return typeof value === "string" ? value : undefined;
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
  const authenticate = options.authenticate ?? (async () => ANONYMOUS);
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
      // The parser stops at this many tokens: a document of megabytes is refused in the time of its
      // first 10,000 tokens instead of being parsed and validated whole on the event loop (the
      // introspection query and the console's largest are under 2,000).
      graphql: { parseOptions: { maxTokens: 10_000 } },
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
        // A handshake that carries an Authorization header is authenticated here (401 when wrong);
        // a browser, which cannot set one, sends its key in connection_init (onConnect).
        verifyClient: (info, next) => {
          const origin = info.req.headers.origin;
          const ok = origin === undefined || (options.allowOrigin ?? sameHost)(origin, info.req.headers.host);
          if (!ok) return next(false, 403, `origin ${origin} is not allowed`);
          const authorization = info.req.headers.authorization;
          if (authorization === undefined) return next(true);
          authenticate(authorization).then(
            () => next(true),
            (error: unknown) =>
              next(
                false,
                error instanceof TaskstreamError && error.code !== "UNAUTHENTICATED" ? 503 : 401,
                String((error as Error).message),
              ),
          );
        },
        // The handshake's header, already checked by verifyClient (cached, so no second scrypt);
        // without one, whoever the authenticator lets in with no key (everyone when it is off).
        context: async (_socket, request) => {
          const principal = await authenticate(request.headers.authorization).catch(() => undefined);
          return principal ? { principal } : {};
        },
        // connection_init: a key in its payload is authenticated and must read; a wrong key is
        // refused (connection_error, the socket closed). Without one, the handshake's header (above)
        // stands, else each subscription is answered UNAUTHENTICATED.
        onConnect: async ({ payload }) => {
          const authorization = payloadAuthorization(payload);
          if (authorization === undefined) return {};
          try {
            const principal = await authenticate(authorization);
            requireScope(principal, "read");
            return { principal };
          } catch {
            return false;
          }
        },
      },
      graphiql: false,
      // Batched queries would multiply every limit by the batch's length.
      allowBatchedQueries: false,
      // The cost of a document depends on its variables (`first: $n`), so each request is validated
      // with them; Mercurius' cache of validated documents cannot hold that.
      cache: false,
      validationRules: ({ variables }) => [queryLimitsRule(queryLimits, variables ?? {})],
      context: async (request, reply) => {
        // The response's "close" before it finished: the client went away; stop working for it.
        const abandoned = new AbortController();
        reply.raw.once("close", () => {
          if (!reply.raw.writableFinished) abandoned.abort();
        });
        // Authenticated by the server's HTTP hook (auth/http.ts); mounted without it, by this plugin.
        const principal =
          (request.principal as Principal | undefined) ??
          (await authenticate(request.headers.authorization).catch(() => null));
        return { limits: new RequestLimits(responseLimits, abandoned.signal), principal };
      },
      errorFormatter: (execution, context) => {
        const errors = execution.errors.map((error) => withoutInternals(error, graphqlApp.log));
        const formatted = mercurius.defaultErrorFormatter({ ...execution, errors }, context);
        // A request refused as a whole for its credentials answers 401 / 403, as REST does.
        const codes = new Set(errors.map((error) => error.extensions.code));
        if (!execution.data && codes.size === 1) {
          if (codes.has("UNAUTHENTICATED")) formatted.statusCode = 401;
          if (codes.has("PERMISSION_DENIED")) formatted.statusCode = 403;
        }
        return formatted;
      },
    });
    graphqlAccess(graphqlApp);
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
  // A coded error of ours (permission, not found, validation): its code and status, no stack.
  if (original instanceof TaskstreamError) {
    const coded = asGraphQLError(original);
    return new GraphQLError(coded.message, {
      nodes: error.nodes,
      path: error.path,
      extensions: coded.extensions,
    });
  }
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
