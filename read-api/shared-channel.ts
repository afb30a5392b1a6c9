import { duplicateConnection, type RedisClient } from "../event-store/redis-client.ts";

/** What a SharedChannel does with what arrives, and how it reports a failed unsubscribe. */
export interface SharedChannelOptions {
  onMessage(message: string): void;
  /** The connection dropped and is back: messages published meanwhile are gone (Redis keeps none). */
  onResubscribed?(): void;
  onUnsubscribeFailed(error: unknown): void;
}

/**
 * One Redis pub/sub channel shared by every user in this process: subscribed while at least one
 * user holds it, on a connection of its own (a `duplicate()` of `redis`, made on first use). The
 * first `acquire` subscribes (and resolves once that is done), the last release unsubscribes, so a
 * process nobody watches does not read and parse every message. Subscribe and unsubscribe calls run
 * one at a time, each bringing the connection in line with the users.
 */
export class SharedChannel {
  private readonly redis: RedisClient;
  private readonly channel: string;
  private readonly options: SharedChannelOptions;
  private subscriber: RedisClient | null = null;
  private subscribed = false;
  private users = 0;
  private closed = false;
  private sync: Promise<void> = Promise.resolve();

  constructor(redis: RedisClient, channel: string, options: SharedChannelOptions) {
    this.redis = redis;
    this.channel = channel;
    this.options = options;
  }

  /** Whether the channel is subscribed now. */
  get active(): boolean {
    return this.subscribed;
  }

  /** Counts one more user; resolves once messages flow. Call the returned function when it ends. */
  async acquire(): Promise<() => void> {
    this.users++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.users--;
      void this.reconcile().catch((error: unknown) => this.options.onUnsubscribeFailed(error));
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
    // ioredis subscribes again after a reconnect; what was published meanwhile is gone.
    let connectedBefore = false;
    subscriber.on("ready", () => {
      if (connectedBefore) this.options.onResubscribed?.();
      connectedBefore = true;
    });
    subscriber.on("message", (_channel: string, message: string) => this.options.onMessage(message));
    return subscriber;
  }
}
