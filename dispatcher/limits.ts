import type { QueueSettingsSource } from "../queues/queue-settings.ts";
import type { ReadyTask, TakeFilter } from "./ready-queue.ts";

interface Bucket {
  tokens: number;
  refilledAt: number;
}

/**
 * Dispatch limits, enforced by the leader: a token bucket per queue (task type) — `ratePerSecond`
 * sustained, `burst` at once — and a cap on running tasks per concurrency key. Running counts are
 * derived from the tasks the leader holds as ASSIGNED or RUNNING, which it rebuilds from the log, so
 * concurrency limits hold across dispatcher restarts; a new leader's buckets start full (at most one
 * burst early). Settings come from QueueSettingsStore and apply within a second of a change.
 */
export class DispatchLimits implements TakeFilter {
  private readonly settings: QueueSettingsSource;
  private readonly buckets = new Map<string, Bucket>();
  private readonly running = new Map<string, number>();
  /** Task id → the concurrency key whose slot it holds. */
  private readonly holding = new Map<string, string>();
  private now = Date.now();

  constructor(settings: QueueSettingsSource) {
    this.settings = settings;
  }

  /** Starts a matching round at `now` (token buckets refill by elapsed time). */
  begin(now: number): void {
    this.now = now;
  }

  typeOpen(type: string): boolean {
    const rate = this.settings.queue(type)?.ratePerSecond ?? 0;
    return rate <= 0 || this.refill(type, rate).tokens >= 1;
  }

  taskOpen(task: ReadyTask): boolean {
    if (task.concurrencyKey === null) return true;
    return (this.running.get(task.concurrencyKey) ?? 0) < this.limitOf(task.concurrencyKey, task);
  }

  /** Records a dispatch: takes a token and the task's concurrency slot. */
  acquire(task: ReadyTask): void {
    const rate = this.settings.queue(task.type)?.ratePerSecond ?? 0;
    if (rate > 0) this.refill(task.type, rate).tokens -= 1;
    if (task.concurrencyKey !== null) this.hold(task.taskId, task.concurrencyKey);
  }

  /** Counts a task already running (on rebuild, or adopted) against its concurrency key. */
  hold(taskId: string, key: string): void {
    if (this.holding.has(taskId)) return;
    this.holding.set(taskId, key);
    this.running.set(key, (this.running.get(key) ?? 0) + 1);
  }

  /** The task no longer runs: its concurrency slot is free. */
  release(taskId: string): void {
    const key = this.holding.get(taskId);
    if (key === undefined) return;
    this.holding.delete(taskId);
    const left = (this.running.get(key) ?? 1) - 1;
    if (left <= 0) this.running.delete(key);
    else this.running.set(key, left);
  }

  /** Milliseconds until some empty bucket has a token again (for waking the matcher), or null. */
  nextRefillInMs(): number | null {
    let soonest: number | null = null;
    for (const [type, bucket] of this.buckets) {
      const rate = this.settings.queue(type)?.ratePerSecond ?? 0;
      if (rate <= 0 || bucket.tokens >= 1) continue;
      const wait = Math.ceil(((1 - bucket.tokens) / rate) * 1000);
      soonest = soonest === null ? wait : Math.min(soonest, wait);
    }
    return soonest;
  }

  /** The override an operator set for the key, else the limit the task declares. */
  private limitOf(key: string, task: ReadyTask): number {
    return this.settings.concurrencyLimit(key) ?? task.concurrencyLimit ?? 1;
  }

  private refill(type: string, rate: number): Bucket {
    const burst = Math.max(1, this.settings.queue(type)?.burst ?? 1);
    let bucket = this.buckets.get(type);
    if (!bucket) {
      bucket = { tokens: burst, refilledAt: this.now };
      this.buckets.set(type, bucket);
    }
    bucket.tokens = Math.min(burst, bucket.tokens + ((this.now - bucket.refilledAt) / 1000) * rate);
    bucket.refilledAt = this.now;
    return bucket;
  }
}
