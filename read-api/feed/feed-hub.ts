import type { FastifyBaseLogger } from "fastify";
import type { RedisClient } from "../../event-store/redis-client.ts";
import { SharedChannel } from "../shared-channel.ts";
import { taskFeedChannel, type FeedBatch } from "../../projections/feed/feed-table.ts";

/**
 * Told of each batch the projector publishes, or of `null` when batches may have been lost: the
 * subscriber connection dropped and is back (Redis does not keep messages for absent subscribers).
 */
export type FeedListener = (batch: FeedBatch | null) => void;

/**
 * This instance's one subscription to the projector's feed channel (`${prefix}:task-feed`), shared
 * by every open feed subscription (SharedChannel: subscribed while at least one listens). Batches
 * reach listeners in the order the projector published them.
 */
export class FeedHub {
  private readonly channel: SharedChannel;
  private readonly log: FastifyBaseLogger;
  private readonly listeners = new Set<FeedListener>();

  constructor(redis: RedisClient, prefix: string, log: FastifyBaseLogger) {
    this.log = log;
    this.channel = new SharedChannel(redis, taskFeedChannel(prefix), {
      onMessage: (message) => this.deliver(message),
      onResubscribed: () => {
        for (const listener of [...this.listeners]) listener(null);
      },
      onUnsubscribeFailed: (error) => log.warn({ err: error }, "task-feed: unsubscribe failed"),
    });
  }

  /** Adds a listener; resolves once batches flow to it. Call the returned function to remove it. */
  async acquire(listener: FeedListener): Promise<() => void> {
    this.listeners.add(listener);
    try {
      const release = await this.channel.acquire();
      return () => {
        if (this.listeners.delete(listener)) release();
      };
    } catch (error) {
      this.listeners.delete(listener);
      throw error;
    }
  }

  close(): void {
    this.channel.close();
  }

  private deliver(message: string): void {
    let batch: FeedBatch;
    try {
      batch = JSON.parse(message) as FeedBatch;
    } catch (error) {
      this.log.warn({ err: error }, "task-feed: ignoring a message that is not JSON");
      return;
    }
    for (const listener of [...this.listeners]) listener(batch);
  }
}
