import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { MAX_PRIORITY } from "../domain/task/index.ts";
import type { DispatcherMetrics } from "./metrics.ts";

/**
 * The dispatcher's metrics. Counters count what this process appended for the partitions it owned;
 * gauges of queues are set once a second for the partitions it owns now, gauges of workers for the
 * workers connected to it, so dashboards and autoscalers sum over every pod.
 */
export function createDispatcherMetrics(registry: Registry): DispatcherMetrics {
  const registers = [registry];
  const counter = (name: string, help: string, labelNames: string[]) =>
    new Counter({ name, help, labelNames, registers });
  const gauge = (name: string, help: string, labelNames: string[] = []) =>
    new Gauge({ name, help, labelNames, registers });
  const dispatched = counter("taskstream_tasks_dispatched_total", "Attempts assigned to workers.", ["type"]);
  const succeeded = counter("taskstream_tasks_succeeded_total", "Tasks that succeeded.", ["type"]);
  const failed = counter("taskstream_tasks_failed_total", "Attempts that failed.", ["type", "error_type"]);
  const retried = counter("taskstream_tasks_retried_total", "Failed attempts scheduled for another try.", [
    "type",
  ]);
  const deadLettered = counter("taskstream_tasks_dead_lettered_total", "Tasks dead-lettered.", [
    "type",
    "reason",
  ]);
  const cancelled = counter("taskstream_tasks_cancelled_total", "Tasks cancelled.", ["type"]);
  const rejected = counter("taskstream_results_rejected_total", "Worker reports rejected as stale.", [
    "reason",
  ]);
  const workersLost = counter(
    "taskstream_workers_lost_total",
    "Worker sessions ended: heartbeat_timeout (silent, counted by its host) or disconnected (not back within the reconnect grace, counted by each partition's owner).",
    ["reason"],
  );
  const scheduleToStart = new Histogram({
    name: "taskstream_schedule_to_start_seconds",
    help: "From a task being due to its assignment to a worker.",
    labelNames: ["type"],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers,
  });
  const attempt = new Histogram({
    name: "taskstream_task_attempt_seconds",
    help: "From an attempt's assignment to its result (outcome succeeded or failed), as the leader saw it.",
    labelNames: ["type", "outcome"],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
    registers,
  });
  const leader = gauge(
    "taskstream_dispatcher_leader",
    "1 while this dispatcher holds the coordinator lease (it runs the scheduler), else 0.",
  );
  const epoch = gauge(
    "taskstream_dispatcher_epoch",
    "The fencing epoch of the coordinator lease this dispatcher holds; 0 when it holds none.",
  );
  const owned = gauge(
    "taskstream_dispatcher_partitions_owned",
    "Partitions of the log this dispatcher owns.",
  );
  const partitionCount = gauge("taskstream_dispatcher_partitions", "Partitions of the log in all.");
  const partitionEpoch = gauge(
    "taskstream_dispatcher_partition_epoch",
    "The fencing epoch of each partition this dispatcher owns.",
    ["partition"],
  );
  const depth = gauge("taskstream_queue_depth", "Ready tasks waiting for a worker, by priority.", [
    "priority",
  ]);
  const backlog = gauge(
    "taskstream_queue_backlog",
    "Waiting tasks by type and state: due (may run now) or delayed (runAt or retry backoff ahead).",
    ["type", "state"],
  );
  const oldestAge = gauge(
    "taskstream_queue_oldest_age_seconds",
    "How long the longest-waiting due task of the type has waited since it became due.",
    ["type"],
  );
  const queueWorkers = gauge("taskstream_queue_workers", "Connected workers that handle the type.", ["type"]);
  const unroutable = gauge(
    "taskstream_tasks_unroutable",
    "Due tasks that no connected worker can run (no worker with their type and every required label).",
  );
  const workers = gauge("taskstream_workers_connected", "Workers with an open stream to this dispatcher.");
  const slots = gauge("taskstream_worker_slots", "Slots (concurrent attempts) of the connected workers.");
  const busy = gauge("taskstream_worker_slots_busy", "Slots of the connected workers running an attempt.");
  const takeover = new Histogram({
    name: "taskstream_dispatcher_takeover_seconds",
    help: "Each partition's takeover by this dispatcher, from its claim being granted to: rebuilt (snapshot and log folded, work accepted), first_dispatch (first assignment sent).",
    labelNames: ["phase"],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers,
  });

  return {
    recordEvents(events, { type, assignedAt }) {
      const ran = (at: number, outcome: string) => {
        if (assignedAt !== undefined) attempt.observe({ type, outcome }, Math.max(0, at - assignedAt) / 1000);
      };
      for (const event of events) {
        switch (event.type) {
          case "TaskAssigned":
            dispatched.inc({ type });
            break;
          case "TaskSucceeded":
            succeeded.inc({ type });
            ran(event.data.completedAt, "succeeded");
            break;
          case "TaskAttemptFailed":
            failed.inc({ type, error_type: event.data.error.type });
            ran(event.data.failedAt, "failed");
            if (event.data.retryAt !== null) retried.inc({ type });
            break;
          case "TaskDeadLettered":
            deadLettered.inc({ type, reason: event.data.reason });
            break;
          case "TaskCancelled":
            cancelled.inc({ type });
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
    scheduleToStart(type, seconds) {
      scheduleToStart.observe({ type }, seconds);
    },
    queueDepth(depthByPriority) {
      for (let p = 0; p <= MAX_PRIORITY; p++) depth.set({ priority: String(p) }, depthByPriority[p] ?? 0);
    },
    dispatchStats(stats, now) {
      for (const labelled of [backlog, oldestAge, queueWorkers]) labelled.reset();
      for (const [type, count] of Object.entries(stats.backlogByType)) {
        const due = stats.dueByType[type] ?? 0;
        backlog.set({ type, state: "due" }, due);
        backlog.set({ type, state: "delayed" }, count - due);
        const since = stats.oldestDueAtByType[type];
        oldestAge.set({ type }, since === undefined ? 0 : Math.max(0, now - since) / 1000);
      }
      const connected = stats.workers.filter((worker) => worker.connected);
      const perType = new Map<string, number>();
      for (const worker of connected)
        for (const type of worker.types) perType.set(type, (perType.get(type) ?? 0) + 1);
      for (const [type, count] of perType) queueWorkers.set({ type }, count);
      unroutable.set(stats.unroutable);
      workers.set(connected.length);
      slots.set(connected.reduce((sum, worker) => sum + worker.slots, 0));
      busy.set(connected.reduce((sum, worker) => sum + Math.min(worker.busy, worker.slots), 0));
    },
    workerLost(reason) {
      workersLost.inc({ reason: reason.replaceAll(" ", "_") });
    },
    ownership(epochs, partitions) {
      owned.set(epochs.size);
      partitionCount.set(partitions);
      partitionEpoch.reset();
      for (const [partition, value] of epochs) partitionEpoch.set({ partition: String(partition) }, value);
    },
    leadership(leadingEpoch) {
      leader.set(leadingEpoch === null ? 0 : 1);
      epoch.set(leadingEpoch ?? 0);
    },
    takeover(phase, seconds) {
      takeover.observe({ phase }, seconds);
    },
  };
}
