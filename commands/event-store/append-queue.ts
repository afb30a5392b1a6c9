import type { AppendResult } from "./event-store.ts";

/** One task's append waiting for its partition's next script call. */
export interface QueuedAppend {
  taskId: string;
  expectedVersion: number;
  /** type, JSON data, type, JSON data, … */
  fields: string[];
  idemKey: string | null;
  resolve: (result: AppendResult) => void;
  reject: (error: unknown) => void;
}

/** Most tasks in one script call: keeps each call short, so Redis serves other clients between them. */
export const MAX_TASKS_PER_CALL = 256;

type Send = (partition: number, epoch: number | undefined, appends: QueuedAppend[]) => Promise<void>;

interface Lane {
  partition: number;
  epoch: number | undefined;
  waiting: QueuedAppend[];
}

/**
 * Group commit for the event log. Appends queue in lanes, one per partition (and writer epoch).
 * A round takes what every lane holds and sends it at once — one script call per lane, written to
 * Redis together — and only one round is in flight: whatever queues meanwhile goes in the next,
 * sent at the end of the event-loop turn in which the previous one was answered. An idle queue
 * sends at the end of the current turn, so a lone append waits for nothing; under load the calls
 * grow instead of multiplying, and Redis runs one script (one AOF write) for many tasks. Every
 * task in a call is still checked and settled on its own.
 */
export class AppendQueue {
  private readonly lanes = new Map<string, Lane>();
  private readonly send: Send;
  private inFlight = false;
  private scheduled = false;

  constructor(send: Send) {
    this.send = send;
  }

  push(partition: number, epoch: number | undefined, append: QueuedAppend): void {
    const key = `${partition}|${epoch ?? ""}`;
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = { partition, epoch, waiting: [] };
      this.lanes.set(key, lane);
    }
    lane.waiting.push(append);
    this.schedule();
  }

  private schedule(): void {
    if (this.inFlight || this.scheduled || this.lanes.size === 0) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    const calls: Promise<void>[] = [];
    for (const [key, lane] of this.lanes) {
      calls.push(this.send(lane.partition, lane.epoch, lane.waiting.splice(0, MAX_TASKS_PER_CALL)));
      if (lane.waiting.length === 0) this.lanes.delete(key);
    }
    this.inFlight = true;
    void Promise.allSettled(calls).then(() => {
      this.inFlight = false;
      this.schedule();
    });
  }
}
