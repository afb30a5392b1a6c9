import type { TaskView } from "../../domain/task/view.ts";
import { details, table, type Column } from "../output/table.ts";
import { UsageError, type Verb, type VerbContext } from "../verb.ts";
import { watchList, watchTask } from "./watch.ts";

/** Task verbs over a running Taskstream's REST and GraphQL APIs: submit, get, list, cancel, retry, history. */

export const TASK_STATES = [
  "QUEUED",
  "ASSIGNED",
  "RUNNING",
  "SUCCEEDED",
  "DEAD_LETTERED",
  "CANCELLED",
] as const;
const TERMINAL = new Set(["SUCCEEDED", "DEAD_LETTERED", "CANCELLED"]);
export const isTerminal = (state: string) => TERMINAL.has(state);

const path = (id: string, tail = "") => `/v1/tasks/${encodeURIComponent(id)}${tail}`;

/** A task's fields as label/value lines. */
export function taskDetails(task: TaskView): string {
  return details([
    ["id", task.id],
    ["type", task.type],
    [
      "state",
      task.cancelRequested && !isTerminal(task.state) ? `${task.state} (cancel requested)` : task.state,
    ],
    ["priority", task.priority],
    ["attempt", `${task.attempt} of ${task.maxAttempts}`],
    ["worker", task.workerId],
    ["idempotency key", task.idempotencyKey],
    ["payload", task.payload],
    ["result", task.result],
    ["last error", task.lastError ? `${task.lastError.type}: ${task.lastError.message}` : null],
    ["requires", Object.keys(task.requires ?? {}).length ? task.requires : null],
    ["metadata", Object.keys(task.metadata ?? {}).length ? task.metadata : null],
    ["created", task.createdAt],
    ["updated", task.updatedAt],
    ...(task.availableAt ? ([["available at", task.availableAt]] as [string, unknown][]) : []),
    ["version", task.version],
  ]);
}

export const submit: Verb = {
  name: "submit",
  summary: "Submit a task of TYPE; prints its id (the first task's id when the idempotency key was seen).",
  args: ["TYPE"],
  client: true,
  flags: {
    payload: { type: "string", value: "JSON", help: "the task's input, any JSON" },
    namespace: { type: "string", value: "NS", help: "the namespace it belongs to (default: default)" },
    priority: { type: "string", value: "N", help: "0-9, 9 most urgent (default 5)" },
    key: { type: "string", value: "KEY", help: "idempotency key: the same key again answers the first task" },
    "run-at": { type: "string", value: "TIME", help: "RFC 3339 time before which it is not dispatched" },
    "delay-ms": { type: "string", value: "MS", help: "a delay before it is dispatched" },
    requires: { type: "string", value: "JSON", help: 'labels a worker must carry, e.g. {"gpu":"a100"}' },
    metadata: { type: "string", value: "JSON", help: "string map carried to the worker" },
    "max-attempts": { type: "string", value: "N", help: "attempts before it is dead-lettered (default 5)" },
    "concurrency-key": {
      type: "string",
      value: "KEY",
      help: "tasks sharing the key run at most --concurrency-limit at once",
    },
    "concurrency-limit": { type: "string", value: "N", help: "with --concurrency-key (default 1)" },
  },
  examples: [`taskstream submit echo --payload '{"hello":"world"}' --priority 7 --key order-42`],
  async run(c) {
    const body: Record<string, unknown> = { type: c.arg(0, "TYPE") };
    const set = (field: string, value: unknown) => value !== undefined && (body[field] = value);
    set("namespace", c.string("namespace"));
    set("payload", c.jsonValue("payload"));
    set("priority", c.int("priority", 0, 9));
    set("idempotencyKey", c.string("key"));
    set("runAt", c.string("run-at"));
    set("delayMs", c.int("delay-ms", 0));
    set("requires", c.jsonValue("requires"));
    set("metadata", c.jsonValue("metadata"));
    const maxAttempts = c.int("max-attempts", 1, 1000);
    if (maxAttempts !== undefined) body.retry = { maxAttempts };
    set("concurrencyKey", c.string("concurrency-key"));
    set("concurrencyLimit", c.int("concurrency-limit", 1));
    const result = await c.api.rest<{ id: string; deduplicated: boolean }>("POST", "/v1/tasks", body);
    c.print(
      () => (result.deduplicated ? `${result.id} (deduplicated: the key was submitted before)` : result.id),
      result,
    );
  },
};

export const get: Verb = {
  name: "get",
  summary: "A task's current state, folded from the log; --watch follows it until it finishes.",
  args: ["ID"],
  client: true,
  flags: {
    watch: {
      type: "boolean",
      short: "w",
      help: "then print each change as it happens, until the task finishes (--json: a line each)",
    },
  },
  examples: ["taskstream get 0193a0c2-7f1e-7b4a-9c1d-2f0e5a6b7c8d --watch"],
  async run(c) {
    const id = c.arg(0, "ID");
    if (c.flag("watch")) return watchTask(c, id);
    const task = await c.api.rest<TaskView>("GET", path(id));
    c.print(() => taskDetails(task), task);
  },
};

interface ListedTask {
  id: string;
  type: string;
  state: string;
  priority: number;
  attempt: number;
  maxAttempts: number;
  workerId: string | null;
  createdAt: string;
  updatedAt: string;
}

export const TASK_COLUMNS: Column<ListedTask>[] = [
  { header: "ID", value: (t) => t.id },
  { header: "TYPE", value: (t) => t.type },
  { header: "STATE", value: (t) => t.state },
  { header: "PRI", value: (t) => t.priority, right: true },
  { header: "ATTEMPT", value: (t) => `${t.attempt}/${t.maxAttempts}`, right: true },
  { header: "WORKER", value: (t) => t.workerId },
  { header: "UPDATED", value: (t) => t.updatedAt },
];

const LIST_QUERY = `query($filter: TaskFilter, $first: Int, $after: String, $orderBy: TaskOrder) {
  tasks(filter: $filter, first: $first, after: $after, orderBy: $orderBy) {
    edges { node { id type state priority attempt maxAttempts workerId createdAt updatedAt } }
    pageInfo { hasNextPage endCursor }
  }
}`;

/** The TaskFilter the list flags describe. */
export function taskFilter(c: VerbContext): Record<string, unknown> {
  const filter: Record<string, unknown> = {};
  const set = (field: string, value: unknown) => value !== undefined && (filter[field] = value);
  set("namespace", c.string("namespace"));
  set("state", c.choice("state", TASK_STATES));
  set("type", c.string("type"));
  set("priority", c.int("priority", 0, 9));
  set("workerId", c.string("worker"));
  set("idempotencyKey", c.string("key"));
  set("createdAfter", c.string("since"));
  set("createdBefore", c.string("until"));
  return filter;
}

export const FILTER_FLAGS = {
  namespace: { type: "string", value: "NS", help: "only tasks of this namespace" },
  type: { type: "string", value: "TYPE", help: "only tasks of this type" },
  priority: { type: "string", value: "N", help: "only tasks of this priority" },
  worker: { type: "string", value: "ID", help: "only tasks whose latest attempt ran on this worker" },
  since: { type: "string", value: "TIME", help: "created at or after (RFC 3339)" },
  until: { type: "string", value: "TIME", help: "created before (RFC 3339)" },
} as const;

export interface TaskPage {
  tasks: ListedTask[];
  hasNextPage: boolean;
  endCursor: string | null;
}

/** One page of tasks matching a filter, from the read model. */
export async function listTasks(
  c: VerbContext,
  filter: Record<string, unknown>,
  first: number,
  after?: string,
  orderBy = "NEWEST_FIRST",
): Promise<TaskPage> {
  const data = await c.api.graphql<{
    tasks: { edges: { node: ListedTask }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
  }>(LIST_QUERY, { filter, first, after, orderBy });
  return { tasks: data.tasks.edges.map((e) => e.node), ...data.tasks.pageInfo };
}

export const list: Verb = {
  name: "list",
  summary: "Tasks from the read model, newest first; --watch then follows new events.",
  client: true,
  flags: {
    state: { type: "string", value: "STATE", help: `only tasks in this state (${TASK_STATES.join(", ")})` },
    ...FILTER_FLAGS,
    key: { type: "string", value: "KEY", help: "only the task with this idempotency key" },
    first: { type: "string", value: "N", help: "at most N tasks, 1-500 (default 20)" },
    after: {
      type: "string",
      value: "CURSOR",
      help: "the page after this cursor (printed when there are more)",
    },
    oldest: { type: "boolean", help: "oldest first" },
    watch: {
      type: "boolean",
      short: "w",
      help: "then print each task event as it happens (filters: --state, --type; --json: a line each), until interrupted",
    },
  },
  examples: [
    "taskstream list --state DEAD_LETTERED --type email --first 50",
    "taskstream list --type email --watch",
  ],
  async run(c) {
    const filter = taskFilter(c);
    const first = c.int("first", 1, 500) ?? 20;
    if (c.flag("watch")) {
      const unsupported = ["priority", "worker", "key", "since", "until", "after", "oldest"].find(
        (name) => c.values[name] !== undefined,
      );
      if (unsupported)
        throw new UsageError(`--${unsupported} cannot be combined with --watch (only --state, --type)`);
      return watchList(c, filter, first);
    }
    const page = await listTasks(
      c,
      filter,
      first,
      c.string("after"),
      c.flag("oldest") ? "OLDEST_FIRST" : "NEWEST_FIRST",
    );
    c.print(() => {
      const more = page.hasNextPage ? `\n(more: --after ${page.endCursor})` : "";
      return table(page.tasks, TASK_COLUMNS, "(no tasks)") + more;
    }, page);
  },
};

export const cancel: Verb = {
  name: "cancel",
  summary: "Cancel a task: at once while it waits, through its worker while it runs.",
  args: ["ID"],
  client: true,
  flags: { reason: { type: "string", value: "TEXT", help: "recorded with the cancellation" } },
  examples: ['taskstream cancel 0193a0c2-7f1e-7b4a-9c1d-2f0e5a6b7c8d --reason "customer withdrew"'],
  async run(c) {
    const task = await c.api.rest<TaskView>("POST", path(c.arg(0, "ID"), "/cancel"), {
      reason: c.string("reason") ?? "cancelled by operator",
    });
    c.print(
      () =>
        `${task.id} ${task.state}${task.cancelRequested && !isTerminal(task.state) ? " (cancel requested)" : ""}`,
      task,
    );
  },
};

export const retry: Verb = {
  name: "retry",
  summary: "Revive a dead-lettered task with fresh attempts.",
  args: ["ID"],
  client: true,
  flags: {
    "max-attempts": { type: "string", value: "N", help: "attempts it gets (default its policy's)" },
    reason: { type: "string", value: "TEXT", help: "recorded with the retry" },
  },
  examples: ["taskstream retry 0193a0c2-7f1e-7b4a-9c1d-2f0e5a6b7c8d --max-attempts 3"],
  async run(c) {
    const body: Record<string, unknown> = {};
    const maxAttempts = c.int("max-attempts", 1, 1000);
    if (maxAttempts !== undefined) body.maxAttempts = maxAttempts;
    if (c.string("reason") !== undefined) body.reason = c.string("reason");
    const task = await c.api.rest<TaskView>("POST", path(c.arg(0, "ID"), "/retry"), body);
    c.print(() => `${task.id} ${task.state} (attempt ${task.attempt} of ${task.maxAttempts})`, task);
  },
};

interface HistoryEvent {
  version: number;
  type: string;
  data: unknown;
  streamId: string;
}

export const history: Verb = {
  name: "history",
  summary: "Every event of a task, oldest first, from the log and the archive (over the API).",
  args: ["ID"],
  client: true,
  flags: {},
  examples: ["taskstream history 0193a0c2-7f1e-7b4a-9c1d-2f0e5a6b7c8d"],
  async run(c) {
    const { events } = await c.api.rest<{ events: HistoryEvent[] }>("GET", path(c.arg(0, "ID"), "/history"));
    c.print(
      () =>
        table(events, [
          { header: "V", value: (e) => e.version, right: true },
          { header: "AT", value: (e) => new Date(Number(e.streamId.split("-")[0])).toISOString() },
          { header: "EVENT", value: (e) => e.type },
          { header: "DATA", value: (e) => e.data, max: 100 },
        ]),
      events,
    );
  },
};
