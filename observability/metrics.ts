import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { MAX_PRIORITY, type TaskEvent } from "../domain/task/index.ts";

/** What the dispatcher reports to the metrics. */
export interface DispatcherMetrics {
  recordEvents(events: TaskEvent[]): void;
  scheduleToStart: { observe(seconds: number): void };
  queueDepth(depthByPriority: readonly number[]): void;
  unroutable(count: number): void;
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
  const dispatched = counter("taskstream_tasks_dispatched_total", "Attempts assigned to workers.");
  const succeeded = counter("taskstream_tasks_succeeded_total", "Tasks that succeeded.");
  const failed = counter("taskstream_tasks_failed_total", "Attempts that failed.", ["error_type"]);
  const retried = counter("taskstream_tasks_retried_total", "Failed attempts scheduled for another try.");
  const deadLettered = counter("taskstream_tasks_dead_lettered_total", "Tasks dead-lettered.", ["reason"]);
  const cancelled = counter("taskstream_tasks_cancelled_total", "Tasks cancelled.");
  const rejected = counter("taskstream_results_rejected_total", "Worker reports rejected as stale.", [
    "reason",
  ]);
  const depth = new Gauge({
    name: "taskstream_queue_depth",
    help: "Ready tasks waiting for a worker, by priority.",
    labelNames: ["priority"],
    registers: [registry],
  });
  const scheduleToStart = new Histogram({
    name: "taskstream_schedule_to_start_seconds",
    help: "From a task being due to its assignment to a worker.",
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const projectionLag = new Histogram({
    name: "taskstream_projection_lag_seconds",
    help: "From an event's append to its projection into PostgreSQL.",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const unroutable = new Gauge({
    name: "taskstream_tasks_unroutable",
    help: "Due tasks that no connected worker can run (no worker with their type and every required label).",
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

  const dispatcher: DispatcherMetrics = {
    recordEvents(events: TaskEvent[]) {
      for (const event of events) {
        switch (event.type) {
          case "TaskAssigned":
            dispatched.inc();
            break;
          case "TaskSucceeded":
            succeeded.inc();
            break;
          case "TaskAttemptFailed":
            failed.inc({ error_type: event.data.error.type });
            if (event.data.retryAt !== null) retried.inc();
            break;
          case "TaskDeadLettered":
            deadLettered.inc({ reason: event.data.reason });
            break;
          case "TaskCancelled":
            cancelled.inc();
            break;
          case "TaskResultRejected":
            rejected.inc({ reason: event.data.reason });
            break;
          case "TaskSubmitted":
          case "TaskStarted":
          case "TaskProgressRecorded":
          case "TaskCancelRequested":
          case "TaskRevived":
            break;
        }
      }
    },
    scheduleToStart,
    unroutable(count) {
      unroutable.set(count);
    },
    queueDepth(depthByPriority) {
      for (let p = 0; p <= MAX_PRIORITY; p++) depth.set({ priority: String(p) }, depthByPriority[p] ?? 0);
    },
  };
  return {
    registry,
    submitted,
    deduplicated,
    dispatcher,
    projectionLag,
    projectedEvents,
    projectionErrors,
    stalledPartitions,
    admissionRejected: rateLimited,
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
