import { describe, expect, it } from "vitest";
import { Registry } from "prom-client";
import {
  DEFAULT_RETRY,
  DEFAULT_TIMEOUTS,
  evolve,
  initialState,
  type TaskSpec,
} from "../domain/task/index.ts";
import { computeStats } from "../dispatcher/stats.ts";
import type { DispatchStats } from "../queues/dispatch-stats.ts";
import { createDispatcherMetrics } from "./dispatcher-metrics.ts";

const spec = (type: string, runAt: number | null): TaskSpec => ({
  namespace: "default",
  type,
  payload: null,
  priority: 5,
  requires: {},
  idempotencyKey: null,
  runAt,
  retry: DEFAULT_RETRY,
  timeouts: DEFAULT_TIMEOUTS,
  metadata: {},
  concurrency: null,
  traceparent: null,
  tracestate: null,
});
const queued = (type: string, submittedAt: number, runAt: number | null = null) =>
  evolve(initialState(), { type: "TaskSubmitted", data: { spec: spec(type, runAt), submittedAt } });

type Sample = { value: number; labels: Record<string, string | number>; metricName?: string };

/** The sample values of `name` in the registry, by their labels as `k=v,…` (empty for none). */
async function samples(registry: Registry, name: string): Promise<Record<string, number>> {
  const metric = registry.getSingleMetric(name);
  if (!metric) throw new Error(`${name} is not registered`);
  const values = (await metric.get()).values as Sample[];
  return Object.fromEntries(
    values
      .filter((v) => v.metricName === undefined || v.metricName === name)
      .map((v) => [
        Object.entries(v.labels)
          .map(([k, l]) => `${k}=${String(l)}`)
          .join(","),
        v.value,
      ]),
  );
}

describe("dispatcher metrics", () => {
  it("splits each queue's waiting tasks into due and delayed, with the oldest due task's wait", async () => {
    const now = 100_000;
    const stats = computeStats(
      3,
      7,
      [
        queued("resize", 40_000),
        queued("resize", 90_000),
        queued("resize", 1, now + 60_000),
        queued("mail", 99_000),
      ],
      [],
      [],
      now,
    );
    expect(stats.backlogByType).toEqual({ resize: 3, mail: 1 });
    expect(stats.dueByType).toEqual({ resize: 2, mail: 1 });
    expect(stats.oldestDueAtByType).toEqual({ resize: 40_000, mail: 99_000 });

    const registry = new Registry();
    const metrics = createDispatcherMetrics(registry);
    metrics.dispatchStats({ ...stats, workers: [] }, now);
    expect(await samples(registry, "taskstream_queue_backlog")).toEqual({
      "type=resize,state=due": 2,
      "type=resize,state=delayed": 1,
      "type=mail,state=due": 1,
      "type=mail,state=delayed": 0,
    });
    expect(await samples(registry, "taskstream_queue_oldest_age_seconds")).toEqual({
      "type=resize": 60,
      "type=mail": 1,
    });
  });

  it("counts connected workers, their slots and slots in use, and workers per type", async () => {
    const registry = new Registry();
    const metrics = createDispatcherMetrics(registry);
    const worker = (id: string, types: string[], slots: number, busy: number, connected: boolean) => ({
      id,
      name: id,
      types,
      labels: {},
      slots,
      busy,
      connected,
    });
    const stats: Omit<DispatchStats, "partitions" | "partitionsReporting"> = {
      at: "",
      backlogByType: {},
      dueByType: {},
      oldestDueAtByType: {},
      unroutable: 2,
      queueDepthByPriority: [],
      workers: [
        worker("a", ["resize", "mail"], 10, 4, true),
        worker("b", ["resize"], 5, 5, true),
        worker("c", ["resize"], 50, 0, false),
      ],
    };
    metrics.dispatchStats(stats, 0);
    expect(await samples(registry, "taskstream_workers_connected")).toEqual({ "": 2 });
    expect(await samples(registry, "taskstream_worker_slots")).toEqual({ "": 15 });
    expect(await samples(registry, "taskstream_worker_slots_busy")).toEqual({ "": 9 });
    expect(await samples(registry, "taskstream_queue_workers")).toEqual({ "type=resize": 2, "type=mail": 1 });
    expect(await samples(registry, "taskstream_tasks_unroutable")).toEqual({ "": 2 });
  });

  it("reports the partitions owned with their epochs, and the coordinator lease", async () => {
    const registry = new Registry();
    const metrics = createDispatcherMetrics(registry);
    metrics.leadership(42);
    metrics.ownership(
      new Map([
        [0, 5],
        [3, 9],
      ]),
      8,
    );
    metrics.queueDepth([0, 0, 0, 0, 0, 3]);
    expect(await samples(registry, "taskstream_dispatcher_leader")).toEqual({ "": 1 });
    expect(await samples(registry, "taskstream_dispatcher_epoch")).toEqual({ "": 42 });
    expect(await samples(registry, "taskstream_dispatcher_partitions_owned")).toEqual({ "": 2 });
    expect(await samples(registry, "taskstream_dispatcher_partitions")).toEqual({ "": 8 });
    expect(await samples(registry, "taskstream_dispatcher_partition_epoch")).toEqual({
      "partition=0": 5,
      "partition=3": 9,
    });
    expect((await samples(registry, "taskstream_queue_depth"))["priority=5"]).toBe(3);

    metrics.leadership(null);
    metrics.ownership(new Map(), 8);
    expect(await samples(registry, "taskstream_dispatcher_leader")).toEqual({ "": 0 });
    expect(await samples(registry, "taskstream_dispatcher_partitions_owned")).toEqual({ "": 0 });
    expect(await samples(registry, "taskstream_dispatcher_partition_epoch")).toEqual({});
  });

  it("labels outcomes by task type and times an attempt from its assignment to its result", async () => {
    const registry = new Registry();
    const metrics = createDispatcherMetrics(registry);
    const failure = { message: "no", type: "Timeout", nonRetryable: false };
    metrics.recordEvents([{ type: "TaskSucceeded", data: { attempt: 1, result: null, completedAt: 3500 } }], {
      type: "resize",
      assignedAt: 1000,
    });
    metrics.recordEvents(
      [{ type: "TaskAttemptFailed", data: { attempt: 1, error: failure, failedAt: 2000, retryAt: 9000 } }],
      { type: "mail" },
    );
    expect(await samples(registry, "taskstream_tasks_succeeded_total")).toEqual({ "type=resize": 1 });
    expect(await samples(registry, "taskstream_tasks_failed_total")).toEqual({
      "type=mail,error_type=Timeout": 1,
    });
    expect(await samples(registry, "taskstream_tasks_retried_total")).toEqual({ "type=mail": 1 });
    const histogram = registry.getSingleMetric("taskstream_task_attempt_seconds")!;
    const attempt = (await histogram.get()).values as Sample[];
    const sum = attempt.find((v) => v.metricName === "taskstream_task_attempt_seconds_sum");
    // Only the attempt whose assignment time was known is timed: 2.5 s, succeeded.
    expect(sum).toMatchObject({ value: 2.5, labels: { type: "resize", outcome: "succeeded" } });
    expect(attempt.filter((v) => v.metricName === "taskstream_task_attempt_seconds_count")).toHaveLength(1);
  });

  it("times every partition's takeover: claim to rebuilt and to first dispatch", async () => {
    const registry = new Registry();
    const metrics = createDispatcherMetrics(registry);
    metrics.takeover("rebuilt", 0.25);
    metrics.takeover("rebuilt", 0.75);
    metrics.takeover("first_dispatch", 0.3);
    const values = (await registry.getSingleMetric("taskstream_dispatcher_takeover_seconds")!.get())
      .values as Sample[];
    const of = (suffix: string) =>
      Object.fromEntries(
        values
          .filter((v) => v.metricName === `taskstream_dispatcher_takeover_seconds_${suffix}`)
          .map((v) => [String(v.labels.phase), v.value]),
      );
    expect(of("count")).toEqual({ rebuilt: 2, first_dispatch: 1 });
    expect(of("sum")).toEqual({ rebuilt: 1, first_dispatch: 0.3 });
  });
});
