import type { Redis } from "ioredis";
import type { EventStore } from "../commands/event-store/event-store.ts";
import type { TaskEvent } from "../domain/task/index.ts";
import type { WorkerRegistry } from "./worker-registry.ts";
import type { QueueSettingsStore } from "../commands/queues/queue-settings.ts";
import type { DispatchStats } from "./stats.ts";

export interface DispatcherConfig {
  heartbeatIntervalMs: number;
  /** A connected worker silent this long is lost and its attempts retried. */
  heartbeatTimeoutMs: number;
  /** How long a worker whose stream broke (or a new leader's inherited attempts) may take to reconnect. */
  reconnectGraceMs: number;
  /** K_p per priority: dispatches of more urgent work after which a waiting level is served (ready-queue.ts). */
  agingBound: number[];
  /** Most attempts one worker may declare it runs at once. */
  maxWorkerSlots: number;
  /** Largest result or progress details a worker may report, in bytes of JSON. */
  maxResultBytes: number;
}

export interface DispatcherMetrics {
  /**
   * Events the leader appended for one task of `type`; `assignedAt` is when the task's current
   * attempt was handed out, when this term did it (an attempt's result then gives its run time).
   */
  recordEvents(events: TaskEvent[], task: { type: string; assignedAt?: number }): void;
  scheduleToStart(type: string, seconds: number): void;
  queueDepth(depthByPriority: readonly number[]): void;
  /** The leader's view once a second: waiting tasks per type, workers and their slots. */
  dispatchStats(stats: DispatchStats, now: number): void;
  workerLost(reason: string): void;
  /** Leading with `epoch`, or not leading (null): only a leader reports queues and workers. */
  leadership(epoch: number | null): void;
}

export interface Logger {
  info(object: object, message: string): void;
  warn(object: object, message: string): void;
  error(object: object, message: string): void;
}

/** What a dispatcher term needs from its surroundings. */
export interface DispatcherContext {
  store: EventStore;
  redis: Redis;
  registry: WorkerRegistry;
  settings: QueueSettingsStore;
  config: DispatcherConfig;
  metrics: DispatcherMetrics;
  log: Logger;
  /** This dispatcher's address, as workers reach it. */
  candidate: string;
  /** A failure the term cannot recover from (its tail broke): the dispatcher steps down. */
  onFatal(error: unknown): void;
}
