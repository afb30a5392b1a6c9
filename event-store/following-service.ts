import { EventEmitter } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import type { EventLog, FollowOptions, StoredOf } from "./event-log.ts";

/** What a follower announces, for logs, metrics and tests that await instead of polling. */
export interface FollowerEvents<E> {
  /** Following began (or began again after an error or a restart), from these positions. */
  following: [from: Map<number, string>];
  /** A batch was handled. */
  handled: [batch: StoredOf<E>[]];
  /** Following failed; it starts again from `positions()` after `retryMs`. */
  failed: [error: unknown];
  stopped: [];
}

/** How a follower reads: everything of FollowOptions but the positions and the signal. */
export type FollowSettings = Omit<FollowOptions, "from" | "signal"> & {
  /** Pause after an error before following again, in ms (default 1000). */
  retryMs?: number;
};

/**
 * The one skeleton of everything that follows the log — projectors, the scheduler, the leader's
 * intake follower: start and stop, an abort signal, the blocking reads (EventLog.follow owns their
 * connection), one batch at a time (`exclusive`), errors reported and retried from the positions the
 * subclass keeps, and typed announcements of what happened (`on("handled", …)`).
 *
 * A subclass says where to follow from (`positions`, read again after every error or restart) and
 * what a batch does (`handle`, which returns false to follow again from `positions` — after a
 * checkpoint conflict, say).
 */
export abstract class FollowingService<E extends { type: string; data: unknown }> extends EventEmitter<
  FollowerEvents<E>
> {
  protected readonly log: EventLog<E>;
  private readonly settings: FollowSettings;
  private running: { abort: AbortController; loop: Promise<void> } | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(log: EventLog<E>, settings: FollowSettings = {}) {
    super();
    this.log = log;
    this.settings = settings;
  }

  /** Whether it follows now (started and not stopped). */
  get following(): boolean {
    return this.running !== null;
  }

  /** Prepares (`prepare`, one batch at a time with everything else) and starts following. */
  async start(): Promise<void> {
    if (this.running) return;
    await this.exclusive(() => this.prepare());
    const abort = new AbortController();
    this.running = { abort, loop: this.loop(abort.signal) };
  }

  /** Stops following, after the batch in flight (if any) is handled. */
  async stop(): Promise<void> {
    const running = this.running;
    if (!running) return;
    this.running = null;
    running.abort.abort();
    await running.loop;
    this.emit("stopped");
  }

  /** Where to follow from, per partition: read at the start and after every restart. */
  protected abstract positions(): Map<number, string>;

  /** Handles one batch; false: stop this pass and follow again from `positions()`. */
  protected abstract handle(batch: StoredOf<E>[], signal: AbortSignal): Promise<boolean>;

  /** Runs once before following starts (load checkpoints, rebuild state). */
  protected async prepare(): Promise<void> {}

  /** A failure of the follow loop: reported, then following resumes after `retryMs`. */
  protected onFailure(error: unknown): void {
    this.emit("failed", error);
  }

  /** Runs `work` after every earlier piece of this follower's work: one batch at a time. */
  protected exclusive<T>(work: () => Promise<T>): Promise<T> {
    const result = this.queue.then(work, work);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async loop(signal: AbortSignal): Promise<void> {
    const { retryMs = 1000, ...read } = this.settings;
    while (!signal.aborted) {
      try {
        const from = this.positions();
        if (from.size === 0) {
          await sleep(retryMs, undefined, { signal }).catch(() => undefined);
          continue;
        }
        this.emit("following", from);
        for await (const batch of this.log.follow({ ...read, from, signal })) {
          const goOn = await this.exclusive(() => this.handle(batch, signal));
          this.emit("handled", batch);
          if (!goOn) break;
        }
      } catch (error) {
        if (signal.aborted) return;
        this.onFailure(error);
        await sleep(retryMs, undefined, { signal }).catch(() => undefined);
      }
    }
  }
}
