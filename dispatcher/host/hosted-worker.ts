import type { DispatcherMessage, WorkerMessage } from "../../proto/gen/taskstream/v1/workers.ts";
import type { SessionStream, WorkerInfo } from "../worker-session.ts";
import { CreditLedger } from "./credit-ledger.ts";

/** A result sent on to its partition and not yet acknowledged by it. */
export interface UnackedResult {
  partition: number;
  message: WorkerMessage;
  sentAt: number;
}

/**
 * A worker connected to this dispatcher, as its host keeps it: its stream, its slots (the ledger of
 * what is free, lent to partitions, or running), its liveness, and the results it sent that their
 * partitions have not acknowledged yet (sent again after an owner change or a failed write).
 */
export class HostedWorker {
  readonly info: WorkerInfo;
  readonly stream: SessionStream;
  readonly ledger: CreditLedger;
  readonly unacked = new Map<string, UnackedResult>();
  lastSeenAt: number;
  /** A lending is scheduled for the next turn. */
  lendScheduled = false;
  private outbox: DispatcherMessage[] = [];
  private flushScheduled = false;

  constructor(info: WorkerInfo, stream: SessionStream, now: number, agingBound?: readonly number[]) {
    this.info = info;
    this.stream = stream;
    this.ledger = new CreditLedger(info.slots, agingBound);
    this.lastSeenAt = now;
  }

  get id(): string {
    return this.info.id;
  }

  /**
   * Queues a message for the worker; the queue is written once per event-loop turn, as one
   * DispatcherBatch when the worker accepts batches.
   */
  send(message: DispatcherMessage): void {
    this.outbox.push(message);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    const messages = this.outbox;
    this.outbox = [];
    if (messages.length === 0) return;
    if (messages.length === 1 || !this.stream.acceptsBatches) {
      for (const message of messages) this.stream.send(message);
      return;
    }
    this.stream.send({ msg: { $case: "batch", value: { messages } } });
  }
}
