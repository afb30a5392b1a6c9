import { GraphQLError } from "graphql";
import type { MercuriusContext } from "mercurius";
import type pg from "pg";
import { decodePosition, encodePosition, type FeedPosition } from "../../projections/feed/feed-position.ts";
import type { FeedEntry } from "../../projections/feed/feed-table.ts";
import { loadTasks } from "../../projections/task-table.ts";
import type { FeedHub } from "../feed/feed-hub.ts";
import { FeedStore, type FeedFilter } from "../feed/feed-store.ts";
import { FeedSubscription, type FeedEvent } from "../feed/feed-subscription.ts";
import { advance, parseStreamId, type StreamPoint } from "../../projections/feed/feed-position.ts";
import type { RequestLimits } from "../limits/request-limits.ts";

const MAX_FIRST = 500;

function position(after: string | null | undefined): FeedPosition | null {
  if (after == null) return null;
  const decoded = decodePosition(after);
  if (!decoded)
    throw new GraphQLError("after: not a feed cursor from this API (use an event's cursor or an endCursor)", {
      extensions: { code: "BAD_USER_INPUT", argument: "after" },
    });
  return decoded;
}

/** The feed as a GraphQL TaskFeedEvent (the entry's own names mapped to the schema's). */
const node = (event: FeedEvent) => ({ ...event, type: event.eventType, queue: event.taskType });

/** Query.eventsSince, Subscription.taskEvents and TaskFeedEvent.task (batched by a loader). */
export function feedResolvers(deps: { pool: pg.Pool; hub: FeedHub; partitions: number; prefix: string }) {
  const store = new FeedStore(deps.pool, deps.partitions, deps.prefix);
  return {
    resolvers: {
      Query: {
        eventsSince: async (
          _root: unknown,
          args: { after?: string | null; filter?: FeedFilter | null; first: number },
          context: { limits?: RequestLimits },
        ) => {
          if (!Number.isInteger(args.first) || args.first < 1 || args.first > MAX_FIRST)
            throw new GraphQLError(`first: must be between 1 and ${MAX_FIRST}, got ${args.first}`, {
              extensions: { code: "BAD_USER_INPUT", argument: "first" },
            });
          context.limits?.checkTime();
          const at: FeedPosition = position(args.after) ?? new Map<number, StreamPoint>();
          const read = await store.readPast(at, args.filter, args.first);
          const events = read.entries.map((entry: FeedEntry) => {
            advance(at, entry.partition, parseStreamId(entry.streamId));
            return node({ ...entry, cursor: encodePosition(at) });
          });
          return { events, endCursor: encodePosition(read.position), hasMore: read.more };
        },
        recentEvents: async (
          _root: unknown,
          args: { filter?: FeedFilter | null; first: number },
          context: { limits?: RequestLimits },
        ) => {
          if (!Number.isInteger(args.first) || args.first < 1 || args.first > MAX_FIRST)
            throw new GraphQLError(`first: must be between 1 and ${MAX_FIRST}, got ${args.first}`, {
              extensions: { code: "BAD_USER_INPUT", argument: "first" },
            });
          context.limits?.checkTime();
          const { entries, head } = await store.latest(args.filter, args.first);
          const endCursor = encodePosition(head);
          return {
            events: entries.map((entry) => node({ ...entry, cursor: endCursor })),
            endCursor,
            hasMore: false,
          };
        },
      },
      Subscription: {
        taskEvents: {
          subscribe: async (
            _root: unknown,
            args: { filter?: FeedFilter | null; after?: string | null },
            _context: MercuriusContext,
          ) => new FeedSubscription(store, deps.hub, args.filter, position(args.after)).start(),
          resolve: (payload: { taskEvents: FeedEvent }) => node(payload.taskEvents),
        },
      },
    },
    loaders: {
      TaskFeedEvent: {
        task: async (queries: { obj: { taskId: string } }[]) => {
          const tasks = await loadTasks(deps.pool, [...new Set(queries.map((q) => q.obj.taskId))]);
          return queries.map((q) => tasks.get(q.obj.taskId) ?? null);
        },
      },
    },
  };
}
