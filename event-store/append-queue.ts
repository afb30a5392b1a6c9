import type { Span } from "@opentelemetry/api";
import type { AppendResult } from "./event-log.ts";

/** One task's append waiting for its partition's next script call. */
export interface QueuedAppend {
  taskId: string;
  expectedVersion: number;
  /** type, JSON data, type, JSON data, … */
  fields: string[];
  idemKey: string | null;
  /** Hash of the request that came with the idempotency key ("" when none). */
  requestHash: string;
  resolve: (result: AppendResult) => void;
  reject: (error: unknown) => void;
  /** The append's span when its writer is traced (append-tracing.ts); the script call links to it. */
  span?: Span;
}

/** Most tasks in one script call: keeps each call short, so Redis serves other clients between them. */
export const MAX_TASKS_PER_CALL = 256;

type Send = (partition: number, epoch: number | undefined, appends: QueuedAppend[]) => Promise<void>;

interface Lane {
  partition: number;
  epoch: number | undefined;
  waiting: QueuedAppend[];
}

/** Rounds a queue keeps in flight at once (see AppendQueue). */
export const ROUNDS_IN_FLIGHT = 2;

/**
 * Group commit for the event log. Appends queue in lanes, one per partition (and writer epoch).
 * A round takes what every lane holds and sends it at once — one script call per lane, written to
 * Redis together. At most ROUNDS_IN_FLIGHT rounds are in flight: what queues while they are sends
 * at the end of the event-loop turn in which one of them was answered. An idle queue sends at the
 * end of the current turn, so a lone append waits for nothing; under load the calls grow instead
 * of multiplying, and Redis runs one script (one AOF write) for many tasks. A second round in
 * flight lets work overlap: Redis runs one round while this process handles the answer to the
 * other, instead of each waiting for the other (the dispatcher hands out work in waves for this,
 * see Term.pump). Every task in a call is still checked and settled on its own; a task never has
 * two appends in flight (its writer serialises them), so rounds need no order between them.
 */
export class AppendQueue {
  private readonly lanes = new Map<string, Lane>();
  private readonly send: Send;
  private inFlight = 0;
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
    if (this.inFlight >= ROUNDS_IN_FLIGHT || this.scheduled || this.lanes.size === 0) return;
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
    this.inFlight++;
    void Promise.allSettled(calls).then(() => {
      this.inFlight--;
      this.schedule();
    });
  }
}
