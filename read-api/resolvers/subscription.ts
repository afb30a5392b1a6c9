import mercurius, { type MercuriusContext } from "mercurius";
import type { TaskRow } from "../../projections/task-row.ts";
import { TASKS_TOPIC, taskTopic, type TaskUpdatesFeed } from "../task-updates.ts";
import { rowMatches, type TaskFilter } from "./query.ts";

/** Subscription.taskUpdated and Subscription.tasksUpdated, fed by the instance's TaskUpdatesFeed. */
export function subscriptionResolvers(feed: TaskUpdatesFeed) {
  /** Subscribes to a pubsub topic while holding the feed; the hold ends with the subscription's queue. */
  const subscribe = async (pubsub: MercuriusContext["pubsub"], topic: string) => {
    const release = await feed.acquire();
    try {
      const queue = await pubsub.subscribe(topic);
      queue.once("close", release);
      return queue;
    } catch (error) {
      release();
      throw error;
    }
  };
  return {
    taskUpdated: {
      subscribe: (_root: unknown, { id }: { id: string }, { pubsub }: MercuriusContext) =>
        subscribe(pubsub, taskTopic(id)),
    },
    tasksUpdated: {
      subscribe: mercurius.withFilter<
        { tasksUpdated: TaskRow },
        unknown,
        MercuriusContext,
        { filter?: TaskFilter | null }
      >(
        (_root, _args, { pubsub }) => subscribe(pubsub, TASKS_TOPIC),
        ({ tasksUpdated: task }, { filter }) => rowMatches(task, filter),
      ),
    },
  };
}
