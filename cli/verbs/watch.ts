import type { TaskView } from "../../domain/task/view.ts";
import { subscribe } from "../client/subscription.ts";
import { table } from "../output/table.ts";
import type { VerbContext } from "../verb.ts";
import { isTerminal, listTasks, taskDetails, TASK_COLUMNS } from "./tasks.ts";

/**
 * `get --watch` and `list --watch`: what is there now, then every task event after it, followed
 * through the task feed subscription (`taskEvents`). The feed's cursor is taken before the first
 * read, so no event between the read and the subscription is missed (docs/task-feed.md); events the
 * read already reflects are skipped by version.
 */

interface FeedEvent {
  taskId: string;
  version: number;
  type: string;
  queue: string;
  state: string;
  at: string;
}

const FEED_FIELDS = "taskId version type queue state at";
const HEAD = `query($filter: TaskEventFilter) { recentEvents(filter: $filter, first: 1) { endCursor } }`;
const FOLLOW = `subscription($filter: TaskEventFilter, $after: String) { taskEvents(filter: $filter, after: $after) { ${FEED_FIELDS} } }`;

/** One event as a line: when, which task, what happened, and the state it left the task in. */
export const eventLine = (e: FeedEvent, withTask: boolean) =>
  [e.at, ...(withTask ? [e.taskId, e.queue] : []), `v${e.version}`, e.type.padEnd(18), `→ ${e.state}`].join(
    "  ",
  );

/** Follows the feed from `after` until `onEvent` says stop, or SIGINT. */
async function follow(
  c: VerbContext,
  filter: Record<string, unknown>,
  after: string,
  onEvent: (event: FeedEvent) => "stop" | void,
): Promise<void> {
  const subscription = subscribe(
    c.api.url,
    FOLLOW,
    { filter, after },
    (data) => {
      if (onEvent(data.taskEvents as FeedEvent) === "stop") subscription.stop();
    },
    c.string("api-key") ?? process.env.TASKSTREAM_API_KEY,
  );
  const interrupt = () => subscription.stop();
  process.once("SIGINT", interrupt);
  process.once("SIGTERM", interrupt);
  try {
    await subscription.done;
  } finally {
    process.off("SIGINT", interrupt);
    process.off("SIGTERM", interrupt);
  }
}

const feedHead = async (c: VerbContext, filter: Record<string, unknown>) =>
  (await c.api.graphql<{ recentEvents: { endCursor: string } }>(HEAD, { filter })).recentEvents.endCursor;

/** `get ID --watch`: the task now, then each change, until it finishes. */
export async function watchTask(c: VerbContext, id: string): Promise<void> {
  const filter = { taskId: id };
  const cursor = await feedHead(c, filter);
  const task = await c.api.rest<TaskView>("GET", `/v1/tasks/${encodeURIComponent(id)}`);
  console.log(c.json ? JSON.stringify(task) : `${taskDetails(task)}\n`);
  if (isTerminal(task.state)) return;
  await follow(c, filter, cursor, (event) => {
    if (event.version <= task.version) return;
    console.log(c.json ? JSON.stringify(event) : eventLine(event, false));
    if (isTerminal(event.state)) return "stop";
  });
}

/** `list --watch`: the page now, then every matching task event until interrupted. */
export async function watchList(
  c: VerbContext,
  filter: Record<string, unknown>,
  first: number,
): Promise<void> {
  const feedFilter: Record<string, unknown> = {};
  if (filter.state) feedFilter.states = [filter.state];
  if (filter.type) feedFilter.queues = [filter.type];
  const cursor = await feedHead(c, feedFilter);
  const page = await listTasks(c, filter, first);
  console.log(
    c.json
      ? JSON.stringify(page)
      : `${table(page.tasks, TASK_COLUMNS, "(no tasks)")}\n\nfollowing (Ctrl-C stops):`,
  );
  await follow(c, feedFilter, cursor, (event) => {
    console.log(c.json ? JSON.stringify(event) : eventLine(event, true));
  });
}
