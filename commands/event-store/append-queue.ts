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

interface Lane {
  partition: number;
  epoch: number | undefined;
  waiting: QueuedAppend[];
  inFlight: boolean;
  scheduled: boolean;
}

/**
 * Group commit for the event log. Appends queue per partition (and writer epoch); each lane has at
 * most one script call in flight, and whatever queued meanwhile goes in the next call, sent at the
 * end of the event-loop turn in which the previous one answered. An idle lane sends at the end of
 * the current turn, so a lone append waits for nothing; under load the calls grow instead of
 * multiplying, and Redis runs one script (one AOF write) for many tasks. Every task in a call is
 * still checked and settled on its own.
 */
export class AppendQueue {
  private readonly lanes = new Map<string, Lane>();
  private readonly send: (
    partition: number,
    epoch: number | undefined,
    appends: QueuedAppend[],
  ) => Promise<void>;

  constructor(
    send: (partition: number, epoch: number | undefined, appends: QueuedAppend[]) => Promise<void>,
  ) {
    this.send = send;
  }

  push(partition: number, epoch: number | undefined, append: QueuedAppend): void {
    const key = `${partition}|${epoch ?? ""}`;
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = { partition, epoch, waiting: [], inFlight: false, scheduled: false };
      this.lanes.set(key, lane);
    }
    lane.waiting.push(append);
    this.schedule(lane);
  }

  private schedule(lane: Lane): void {
    if (lane.inFlight || lane.scheduled) return;
    lane.scheduled = true;
    setImmediate(() => this.flush(lane));
  }

  private flush(lane: Lane): void {
    lane.scheduled = false;
    if (lane.inFlight) return;
    if (lane.waiting.length === 0) {
      this.lanes.delete(`${lane.partition}|${lane.epoch ?? ""}`);
      return;
    }
    const appends = lane.waiting.splice(0, MAX_TASKS_PER_CALL);
    lane.inFlight = true;
    void this.send(lane.partition, lane.epoch, appends).finally(() => {
      lane.inFlight = false;
      this.schedule(lane);
    });
  }
}
