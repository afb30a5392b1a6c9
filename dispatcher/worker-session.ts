import type { DispatcherMessage } from "../proto/gen/taskstream/v1/workers.ts";
import type { Capabilities } from "./ready-queue.ts";

/** The stream a session writes to; absent while the worker is reconnecting. */
export interface SessionStream {
  send(message: DispatcherMessage): void;
  /** Ends the stream with a gRPC status, so the worker reconnects (elsewhere). */
  close(code: number, details: string): void;
}

export interface WorkerInfo {
  id: string;
  name: string;
  types: string[];
  labels: Record<string, string>;
  slots: number;
  sdk: string;
}

/**
 * One worker process as the leader sees it: its capabilities, its free slots, the attempts it holds
 * (task id → attempt number), and its liveness. A session outlives a broken stream for a grace
 * period, so a worker that reconnects keeps its attempts instead of having them retried.
 */
export class WorkerSession implements Capabilities {
  readonly info: WorkerInfo;
  readonly types: ReadonlySet<string>;
  readonly labels: Readonly<Record<string, string>>;
  /** Attempts this worker holds; 0 marks an assignment still being written. */
  readonly attempts = new Map<string, number>();
  stream: SessionStream | null;
  lastSeenAt: number;
  disconnectedAt: number | null = null;

  constructor(info: WorkerInfo, stream: SessionStream, now: number) {
    this.info = info;
    this.types = new Set(info.types);
    this.labels = info.labels;
    this.stream = stream;
    this.lastSeenAt = now;
  }

  get id(): string {
    return this.info.id;
  }

  get freeSlots(): number {
    return this.stream === null ? 0 : Math.max(0, this.info.slots - this.attempts.size);
  }

  send(message: DispatcherMessage): void {
    this.stream?.send(message);
  }
}
