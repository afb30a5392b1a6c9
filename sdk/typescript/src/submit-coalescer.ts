import type { TaskSpec } from "@taskstream/protocol/tasks";

/** How one queued submission ends. */
interface Waiting<R> {
  task: TaskSpec;
  resolve: (result: R) => void;
  reject: (error: unknown) => void;
}

/** What the coalescer needs from the client: the two submission calls. */
export interface SubmitCalls<R> {
  one(task: TaskSpec): Promise<R>;
  many(tasks: TaskSpec[]): Promise<R[]>;
  /** Whether a failed SubmitTasks call says some task was invalid (every task is then sent alone). */
  isInvalid(error: unknown): boolean;
}

/** Most tasks in one SubmitTasks call (the API accepts up to 1,000). */
export const MAX_COALESCED = 500;

/**
 * Coalesces concurrent single submissions into SubmitTasks calls. At most `maxInFlight` calls are
 * outstanding; submissions made meanwhile wait and go together in the next call, sent at the end
 * of the event-loop turn. A lone submission is sent at once as SubmitTask, so nothing waits when
 * the client is idle; under load the calls grow instead of multiplying. SubmitTasks validates every
 * task before writing any: when it is refused as invalid, each task of it is sent again alone, so
 * each caller gets its own answer (a rejected task changes nothing, so this is safe; idempotency
 * keys keep any repeat single).
 */
export class SubmitCoalescer<R> {
  private readonly calls: SubmitCalls<R>;
  private readonly maxInFlight: number;
  private waiting: Waiting<R>[] = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(calls: SubmitCalls<R>, maxInFlight = 1) {
    this.calls = calls;
    this.maxInFlight = maxInFlight;
  }

  submit(task: TaskSpec): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.waiting.push({ task, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.maxInFlight || this.waiting.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.send();
    });
  }

  private send(): void {
    while (this.inFlight < this.maxInFlight && this.waiting.length > 0) {
      const batch = this.waiting.splice(0, MAX_COALESCED);
      this.inFlight++;
      void this.call(batch).finally(() => {
        this.inFlight--;
        this.schedule();
      });
    }
  }

  private async call(batch: Waiting<R>[]): Promise<void> {
    if (batch.length === 1) return this.alone(batch[0]!);
    try {
      const results = await this.calls.many(batch.map((w) => w.task));
      batch.forEach((w, i) => w.resolve(results[i]!));
    } catch (error) {
      if (!this.calls.isInvalid(error)) {
        for (const w of batch) w.reject(error);
        return;
      }
      await Promise.all(batch.map((w) => this.alone(w)));
    }
  }

  private async alone(w: Waiting<R>): Promise<void> {
    try {
      w.resolve(await this.calls.one(w.task));
    } catch (error) {
      w.reject(error);
    }
  }
}
