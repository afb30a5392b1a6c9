import mercurius, { type MercuriusContext } from "mercurius";
import type { TaskRow } from "../../projections/task-row.ts";
import { TASKS_TOPIC, taskTopic } from "../task-updates.ts";
import type { TaskFilter } from "./query.ts";

/** Subscription.taskUpdated and Subscription.tasksUpdated, fed by forwardTaskUpdates. */
export function subscriptionResolvers() {
  return {
    taskUpdated: {
      subscribe: (_root: unknown, { id }: { id: string }, { pubsub }: MercuriusContext) =>
        pubsub.subscribe(taskTopic(id)),
    },
    tasksUpdated: {
      subscribe: mercurius.withFilter<
        { tasksUpdated: TaskRow },
        unknown,
        MercuriusContext,
        { filter?: TaskFilter | null }
      >(
        (_root, _args, { pubsub }) => pubsub.subscribe(TASKS_TOPIC),
        ({ tasksUpdated: task }, { filter }) =>
          (filter?.state == null || task.state === filter.state) &&
          (filter?.type == null || task.type === filter.type),
      ),
    },
  };
}
