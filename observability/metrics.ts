import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { createDispatcherMetrics } from "./dispatcher-metrics.ts";

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
    projectionErrors,
    projectionBacklog,
    readinessCheck,
    stalledPartitions,
    admissionRejected: rateLimited,
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
