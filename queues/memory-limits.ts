import type { LimitsStore } from "./limits-store.ts";

/**
 * The shared limits in memory (queues/shared-limits.ts is the Redis one): the same token bucket and
 * permits for one process — a dispatcher's unit tests, or partitions that share nothing else.
 */
export class MemoryLimits implements LimitsStore {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly permits = new Map<string, Map<string, number>>();
  private readonly now: () => number;

  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  takeTokens(
    type: string,
    rate: number,
    burst: number,
    wanted: number,
  ): Promise<{ granted: number; waitMs: number }> {
    const now = this.now();
    const bucket = this.buckets.get(type) ?? { tokens: burst, at: now };
    bucket.tokens = Math.min(burst, bucket.tokens + (Math.max(0, now - bucket.at) * rate) / 1000);
    bucket.at = now;
    const granted = Math.min(wanted, Math.floor(bucket.tokens));
    bucket.tokens -= granted;
    this.buckets.set(type, bucket);
    const waitMs = bucket.tokens < 1 ? Math.ceil(((1 - bucket.tokens) * 1000) / rate) : 0;
    return Promise.resolve({ granted, waitMs });
  }

  acquirePermit(key: string, taskId: string, partition: number, limit: number): Promise<boolean> {
    const held = this.permits.get(key) ?? new Map<string, number>();
    this.permits.set(key, held);
    if (held.has(taskId)) return Promise.resolve(true);
    if (limit > 0 && held.size >= limit) return Promise.resolve(false);
    held.set(taskId, partition);
    return Promise.resolve(true);
  }

  holdPermit(key: string, taskId: string, partition: number): Promise<void> {
    return this.acquirePermit(key, taskId, partition, 0).then(() => undefined);
  }

  permitsOf(partition: number): Promise<Map<string, string[]>> {
    const held = new Map<string, string[]>();
    for (const [key, permits] of this.permits) {
      const mine = [...permits].filter(([, owner]) => owner === partition).map(([taskId]) => taskId);
      if (mine.length > 0) held.set(key, mine);
    }
    return Promise.resolve(held);
  }

  releasePermit(key: string, taskId: string): Promise<void> {
    this.permits.get(key)?.delete(taskId);
    return Promise.resolve();
  }
}
