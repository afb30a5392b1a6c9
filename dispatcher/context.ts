import type { Logger } from "../observability/log.ts";
import type { DispatcherMetrics } from "../observability/metrics.ts";
import type { EventLog } from "../event-store/event-log.ts";
import type { DispatchStats } from "../queues/dispatch-stats.ts";
import type { QueueSettingsSource } from "../queues/queue-settings.ts";
import type { WorkerDirectory } from "./worker-registry.ts";

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
  /** How often the leader snapshots its live tasks (docs/snapshots.md). */
  snapshotIntervalMs: number;
}

/** What a dispatcher term needs from its surroundings. */
export interface DispatcherContext {
  store: EventLog;
  registry: WorkerDirectory;
  settings: QueueSettingsSource;
  /** Where the term's once-a-second stats go, fenced by its epoch (Redis for real: queues/dispatch-stats.ts). */
  publishStats(stats: DispatchStats): Promise<void>;
  config: DispatcherConfig;
  metrics: DispatcherMetrics;
  log: Logger;
  /** This dispatcher's address, as workers reach it. */
  candidate: string;
  /** A failure the term cannot recover from (its tail broke): the dispatcher steps down. */
  onFatal(error: unknown): void;
}
