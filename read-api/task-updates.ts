import type { FastifyBaseLogger } from "fastify";
import type { Redis } from "ioredis";
import type { PubSub } from "mercurius";
import { taskUpdatesChannel, type TaskRow } from "../projections/task-row.ts";

/** The Mercurius topic of one task's updates; its payload is `{ taskUpdated: TaskRow }`. */
export const taskTopic = (id: string): string => `TASK_UPDATED:${id}`;
/** The Mercurius topic of every task's updates; its payload is `{ tasksUpdated: TaskRow }`. */
export const TASKS_TOPIC = "TASKS_UPDATED";

/**
 * Forwards the projector's published rows (Redis channel `${prefix}:task-updates`, from any process;
 * a message is a JSON array of rows, or one row)
 * into this instance's Mercurius pubsub, on one subscriber connection (a `duplicate()` of `redis`).
 * Resolves once subscribed; the returned function unsubscribes and disconnects.
 */
export async function forwardTaskUpdates(
  redis: Redis,
  prefix: string,
  pubsub: PubSub,
  log: FastifyBaseLogger,
): Promise<() => void> {
  const subscriber = redis.duplicate();
  subscriber.on("message", (_channel: string, message: string) => {
    let rows: TaskRow[];
    try {
      const parsed = JSON.parse(message) as TaskRow | TaskRow[];
      rows = Array.isArray(parsed) ? parsed : [parsed];
    } catch (error) {
      log.warn({ err: error }, "task-updates: ignoring a message that is not JSON");
      return;
    }
    for (const row of rows) {
      pubsub.publish({ topic: taskTopic(row.id), payload: { taskUpdated: row } });
      pubsub.publish({ topic: TASKS_TOPIC, payload: { tasksUpdated: row } });
    }
  });
  await subscriber.subscribe(taskUpdatesChannel(prefix));
  return () => subscriber.disconnect();
}
