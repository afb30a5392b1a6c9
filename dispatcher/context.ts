import type { Logger } from "../observability/log.ts";
import type { DispatcherMetrics } from "../observability/metrics.ts";
import type { EventLog } from "../event-store/event-log.ts";
import type { QueueSettingsSource } from "../queues/queue-settings.ts";
import type { PartitionStats } from "../queues/dispatch-stats.ts";
import type { LimitsStore } from "../queues/limits-store.ts";
import type { OwnerMessage } from "../proto/gen/taskstream/cluster/v1/peers.ts";

export interface DispatcherConfig {
  heartbeatIntervalMs: number;
  /** A connected worker silent this long is lost (by its host) and its attempts retried. */
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

/** What a partition's term needs from its surroundings. */
export interface DispatcherContext {
  store: EventLog;
  settings: QueueSettingsSource;
  /** The dispatch limits every partition shares (queues/shared-limits.ts). */
  limits: LimitsStore;
  config: DispatcherConfig;
  metrics: DispatcherMetrics;
  log: Logger;
  /** Sends a message to a worker's host (the dispatcher holding its stream), over the link to it. */
  toHost(hostId: string, message: OwnerMessage): void;
  /**
   * Where the term's once-a-second stats go: this dispatcher's metrics, and Redis fenced by the
   * partition's epoch (queues/dispatch-stats.ts).
   */
  publishStats(stats: PartitionStats): Promise<void>;
  /** A write was refused for a newer epoch: the term has closed; its claim should go. */
  fencedOut(): void;
}
