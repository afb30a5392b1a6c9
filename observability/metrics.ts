import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { TaskEvent } from "../domain/task/index.ts";
import type { DispatchStats } from "../queues/dispatch-stats.ts";
import { createDispatcherMetrics } from "./dispatcher-metrics.ts";

/** What the dispatcher reports to the metrics (observability/dispatcher-metrics.ts). */
export interface DispatcherMetrics {
  /**
   * Events the leader appended for one task of `type`; `assignedAt` is when the task's current
   * attempt was handed out, when this term did it (an attempt's result then gives its run time).
   */
  recordEvents(events: TaskEvent[], task: { type: string; assignedAt?: number }): void;
  scheduleToStart(type: string, seconds: number): void;
  queueDepth(depthByPriority: readonly number[]): void;
  /**
   * This dispatcher's view once a second: waiting tasks per type in the partitions it owns, the
   * workers connected to it and their slots (sums over the dispatchers give the cluster's).
   */
  dispatchStats(stats: Omit<DispatchStats, "partitions" | "partitionsReporting">, now: number): void;
  workerLost(reason: string): void;
  /** The partitions this dispatcher owns, with their fencing epochs, of `partitions` in all. */
  ownership(epochs: ReadonlyMap<number, number>, partitions: number): void;
  /** Holding the coordinator lease (the scheduler runs there) with `epoch`, or not (null). */
  leadership(epoch: number | null): void;
  /**
   * A partition's takeover by one term, timed from its claim being granted: `rebuilt` when its
   * snapshot and log are folded and work accepted, `first_dispatch` when its first assignment is sent.
   */
  takeover(phase: "rebuilt" | "first_dispatch", seconds: number): void;
}

/** Every Taskstream metric, on one registry served at /metrics. */
export function createMetrics(registry = new Registry()) {
  collectDefaultMetrics({ register: registry, prefix: "taskstream_" });
  const counter = (name: string, help: string, labelNames: string[] = []) =>
    new Counter({ name, help, labelNames, registers: [registry] });
  const submitted = counter(
    "taskstream_tasks_submitted_total",
    "Tasks accepted by the command API (deduplicated ones excluded).",
  );
  const deduplicated = counter(
    "taskstream_tasks_deduplicated_total",
    "Submissions answered with an existing task by idempotency key.",
  );
  const projectionLag = new Histogram({
    name: "taskstream_projection_lag_seconds",
    help: "From an event's append to its projection into PostgreSQL.",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const rateLimited = counter(
    "taskstream_admission_rejected_total",
    "Submissions refused because their queue was full.",
  );
  const projectedEvents = counter("taskstream_projected_events_total", "Events folded into the read model.");
  const archivedTasks = counter(
    "taskstream_archived_tasks_total",
    "Finished tasks whose events moved from Redis to the PostgreSQL archive.",
  );
  const projectionErrors = counter(
    "taskstream_projection_errors_total",
    "Projector failures: transient (the batch is retried) or poison (an event that cannot be applied stops its partition).",
    ["projector", "kind"],
  );
  const stalledPartitions = new Gauge({
    name: "taskstream_projection_stalled_partitions",
    help: "Partitions a projector has stopped at an event it cannot apply.",
    labelNames: ["projector"],
    registers: [registry],
  });
  /** Where the projection backlog gauge samples from, at each scrape; set by the projector role. */
  const projectionBacklog: { age: (() => Promise<number>) | null } = { age: null };
  new Gauge({
    name: "taskstream_projection_backlog_age_seconds",
    help: "Age of the oldest event in the log that the read model has not folded yet (0 when caught up).",
    // Labelled so that a process without the projector role exports no sample at all.
    labelNames: ["projector"],
    registers: [registry],
    async collect() {
      if (!projectionBacklog.age) return;
      this.set({ projector: "tasks" }, await projectionBacklog.age().catch(() => Number.NaN));
    },
  });
  const readinessCheck = new Gauge({
    name: "taskstream_readiness_check_up",
    help: "1 when the readiness check (redis, postgres, dispatcher-lease) passed at its last run, else 0.",
    labelNames: ["check"],
    registers: [registry],
  });

  return {
    registry,
    submitted,
    deduplicated,
    dispatcher: createDispatcherMetrics(registry),
    projectionLag,
    projectedEvents,
    archivedTasks,
    projectionErrors,
    projectionBacklog,
    readinessCheck,
    stalledPartitions,
    admissionRejected: rateLimited,
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
