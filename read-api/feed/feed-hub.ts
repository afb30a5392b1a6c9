import type { FastifyBaseLogger } from "fastify";
import { duplicateConnection, type RedisClient } from "../../event-store/redis-client.ts";
import { taskFeedChannel, type FeedBatch } from "../../projections/feed/feed-table.ts";

/**
 * Told of each batch the projector publishes, or of `null` when batches may have been lost: the
 * subscriber connection dropped and is back (Redis does not keep messages for absent subscribers).
 */
export type FeedListener = (batch: FeedBatch | null) => void;

/**
 * This instance's one subscription to the projector's feed channel (`${prefix}:task-feed`), shared
 * by every open feed subscription: subscribed while at least one listens, on a connection of its
 * own (a `duplicate()` of `redis`, made on first use). Batches reach listeners in the order the
 * projector published them.
 */
export class FeedHub {
  private readonly redis: RedisClient;
  private readonly channel: string;
  private readonly log: FastifyBaseLogger;
  private readonly listeners = new Set<FeedListener>();
  private subscriber: RedisClient | null = null;
  private subscribed = false;
  private closed = false;
  private sync: Promise<void> = Promise.resolve();

  constructor(redis: RedisClient, prefix: string, log: FastifyBaseLogger) {
    this.redis = redis;
    this.channel = taskFeedChannel(prefix);
    this.log = log;
  }

  /** Adds a listener; resolves once batches flow to it. Call the returned function to remove it. */
  async acquire(listener: FeedListener): Promise<() => void> {
    this.listeners.add(listener);
    const release = () => {
      if (!this.listeners.delete(listener)) return;
      void this.reconcile().catch((error: unknown) =>
        this.log.warn({ err: error }, "task-feed: unsubscribe failed"),
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
      const wanted = this.listeners.size > 0 && !this.closed;
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
    // ioredis subscribes again after a reconnect; what was published meanwhile is gone.
    let connectedBefore = false;
    subscriber.on("ready", () => {
      if (connectedBefore) for (const listener of [...this.listeners]) listener(null);
      connectedBefore = true;
    });
    subscriber.on("message", (_channel: string, message: string) => {
      let batch: FeedBatch;
      try {
        batch = JSON.parse(message) as FeedBatch;
      } catch (error) {
        this.log.warn({ err: error }, "task-feed: ignoring a message that is not JSON");
        return;
      }
      for (const listener of [...this.listeners]) listener(batch);
    });
    return subscriber;
  }
}
