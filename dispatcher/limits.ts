import type { QueueSettingsSource } from "../queues/queue-settings.ts";
import type { LimitsStore } from "../queues/limits-store.ts";
import { MemoryLimits } from "../queues/memory-limits.ts";
import type { ReadyTask, TakeFilter } from "./ready-queue.ts";

/** A key refused a permit is not asked again for this long (unless one of this partition's tasks frees one). */
const FULL_KEY_RETRY_MS = 200;

interface Tokens {
  count: number;
  /** A request to the shared bucket is in flight, or none before this time. */
  fetching: boolean;
  notBefore: number;
}

/**
 * Dispatch limits for one partition, over the limits every partition shares: a token bucket per
 * queue (task type) — `ratePerSecond` sustained, `burst` at once — and a cap on running tasks per
 * concurrency key (docs/scheduling.md, docs/partition-ownership.md).
 *
 * Matching is synchronous, so the shared state is mirrored here: tokens are fetched from the shared
 * bucket a few at a time (about 50 ms worth) when the partition has work for a queue and none left,
 * and `wake` runs a matching pass when they arrive; a concurrency key is open while this partition's
 * own tasks under it are below the limit and the shared permits did not just refuse it. The permit
 * itself is taken before the assignment is written (`permit`); a refusal puts the task back.
 * Settings come from QueueSettingsSource and apply within a second of a change.
 */
export class DispatchLimits implements TakeFilter {
  private readonly settings: QueueSettingsSource;
  private readonly shared: LimitsStore;
  private readonly partition: number;
  private readonly wake: () => void;
  private readonly tokens = new Map<string, Tokens>();
  private readonly running = new Map<string, number>();
  /** Task id → the concurrency key whose slot it holds. */
  private readonly holding = new Map<string, string>();
  /** Tasks that hold their key's shared permit. */
  private readonly permitted = new Set<string>();
  /** Keys the shared permits refused, until when. */
  private readonly full = new Map<string, number>();
  private now = Date.now();

  constructor(
    settings: QueueSettingsSource,
    shared: LimitsStore = new MemoryLimits(),
    partition = 0,
    wake: () => void = () => undefined,
  ) {
    this.settings = settings;
    this.shared = shared;
    this.partition = partition;
    this.wake = wake;
  }

  /** Starts a matching round at `now`. */
  begin(now: number): void {
    this.now = now;
  }

  typeOpen(type: string): boolean {
    const rate = this.settings.queue(type)?.ratePerSecond ?? 0;
    if (rate <= 0) return true;
    const tokens = this.tokensOf(type);
    if (tokens.count >= 1) return true;
    this.fetch(type, rate, tokens);
    return false;
  }

  taskOpen(task: ReadyTask): boolean {
    if (task.concurrencyKey === null) return true;
    if ((this.full.get(task.concurrencyKey) ?? 0) > this.now) return false;
    return (this.running.get(task.concurrencyKey) ?? 0) < this.limitOf(task.concurrencyKey, task);
  }

  /** Records a dispatch: takes a token and the task's concurrency slot (here; the shared permit comes with `permit`). */
  acquire(task: ReadyTask): void {
    const rate = this.settings.queue(task.type)?.ratePerSecond ?? 0;
    if (rate > 0) this.tokensOf(task.type).count -= 1;
    if (task.concurrencyKey !== null) this.holdLocally(task.taskId, task.concurrencyKey);
  }

  /**
   * Takes the shared permit of the task's concurrency key before its assignment is written; false
   * when the key is full across the partitions (the task goes back to wait).
   */
  async permit(task: ReadyTask): Promise<boolean> {
    if (task.concurrencyKey === null) return true;
    const key = task.concurrencyKey;
    const ok = await this.shared.acquirePermit(key, task.taskId, this.partition, this.limitOf(key, task));
    if (ok) this.permitted.add(task.taskId);
    else {
      this.full.set(key, Date.now() + FULL_KEY_RETRY_MS);
      setTimeout(() => this.wake(), FULL_KEY_RETRY_MS).unref();
    }
    return ok;
  }

  /** Counts a task already running (on rebuild, or adopted) against its concurrency key. */
  hold(taskId: string, key: string): void {
    if (this.holding.has(taskId)) return;
    this.holdLocally(taskId, key);
    this.permitted.add(taskId);
    void this.shared.holdPermit(key, taskId, this.partition).catch(() => undefined);
  }

  /** The task no longer runs: its concurrency slot is free. */
  release(taskId: string): void {
    const key = this.holding.get(taskId);
    if (key === undefined) return;
    this.holding.delete(taskId);
    const left = (this.running.get(key) ?? 1) - 1;
    if (left <= 0) this.running.delete(key);
    else this.running.set(key, left);
    if (!this.permitted.delete(taskId)) return; // it never got the shared permit: nothing freed
    this.full.delete(key);
    void this.shared.releasePermit(key, taskId).catch(() => undefined);
  }

  /** Whether the task holds a concurrency slot here. */
  holds(taskId: string): boolean {
    return this.holding.has(taskId);
  }

  /** Milliseconds until a queue out of tokens may have one again (for waking the matcher), or null. */
  nextRefillInMs(): number | null {
    let soonest: number | null = null;
    for (const tokens of this.tokens.values()) {
      if (tokens.count >= 1 || tokens.fetching) continue;
      const wait = Math.max(1, tokens.notBefore - this.now);
      soonest = soonest === null ? wait : Math.min(soonest, wait);
    }
    return soonest;
  }

  private holdLocally(taskId: string, key: string): void {
    if (this.holding.has(taskId)) return;
    this.holding.set(taskId, key);
    this.running.set(key, (this.running.get(key) ?? 0) + 1);
  }

  /** The override an operator set for the key, else the limit the task declares. */
  private limitOf(key: string, task: ReadyTask): number {
    return this.settings.concurrencyLimit(key) ?? task.concurrencyLimit ?? 1;
  }

  private tokensOf(type: string): Tokens {
    let tokens = this.tokens.get(type);
    if (!tokens) {
      tokens = { count: 0, fetching: false, notBefore: 0 };
      this.tokens.set(type, tokens);
    }
    return tokens;
  }

  /** Asks the shared bucket for about 50 ms worth of tokens (at least one), once at a time. */
  private fetch(type: string, rate: number, tokens: Tokens): void {
    if (tokens.fetching || this.now < tokens.notBefore) return;
    const burst = Math.max(1, this.settings.queue(type)?.burst ?? 1);
    const wanted = Math.max(1, Math.min(burst, Math.floor(rate / 20)));
    tokens.fetching = true;
    void this.shared
      .takeTokens(type, rate, burst, wanted)
      .then(
        ({ granted, waitMs }) => {
          tokens.count += granted;
          tokens.notBefore = granted > 0 ? 0 : Date.now() + Math.max(1, waitMs);
        },
        () => (tokens.notBefore = Date.now() + 1000),
      )
      .finally(() => {
        tokens.fetching = false;
        this.wake();
      });
  }
}
