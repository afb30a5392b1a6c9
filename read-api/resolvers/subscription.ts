import mercurius, { type MercuriusContext } from "mercurius";
import type { TaskRow } from "../../projections/task-row.ts";
import { TASKS_TOPIC, taskTopic, type TaskUpdatesFeed } from "../task-updates.ts";
import { rowMatches, type TaskFilter } from "./query.ts";
import { inNamespace } from "../../auth/principal.ts";
import { principalOf, type CallerContext } from "../access.ts";

/** Whether the subscriber's key may see the task (context: the connection's, from its handshake). */
const visible = (task: TaskRow, context: unknown) =>
  inNamespace(principalOf(context as CallerContext), task.namespace);

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
      subscribe: mercurius.withFilter<{ taskUpdated: TaskRow }, unknown, MercuriusContext, { id: string }>(
        (_root, { id }, { pubsub }) => subscribe(pubsub, taskTopic(id)),
        ({ taskUpdated: task }, _args, context) => visible(task, context),
      ),
    },
    tasksUpdated: {
      subscribe: mercurius.withFilter<
        { tasksUpdated: TaskRow },
        unknown,
        MercuriusContext,
        { filter?: TaskFilter | null }
      >(
        (_root, _args, { pubsub }) => subscribe(pubsub, TASKS_TOPIC),
        ({ tasksUpdated: task }, { filter }, context) => visible(task, context) && rowMatches(task, filter),
      ),
    },
  };
}
