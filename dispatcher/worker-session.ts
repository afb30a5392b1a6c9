import type { DispatcherMessage } from "../proto/gen/taskstream/v1/workers.ts";
import type { Capabilities } from "./ready-queue.ts";

/** The stream a session writes to; absent while the worker is reconnecting. */
export interface SessionStream {
  /** Whether the worker understands DispatcherBatch (its Register set accepts_batches). */
  readonly acceptsBatches: boolean;
  send(message: DispatcherMessage): void;
  /** Ends the stream with a gRPC status, so the worker reconnects (elsewhere). */
  close(code: number, details: string): void;
  /** Names this connection of the worker in the actor of what it reports (domain/task/actor.ts). */
  readonly connection?: string;
}

export interface WorkerInfo {
  id: string;
  name: string;
  types: string[];
  labels: Record<string, string>;
  slots: number;
  sdk: string;
  /** The API key it connected with (null when authentication is off). */
  keyId: string | null;
  /** The namespaces whose tasks it may run (null: every one). */
  namespaces: string[] | null;
}

/**
 * One worker process as a partition's owner sees it: its capabilities, the slots its host lent this
 * partition, the attempts it holds here (task id → attempt number), and its liveness. A session outlives a broken stream for a grace
 * period, so a worker that reconnects keeps its attempts instead of having them retried.
 */
export class WorkerSession implements Capabilities {
  readonly info: WorkerInfo;
  readonly types: ReadonlySet<string>;
  readonly labels: Readonly<Record<string, string>>;
  /** The namespaces whose tasks it is offered (its key's); null: every one. */
  readonly namespaces: ReadonlySet<string> | null;
  /** Attempts this worker holds; 0 marks an assignment still being written. */
  readonly attempts = new Map<string, number>();
  /**
   * Attempts whose result the worker has reported and the leader is still writing. Their slots are
   * free already (the worker's handler returned), so they are not counted in `attempts`; they still
   * belong to this worker until the result is in the log.
   */
  readonly finishing = new Map<string, number>();
  stream: SessionStream | null;
  /**
   * The slots this partition may fill: the attempts it has out on the worker plus the credits the
   * worker's host lent it (docs/partition-ownership.md). Starts at the worker's whole count.
   */
  slots: number;
  /** The dispatcher that holds the worker's stream (its host). */
  host = "";
  lastSeenAt: number;
  disconnectedAt: number | null = null;
  private outbox: DispatcherMessage[] = [];
  private flushScheduled = false;

  constructor(info: WorkerInfo, stream: SessionStream, now: number) {
    this.info = info;
    this.types = new Set(info.types);
    this.namespaces = info.namespaces ? new Set(info.namespaces) : null;
    this.labels = info.labels;
    this.stream = stream;
    this.slots = info.slots;
    this.lastSeenAt = now;
  }

  get id(): string {
    return this.info.id;
  }

  /**
   * Most tasks one matching pass hands this worker: half its slots (at least one). When all its
   * slots free at once — a batch of results — its next tasks go out in two waves, one pass apart,
   * which then pass through the log and the worker one after the other and overlap, rather than all
   * slots moving through every stage in lockstep (see Term.pump).
   */
  get wave(): number {
    return Math.max(1, Math.ceil(this.slots / 2));
  }

  get freeSlots(): number {
    return this.stream === null ? 0 : Math.max(0, this.slots - this.attempts.size);
  }

  /**
   * Queues a message for the worker. The queue is written once per event-loop turn: one message
   * alone, several as one DispatcherBatch to a worker that accepts batches (one by one otherwise).
   * Messages still queued when the stream goes away are dropped, as a write to it would be.
   */
  send(message: DispatcherMessage): void {
    if (this.stream === null) return;
    this.outbox.push(message);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    const messages = this.outbox;
    this.outbox = [];
    const stream = this.stream;
    if (stream === null || messages.length === 0) return;
    if (messages.length === 1 || !stream.acceptsBatches) {
      for (const message of messages) stream.send(message);
      return;
    }
    stream.send({ msg: { $case: "batch", value: { messages } } });
  }
}
