import type { RedisClient } from "../event-store/redis-client.ts";
import { ResourceExhaustedError } from "../domain/task/index.ts";
import { readBacklog } from "./dispatch-stats.ts";
import type { QueueSettingsStore } from "./queue-settings.ts";

/**
 * Admission control. Each partition's owner publishes the partition's backlog per queue (tasks
 * waiting to be dispatched, due or delayed) once a second; the API refuses new tasks for a queue
 * whose backlog summed over the partitions has reached its limit, with a retry hint, and writes
 * nothing. The check is soft by up to a second of
 * submissions — the price of keeping a counter write off every submission's path.
 */
export class Admission {
  private readonly redis: RedisClient;
  private readonly prefix: string;
  private readonly partitions: number;
  private readonly settings: QueueSettingsStore;
  private readonly defaultMaxBacklog: number;
  private backlog = new Map<string, number>();
  private loadedAt = 0;

  private readonly onReject: () => void;

  constructor(
    redis: RedisClient,
    prefix: string,
    partitions: number,
    settings: QueueSettingsStore,
    defaultMaxBacklog: number,
    onReject = () => {},
  ) {
    this.onReject = onReject;
    this.redis = redis;
    this.prefix = prefix;
    this.partitions = partitions;
    this.settings = settings;
    this.defaultMaxBacklog = defaultMaxBacklog;
  }

  /** Throws ResourceExhaustedError when a queue among `types` is full. */
  async check(types: Iterable<string>): Promise<void> {
    await this.refresh();
    for (const type of new Set(types)) {
      const limit = this.settings.queue(type)?.maxBacklog || this.defaultMaxBacklog;
      const waiting = this.backlog.get(type) ?? 0;
      if (waiting >= limit) {
        this.onReject();
        throw new ResourceExhaustedError(
          `queue ${type} is full: ${waiting} tasks waiting, limit ${limit}; retry later`,
          1000,
        );
      }
    }
  }

  private async refresh(): Promise<void> {
    if (Date.now() - this.loadedAt < 500) return;
    this.loadedAt = Date.now();
    try {
      await this.settings.refresh();
      this.backlog = await readBacklog(this.redis, this.prefix, this.partitions);
    } catch {
      // A Redis node failing over: the last counts stand (the limits are approximate anyway), and
      // the append that follows answers for the log itself (UNAVAILABLE when it cannot be written).
    }
  }
}
