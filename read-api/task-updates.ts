import type { Logger } from "../observability/log.ts";
import { duplicateConnection, type RedisClient } from "../event-store/redis-client.ts";
import { taskUpdatesChannel, type TaskRow } from "../projections/task-row.ts";

/** The Mercurius topic of one task's updates; its payload is `{ taskUpdated: TaskRow }`. */
export const taskTopic = (id: string): string => `TASK_UPDATED:${id}`;
/** The Mercurius topic of every task's updates; its payload is `{ tasksUpdated: TaskRow }`. */
export const TASKS_TOPIC = "TASKS_UPDATED";

/**
 * Forwards the projector's published rows (Redis channel `${prefix}:task-updates`, from any process;
 * a message is a JSON array of rows, or one row) into this instance's Mercurius pubsub — only while
 * some subscription of this instance is open. The first one subscribes to the channel (and starts
 * once that is done), the last one to end unsubscribes: an instance nobody watches does not read
 * and parse every update. One subscriber connection (a `duplicate()` of `redis`), made on first use.
 */
export class TaskUpdatesFeed {
  private readonly redis: RedisClient;
  private readonly channel: string;
  private readonly publish: (event: { topic: string; payload: unknown }) => void;
  private readonly log: Logger;
  private subscriber: RedisClient | null = null;
  private subscribed = false;
  private users = 0;
  private closed = false;
  /** Subscribe and unsubscribe calls, one at a time, each bringing the connection in line with `users`. */
  private sync: Promise<void> = Promise.resolve();

  /** `publish` hands an update to the instance's Mercurius pubsub. */
  constructor(
    redis: RedisClient,
    prefix: string,
    publish: (event: { topic: string; payload: unknown }) => void,
    log: Logger,
  ) {
    this.redis = redis;
    this.channel = taskUpdatesChannel(prefix);
    this.publish = publish;
    this.log = log;
  }

  /** Whether this instance is subscribed to the channel now. */
  get active(): boolean {
    return this.subscribed;
  }

  /** Counts one more subscription; resolves once updates flow. Call the returned function when it ends. */
  async acquire(): Promise<() => void> {
    this.users++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.users--;
      void this.reconcile().catch((error: unknown) =>
        this.log.warn({ err: error }, "task-updates: unsubscribe failed"),
      );
    };
    try {
      await this.reconcile();
    } catch (error) {
      release();
      throw error;
    }
    return release;
  }

  close(): void {
    this.closed = true;
    this.subscriber?.disconnect();
  }

  private reconcile(): Promise<void> {
    const step = this.sync.then(async () => {
      const wanted = this.users > 0 && !this.closed;
      if (wanted === this.subscribed) return;
      const subscriber = (this.subscriber ??= this.connect());
      if (wanted) await subscriber.subscribe(this.channel);
      else await subscriber.unsubscribe(this.channel);
      this.subscribed = wanted;
    });
    this.sync = step.catch(() => undefined);
    return step;
  }

  private connect(): RedisClient {
    const subscriber = duplicateConnection(this.redis);
    subscriber.on("message", (_channel: string, message: string) => this.forward(message));
    return subscriber;
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
