import { ApiError } from "../client/api-client.ts";
import { details, table } from "../output/table.ts";
import { UsageError, type Verb } from "../verb.ts";

/** What runs the tasks and how fast: workers, queues and their limits, stats. */

interface Worker {
  id: string;
  name: string;
  types: string[];
  labels: Record<string, string> | null;
  slots: number;
  busy: number;
  connected: boolean;
}

export const workers: Verb = {
  name: "workers",
  summary: "Workers connected to the leading dispatcher: their types, labels and slots in use.",
  client: true,
  flags: {},
  examples: ["taskstream workers --json"],
  async run(c) {
    const { workers } = await c.api.graphql<{ workers: Worker[] }>(
      "{ workers { id name types labels slots busy connected } }",
    );
    c.print(
      () =>
        table(
          workers,
          [
            { header: "ID", value: (w) => w.id },
            { header: "NAME", value: (w) => w.name },
            { header: "TYPES", value: (w) => w.types.join(",") },
            {
              header: "LABELS",
              value: (w) =>
                Object.entries(w.labels ?? {})
                  .map(([k, v]) => `${k}=${v}`)
                  .join(","),
            },
            { header: "BUSY", value: (w) => `${w.busy}/${w.slots}`, right: true },
            { header: "CONNECTED", value: (w) => (w.connected ? "yes" : "reconnecting") },
          ],
          "(no workers connected)",
        ),
      workers,
    );
  },
};

interface Queue {
  type: string;
  ratePerSecond: number;
  burst: number;
  maxBacklog: number;
  retry: unknown;
  waiting: number | null;
  byState: { state: string; count: number }[];
}

const QUEUE_FIELDS = "type ratePerSecond burst maxBacklog retry waiting byState { state count }";
const count = (q: Queue, state: string) => q.byState.find((s) => s.state === state)?.count ?? 0;

export const queuesGet: Verb = {
  name: "queues get",
  summary: "Queues (task types): their limits, waiting tasks and tasks by state; one queue with TYPE.",
  args: ["[TYPE]"],
  client: true,
  flags: {},
  examples: ["taskstream queues get", "taskstream queues get email"],
  async run(c) {
    const type = c.positionals[0];
    if (type !== undefined) {
      const { queue } = await c.api.graphql<{ queue: Queue | null }>(
        `query($type: String!) { queue(type: $type) { ${QUEUE_FIELDS} } }`,
        { type },
      );
      if (!queue) throw new ApiError(`queue ${type} not found`, 404, "NOT_FOUND");
      c.print(
        () =>
          details([
            ["type", queue.type],
            [
              "rate",
              queue.ratePerSecond === 0 ? "unlimited" : `${queue.ratePerSecond}/s (burst ${queue.burst})`,
            ],
            ["max backlog", queue.maxBacklog === 0 ? "server default" : queue.maxBacklog],
            ["retry", queue.retry],
            ["waiting", queue.waiting],
            ...queue.byState.map((s): [string, unknown] => [s.state.toLowerCase(), s.count]),
          ]),
        queue,
      );
      return;
    }
    const { queues } = await c.api.graphql<{ queues: Queue[] }>(`{ queues { ${QUEUE_FIELDS} } }`);
    c.print(
      () =>
        table(
          queues,
          [
            { header: "TYPE", value: (q) => q.type },
            {
              header: "RATE/S",
              value: (q) => (q.ratePerSecond === 0 ? "unlimited" : q.ratePerSecond),
              right: true,
            },
            { header: "BURST", value: (q) => q.burst, right: true },
            {
              header: "MAX BACKLOG",
              value: (q) => (q.maxBacklog === 0 ? "default" : q.maxBacklog),
              right: true,
            },
            { header: "WAITING", value: (q) => q.waiting, right: true },
            { header: "RUNNING", value: (q) => count(q, "RUNNING") + count(q, "ASSIGNED"), right: true },
            { header: "SUCCEEDED", value: (q) => count(q, "SUCCEEDED"), right: true },
            { header: "DEAD", value: (q) => count(q, "DEAD_LETTERED"), right: true },
          ],
          "(no queues)",
        ),
      queues,
    );
  },
};

export const queuesSet: Verb = {
  name: "queues set",
  summary:
    "Change a queue's limits (effective everywhere within about a second); flags left out keep their value.",
  args: ["TYPE"],
  client: true,
  flags: {
    rate: { type: "string", value: "N", help: "dispatches per second, 0 for unlimited" },
    burst: { type: "string", value: "N", help: "dispatches allowed in a burst" },
    "max-backlog": {
      type: "string",
      value: "N",
      help: "admission limit on waiting tasks, 0 for the server's default",
    },
    retry: {
      type: "string",
      value: "JSON",
      help: "retry defaults {maxAttempts, initialBackoffMs, …}, or null to clear",
    },
  },
  examples: ["taskstream queues set email --rate 50 --burst 100 --max-backlog 10000"],
  async run(c) {
    const type = c.arg(0, "TYPE");
    const settings: Record<string, unknown> = {};
    const set = (field: string, value: unknown) => value !== undefined && (settings[field] = value);
    set("ratePerSecond", c.number("rate"));
    set("burst", c.int("burst", 0));
    set("maxBacklog", c.int("max-backlog", 0));
    set("retry", c.jsonValue("retry"));
    if (Object.keys(settings).length === 0)
      throw new UsageError("give at least one of --rate, --burst, --max-backlog, --retry");
    const { setQueue } = await c.api.graphql<{ setQueue: Queue }>(
      `mutation($type: String!, $settings: QueueSettingsInput!) { setQueue(type: $type, settings: $settings) { ${QUEUE_FIELDS} } }`,
      { type, settings },
    );
    c.print(
      () =>
        `${setQueue.type}: rate ${setQueue.ratePerSecond === 0 ? "unlimited" : `${setQueue.ratePerSecond}/s`}, burst ${setQueue.burst}, max backlog ${setQueue.maxBacklog === 0 ? "server default" : setQueue.maxBacklog}`,
      setQueue,
    );
  },
};

interface Latency {
  count: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}
interface TypeStats {
  type: string;
  submitted: number;
  succeeded: number;
  failed: number;
  deadLettered: number;
  cancelled: number;
  failureRate: number | null;
  scheduleToStart: Latency;
  runTime: Latency;
}
interface Stats {
  byState: { state: string; count: number }[];
  total: number;
  window: { from: string; to: string };
  totals: TypeStats;
  byType: TypeStats[];
  projection: { lagMs: number; partitionsBehind: number };
  dispatch: { unroutable: number; queueDepthByPriority: number[] } | null;
}

const TYPE_STATS = `type submitted succeeded failed deadLettered cancelled failureRate
  scheduleToStart { count p50 p95 p99 } runTime { count p50 p95 p99 }`;
/** A duration in ms, to a tenth under 10 ms and whole above. */
const duration = (value: number | null) =>
  value === null ? "-" : value < 10 ? value.toFixed(1) : String(Math.round(value));
const ms = (l: Latency) =>
  l.count === 0 ? "-" : `${duration(l.p50)} / ${duration(l.p95)} / ${duration(l.p99)} ms`;
const percent = (rate: number | null) => (rate === null ? "-" : `${(rate * 100).toFixed(1)}%`);

export const stats: Verb = {
  name: "stats",
  summary: "Tasks by state now, and throughput, failure rate and latency over a window, by type.",
  client: true,
  flags: {
    window: { type: "string", value: "W", help: "15m, 1h, 24h, 7d … (default 1h)" },
    type: { type: "string", value: "TYPE", help: "one task type only" },
  },
  examples: ["taskstream stats --window 24h --type email"],
  async run(c) {
    const { stats } = await c.api.graphql<{ stats: Stats }>(
      `query($window: String, $type: String) { stats(window: $window, type: $type) {
        byState { state count } total window { from to }
        totals { ${TYPE_STATS} } byType(first: 20) { ${TYPE_STATS} }
        projection { lagMs partitionsBehind }
        dispatch { unroutable queueDepthByPriority }
      } }`,
      { window: c.string("window") ?? "1h", type: c.string("type") },
    );
    c.print(() => {
      const now = table(stats.byState, [
        { header: "STATE", value: (s) => s.state },
        { header: "TASKS", value: (s) => s.count, right: true },
      ]);
      const t = stats.totals;
      const window = details([
        ["window", `${stats.window.from} → ${stats.window.to}`],
        ["submitted", t.submitted],
        ["succeeded", t.succeeded],
        ["failed attempts", t.failed],
        ["dead-lettered", t.deadLettered],
        ["cancelled", t.cancelled],
        ["failure rate", percent(t.failureRate)],
        ["schedule→start p50/p95/p99", ms(t.scheduleToStart)],
        ["run time p50/p95/p99", ms(t.runTime)],
        [
          "projection lag",
          `${stats.projection.lagMs} ms (${stats.projection.partitionsBehind} partitions behind)`,
        ],
        [
          "dispatcher",
          stats.dispatch
            ? `${stats.dispatch.unroutable} unroutable, ready by priority 0-9: ${stats.dispatch.queueDepthByPriority.join(" ")}`
            : "no dispatcher reporting",
        ],
      ]);
      const types = table(
        stats.byType,
        [
          { header: "TYPE", value: (s) => s.type },
          { header: "SUBMITTED", value: (s) => s.submitted, right: true },
          { header: "SUCCEEDED", value: (s) => s.succeeded, right: true },
          { header: "FAILED", value: (s) => s.failed, right: true },
          { header: "DEAD", value: (s) => s.deadLettered, right: true },
          { header: "FAIL RATE", value: (s) => percent(s.failureRate), right: true },
          {
            header: "RUN P95",
            value: (s) => (s.runTime.p95 === null ? null : `${duration(s.runTime.p95)} ms`),
            right: true,
          },
        ],
        "(nothing in the window)",
      );
      return `${now}\n(total ${stats.total})\n\n${window}\n\n${types}`;
    }, stats);
  },
};
