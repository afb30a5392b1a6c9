import type { TaskView } from "../../domain/task/view.ts";
import { ApiError, UnreachableError } from "../client/api-client.ts";
import { subscribe, type Subscription } from "../client/subscription.ts";
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
  /** Where the feed resumes after this event. */
  cursor: string;
}

/** Attempts in a row to resume a lost subscription before giving up (about half a minute). */
const MAX_RECONNECTS = 8;
const FEED_FIELDS = "cursor taskId version type queue state at";
const HEAD = `query($filter: TaskEventFilter) { recentEvents(filter: $filter, first: 1) { endCursor } }`;
const FOLLOW = `subscription($filter: TaskEventFilter, $after: String) { taskEvents(filter: $filter, after: $after) { ${FEED_FIELDS} } }`;

/** One event as a line: when, which task, what happened, and the state it left the task in. */
export const eventLine = (e: FeedEvent, withTask: boolean) =>
  [e.at, ...(withTask ? [e.taskId, e.queue] : []), `v${e.version}`, e.type.padEnd(18), `→ ${e.state}`].join(
    "  ",
  );

/** Whether a subscription failed on its connection (worth resuming), not on what it asked. */
const connectionLost = (error: unknown) =>
  error instanceof UnreachableError || (error instanceof ApiError && error.code.startsWith("WS_"));

/**
 * Follows the feed from `after` until `onEvent` says stop, or SIGINT. A lost connection (a server
 * restarting) is resumed from the last event's cursor: nothing is missed, nothing printed twice.
 */
async function follow(
  c: VerbContext,
  filter: Record<string, unknown>,
  after: string,
  onEvent: (event: FeedEvent) => "stop" | void,
): Promise<void> {
  let cursor = after;
  let stopped = false;
  let failures = 0;
  let current: Subscription | undefined;
  const interrupt = () => {
    stopped = true;
    current?.stop();
  };
  process.once("SIGINT", interrupt);
  process.once("SIGTERM", interrupt);
  try {
    while (!stopped) {
      const subscription = subscribe(
        c.api.url,
        FOLLOW,
        { filter, after: cursor },
        (data) => {
          const event = data.taskEvents as FeedEvent;
          cursor = event.cursor;
          failures = 0;
          if (onEvent(event) === "stop") interrupt();
        },
        c.string("api-key") ?? process.env.TASKSTREAM_API_KEY,
      );
      current = subscription;
      // The feed never ends by itself: an end we did not ask for (a server shutting down) is a loss.
      const lost = await subscription.done.then(
        () => new ApiError("the server ended the subscription", null, "WS_COMPLETE"),
        (error: unknown) => error,
      );
      if (stopped) return;
      if (!connectionLost(lost) || ++failures > MAX_RECONNECTS) throw lost;
      console.error(`taskstream: ${(lost as Error).message}; resuming after the last event seen…`);
      await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 200 * 2 ** failures)));
    }
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
