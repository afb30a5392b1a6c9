import type { Logger } from "../observability/log.ts";
import type { RedisClient } from "../event-store/redis-client.ts";
import { SharedChannel } from "./shared-channel.ts";
import { taskUpdatesChannel, type TaskRow } from "../projections/task-row.ts";

/** The Mercurius topic of one task's updates; its payload is `{ taskUpdated: TaskRow }`. */
export const taskTopic = (id: string): string => `TASK_UPDATED:${id}`;
/** The Mercurius topic of every task's updates; its payload is `{ tasksUpdated: TaskRow }`. */
export const TASKS_TOPIC = "TASKS_UPDATED";

/**
 * Forwards the projector's published rows (Redis channel `${prefix}:task-updates`, from any process;
 * a message is a JSON array of rows, or one row) into this instance's Mercurius pubsub — only while
 * some subscription of this instance is open (SharedChannel: the first subscribes, the last to end
 * unsubscribes, so an instance nobody watches does not read and parse every update).
 */
export class TaskUpdatesFeed {
  private readonly channel: SharedChannel;
  private readonly publish: (event: { topic: string; payload: unknown }) => void;
  private readonly log: Logger;

  /** `publish` hands an update to the instance's Mercurius pubsub. */
  constructor(
    redis: RedisClient,
    prefix: string,
    publish: (event: { topic: string; payload: unknown }) => void,
    log: Logger,
  ) {
    this.publish = publish;
    this.log = log;
    this.channel = new SharedChannel(redis, taskUpdatesChannel(prefix), {
      onMessage: (message) => this.forward(message),
      onUnsubscribeFailed: (error) => log.warn({ err: error }, "task-updates: unsubscribe failed"),
    });
  }

  /** Whether this instance is subscribed to the channel now. */
  get active(): boolean {
    return this.channel.active;
  }

  /** Counts one more subscription; resolves once updates flow. Call the returned function when it ends. */
  acquire(): Promise<() => void> {
    return this.channel.acquire();
  }

  close(): void {
    this.channel.close();
  }

  private forward(message: string): void {
    let rows: TaskRow[];
    try {
      const parsed = JSON.parse(message) as TaskRow | TaskRow[];
      rows = Array.isArray(parsed) ? parsed : [parsed];
    } catch (error) {
      this.log.warn({ err: error }, "task-updates: ignoring a message that is not JSON");
      return;
    }
    for (const row of rows) {
      this.publish({ topic: taskTopic(row.id), payload: { taskUpdated: row } });
      this.publish({ topic: TASKS_TOPIC, payload: { tasksUpdated: row } });
    }
  }
}
