import { Layout, dashboard, datasourceVariable, queryVariable } from "./panels.ts";

/** Rate over Grafana's interval for `metric` with the dashboard's job filter and more matchers. */
const rate = (metric: string, matchers = "") => `rate(${metric}{job=~"$job"${matchers}}[$__rate_interval])`;
const quantile = (q: number, histogram: string, by: string, matchers = "") =>
  `histogram_quantile(${q}, sum by (${by}) (${rate(`${histogram}_bucket`, matchers)}))`;

/** Every pod of every role exports the process metrics. */
const JOB = queryVariable(
  "job",
  "Installation",
  "label_values(taskstream_process_cpu_seconds_total, job)",
  true,
);

/**
 * The whole installation: throughput, queues, latency, workers, ownership, dependencies. Each
 * dispatcher exports the queue gauges of the partitions it owns and the worker gauges of the workers
 * connected to it, so those are summed over the pods.
 */
export function overview() {
  const layout = new Layout()
    .row("Throughput")
    .add({
      kind: "stat",
      width: 6,
      title: "Submitted / s",
      unit: "reqps",
      targets: [{ expr: `sum(${rate("taskstream_tasks_submitted_total")})`, legendFormat: "submitted" }],
    })
    .add({
      kind: "stat",
      width: 6,
      title: "Succeeded / s",
      unit: "reqps",
      targets: [{ expr: `sum(${rate("taskstream_tasks_succeeded_total")})`, legendFormat: "succeeded" }],
    })
    .add({
      kind: "stat",
      width: 6,
      title: "Failed attempts / s",
      unit: "reqps",
      targets: [{ expr: `sum(${rate("taskstream_tasks_failed_total")})`, legendFormat: "failed" }],
    })
    .add({
      kind: "stat",
      width: 6,
      title: "Dead-lettered / s",
      unit: "reqps",
      targets: [
        { expr: `sum(${rate("taskstream_tasks_dead_lettered_total")})`, legendFormat: "dead-lettered" },
      ],
    })
    .add({
      width: 16,
      title: "Task events per second",
      description:
        "Submissions (API, deduplicated ones apart), assignments and outcomes (leading dispatcher).",
      unit: "reqps",
      targets: [
        { expr: `sum(${rate("taskstream_tasks_submitted_total")})`, legendFormat: "submitted" },
        { expr: `sum(${rate("taskstream_tasks_deduplicated_total")})`, legendFormat: "deduplicated" },
        { expr: `sum(${rate("taskstream_tasks_dispatched_total")})`, legendFormat: "dispatched" },
        { expr: `sum(${rate("taskstream_tasks_succeeded_total")})`, legendFormat: "succeeded" },
        { expr: `sum(${rate("taskstream_tasks_failed_total")})`, legendFormat: "failed attempts" },
        { expr: `sum(${rate("taskstream_tasks_retried_total")})`, legendFormat: "retried" },
        { expr: `sum(${rate("taskstream_tasks_dead_lettered_total")})`, legendFormat: "dead-lettered" },
        { expr: `sum(${rate("taskstream_tasks_cancelled_total")})`, legendFormat: "cancelled" },
      ],
    })
    .add({
      title: "Submissions refused (429) / s",
      description: "A queue at its backlog limit (maxBacklog) answers 429 with Retry-After.",
      unit: "reqps",
      targets: [{ expr: `sum(${rate("taskstream_admission_rejected_total")})`, legendFormat: "refused" }],
    })
    .row("Queues")
    .add({
      title: "Ready queue depth by priority",
      description: "Due tasks in the ready queues of all partitions, by priority (9 most urgent).",
      targets: [
        {
          expr: `sum by (priority) (taskstream_queue_depth{job=~"$job"})`,
          legendFormat: "priority {{priority}}",
        },
      ],
    })
    .add({
      title: "Due backlog by queue",
      description:
        "Tasks that may run now and wait for a worker, per task type (what worker autoscaling follows).",
      targets: [
        {
          expr: `sum by (type) (taskstream_queue_backlog{job=~"$job", state="due"})`,
          legendFormat: "{{type}}",
        },
      ],
    })
    .add({
      title: "Delayed by queue",
      description: "Waiting tasks not due yet (runAt in the future, or a retry backoff).",
      targets: [
        {
          expr: `sum by (type) (taskstream_queue_backlog{job=~"$job", state="delayed"})`,
          legendFormat: "{{type}}",
        },
      ],
    })
    .add({
      title: "Oldest due task's wait by queue",
      unit: "s",
      targets: [
        {
          expr: `max by (type) (taskstream_queue_oldest_age_seconds{job=~"$job"})`,
          legendFormat: "{{type}}",
        },
      ],
    })
    .add({
      title: "Unroutable tasks",
      description: "Due tasks no connected worker can run (type or required labels missing).",
      targets: [{ expr: `sum(taskstream_tasks_unroutable{job=~"$job"})`, legendFormat: "unroutable" }],
    })
    .row("Latency")
    .add({
      title: "Schedule-to-start",
      description: "From a task being due to its assignment to a worker.",
      unit: "s",
      targets: [0.5, 0.9, 0.99].map((q) => ({
        expr: quantile(q, "taskstream_schedule_to_start_seconds", "le"),
        legendFormat: `p${q * 100}`,
      })),
    })
    .add({
      title: "Attempt run time",
      description: "From an attempt's assignment to its result, by outcome.",
      unit: "s",
      targets: [0.5, 0.99].map((q) => ({
        expr: quantile(q, "taskstream_task_attempt_seconds", "le, outcome"),
        legendFormat: `p${q * 100} {{outcome}}`,
      })),
    })
    .add({
      title: "Projection lag",
      description: "Committed batches' lag (p50, p99) and the age of the oldest event not yet projected.",
      unit: "s",
      targets: [
        { expr: quantile(0.5, "taskstream_projection_lag_seconds", "le"), legendFormat: "batch lag p50" },
        { expr: quantile(0.99, "taskstream_projection_lag_seconds", "le"), legendFormat: "batch lag p99" },
        {
          expr: `max(taskstream_projection_backlog_age_seconds{job=~"$job"})`,
          legendFormat: "unprojected age",
        },
      ],
    })
    .row("Workers")
    .add({
      kind: "stat",
      width: 6,
      title: "Workers connected",
      targets: [{ expr: `sum(taskstream_workers_connected{job=~"$job"})`, legendFormat: "workers" }],
    })
    .add({
      kind: "stat",
      width: 6,
      title: "Slots in use",
      unit: "percentunit",
      min: 0,
      max: 1,
      targets: [
        {
          expr: `sum(taskstream_worker_slots_busy{job=~"$job"}) / sum(taskstream_worker_slots{job=~"$job"})`,
          legendFormat: "in use",
        },
      ],
    })
    .add({
      kind: "stat",
      width: 6,
      title: "Partitions without an owner",
      description:
        "Partitions of the log that no dispatcher owns now: 0 is healthy (briefly 1 or more during a handover).",
      targets: [
        {
          expr: `max(taskstream_dispatcher_partitions{job=~"$job"}) - sum(taskstream_dispatcher_partitions_owned{job=~"$job"})`,
          legendFormat: "unowned",
        },
      ],
    })
    .add({
      kind: "stat",
      width: 6,
      title: "Coordinators",
      description:
        "Dispatchers holding the coordinator lease (it fires the recurring schedules): 1 is healthy.",
      targets: [{ expr: `sum(taskstream_dispatcher_leader{job=~"$job"})`, legendFormat: "coordinators" }],
    })
    .add({
      title: "Worker slots",
      targets: [
        { expr: `sum(taskstream_worker_slots{job=~"$job"})`, legendFormat: "slots" },
        { expr: `sum(taskstream_worker_slots_busy{job=~"$job"})`, legendFormat: "busy" },
        { expr: `sum(taskstream_workers_connected{job=~"$job"})`, legendFormat: "workers" },
      ],
    })
    .add({
      title: "Workers lost / s",
      description:
        "heartbeat_timeout: a worker went silent; disconnected: it did not come back within the reconnect grace (also a normal scale-down).",
      unit: "reqps",
      targets: [
        { expr: `sum by (reason) (${rate("taskstream_workers_lost_total")})`, legendFormat: "{{reason}}" },
      ],
    })
    .add({
      title: "Stale results rejected / s",
      description:
        "Reports of attempts that were already retried elsewhere (late or duplicate execution, fenced).",
      unit: "reqps",
      targets: [
        {
          expr: `sum by (reason) (${rate("taskstream_results_rejected_total")})`,
          legendFormat: "{{reason}}",
        },
      ],
    })
    .row("Ownership and dependencies")
    .add({
      title: "Partitions owned per dispatcher",
      description:
        "How many partitions each dispatcher pod owns; they add up to the partitions in all, each pod ⌊P/N⌋ or ⌈P/N⌉.",
      targets: [
        {
          expr: `max by (pod) (taskstream_dispatcher_partitions_owned{job=~"$job"}) and on (pod) max by (pod) (taskstream_dispatcher_partitions{job=~"$job"}) > 0`,
          legendFormat: "{{pod}}",
        },
        { expr: `max(taskstream_dispatcher_partitions{job=~"$job"})`, legendFormat: "partitions in all" },
      ],
    })
    .add({
      title: "Owner and epoch of each partition",
      description:
        "One series per partition and owning pod, its value the partition's fencing epoch: a new series starts, with a higher epoch, each time the partition changes owners.",
      targets: [
        {
          expr: `max by (partition, pod) (taskstream_dispatcher_partition_epoch{job=~"$job"})`,
          legendFormat: "p{{partition}} {{pod}}",
        },
      ],
    })
    .add({
      title: "Coordinator and its epoch per dispatcher",
      description:
        "Which pod holds the coordinator lease that runs the recurring schedules (1, left axis) and the lease's epoch (right axis).",
      rightAxis: "^epoch",
      targets: [
        {
          expr: `max by (pod) (taskstream_dispatcher_leader{job=~"$job"})`,
          legendFormat: "coordinator {{pod}}",
        },
        { expr: `max by (pod) (taskstream_dispatcher_epoch{job=~"$job"})`, legendFormat: "epoch {{pod}}" },
      ],
    })
    .add({
      title: "Redis and PostgreSQL checks",
      description: "Readiness checks of every pod: 1 when all pods reach the store.",
      min: 0,
      max: 1,
      targets: [
        {
          expr: `min by (check) (taskstream_readiness_check_up{job=~"$job", check=~"redis|postgres"})`,
          legendFormat: "{{check}}",
        },
      ],
    })
    .add({
      title: "Projector errors",
      description:
        "Failed batches per second by kind (transient: retried; poison: an event that cannot be applied), and partitions stopped at such an event.",
      targets: [
        {
          expr: `sum by (kind) (${rate("taskstream_projection_errors_total")})`,
          legendFormat: "{{kind}} / s",
        },
        {
          expr: `max(taskstream_projection_stalled_partitions{job=~"$job"})`,
          legendFormat: "stalled partitions",
        },
      ],
    })
    .row("Processes")
    .add({
      title: "CPU by pod",
      unit: "percentunit",
      targets: [
        { expr: `sum by (pod) (${rate("taskstream_process_cpu_seconds_total")})`, legendFormat: "{{pod}}" },
      ],
    })
    .add({
      title: "Resident memory by pod",
      unit: "bytes",
      targets: [
        {
          expr: `max by (pod) (taskstream_process_resident_memory_bytes{job=~"$job"})`,
          legendFormat: "{{pod}}",
        },
      ],
    })
    .add({
      title: "Event loop lag p99 by pod",
      unit: "s",
      targets: [
        {
          expr: `max by (pod) (taskstream_nodejs_eventloop_lag_p99_seconds{job=~"$job"})`,
          legendFormat: "{{pod}}",
        },
      ],
    });
  return dashboard(
    "taskstream-overview",
    "Taskstream / Overview",
    "Throughput, queues, latency, workers, partition ownership and dependencies of a Taskstream installation.",
    layout.panels,
    [datasourceVariable(), JOB],
  );
}

/** One queue (task type): its backlog, workers, outcomes and latencies. */
export function queue() {
  const t = `, type=~"$type"`;
  const layout = new Layout()
    .row("Backlog")
    .add({
      title: "Waiting tasks",
      targets: [
        { expr: `sum by (state) (taskstream_queue_backlog{job=~"$job"${t}})`, legendFormat: "{{state}}" },
      ],
    })
    .add({
      title: "Oldest due task's wait",
      unit: "s",
      targets: [
        { expr: `max(taskstream_queue_oldest_age_seconds{job=~"$job"${t}})`, legendFormat: "oldest" },
      ],
    })
    .add({
      title: "Workers handling the type",
      targets: [{ expr: `sum(taskstream_queue_workers{job=~"$job"${t}})`, legendFormat: "workers" }],
    })
    .row("Outcomes")
    .add({
      width: 12,
      title: "Attempts and outcomes / s",
      unit: "reqps",
      targets: [
        { expr: `sum(${rate("taskstream_tasks_dispatched_total", t)})`, legendFormat: "dispatched" },
        { expr: `sum(${rate("taskstream_tasks_succeeded_total", t)})`, legendFormat: "succeeded" },
        { expr: `sum(${rate("taskstream_tasks_failed_total", t)})`, legendFormat: "failed attempts" },
        { expr: `sum(${rate("taskstream_tasks_retried_total", t)})`, legendFormat: "retried" },
        { expr: `sum(${rate("taskstream_tasks_dead_lettered_total", t)})`, legendFormat: "dead-lettered" },
        { expr: `sum(${rate("taskstream_tasks_cancelled_total", t)})`, legendFormat: "cancelled" },
      ],
    })
    .add({
      width: 12,
      title: "Failed attempts by error type / s",
      unit: "reqps",
      targets: [
        {
          expr: `sum by (error_type) (${rate("taskstream_tasks_failed_total", t)})`,
          legendFormat: "{{error_type}}",
        },
      ],
    })
    .add({
      width: 12,
      title: "Dead-lettered by reason / s",
      unit: "reqps",
      targets: [
        {
          expr: `sum by (reason) (${rate("taskstream_tasks_dead_lettered_total", t)})`,
          legendFormat: "{{reason}}",
        },
      ],
    })
    .add({
      width: 12,
      title: "Attempt failure ratio",
      unit: "percentunit",
      min: 0,
      targets: [
        {
          expr: `sum(${rate("taskstream_tasks_failed_total", t)}) / sum(${rate("taskstream_tasks_dispatched_total", t)})`,
          legendFormat: "failed / dispatched",
        },
      ],
    })
    .row("Latency")
    .add({
      width: 12,
      title: "Schedule-to-start",
      unit: "s",
      targets: [0.5, 0.9, 0.99].map((q) => ({
        expr: quantile(q, "taskstream_schedule_to_start_seconds", "le", t),
        legendFormat: `p${q * 100}`,
      })),
    })
    .add({
      width: 12,
      title: "Attempt run time",
      unit: "s",
      targets: [0.5, 0.9, 0.99].map((q) => ({
        expr: quantile(q, "taskstream_task_attempt_seconds", "le, outcome", t),
        legendFormat: `p${q * 100} {{outcome}}`,
      })),
    });
  return dashboard(
    "taskstream-queue",
    "Taskstream / Queue",
    "One queue (task type) of a Taskstream installation: backlog, workers, outcomes and latencies.",
    layout.panels,
    [
      datasourceVariable(),
      JOB,
      queryVariable(
        "type",
        "Queue (task type)",
        `label_values(taskstream_queue_backlog{job=~"$job"}, type)`,
        true,
      ),
    ],
  );
}

/** Each dashboard by its file name in deploy/grafana/. */
export const DASHBOARDS = { "taskstream-overview.json": overview, "taskstream-queue.json": queue };
