import { ApiError } from "../client/api-client.ts";
import { ProgressBar } from "../output/progress.ts";
import { table } from "../output/table.ts";
import { UsageError, type Verb, type VerbContext } from "../verb.ts";
import { FILTER_FLAGS, taskFilter } from "./tasks.ts";

/** Dead letters: the tasks that ran out of attempts (or failed for good), listed and retried in bulk. */

interface DeadLetter {
  id: string;
  type: string;
  priority: number;
  attempt: number;
  updatedAt: string;
  lastError: { type: string; message: string } | null;
}

const QUERY = `query($filter: TaskFilter, $first: Int, $after: String, $orderBy: TaskOrder) {
  tasks(filter: $filter, first: $first, after: $after, orderBy: $orderBy) {
    edges { node { id type priority attempt updatedAt lastError { type message } } }
    pageInfo { hasNextPage endCursor }
  }
}`;

async function page(c: VerbContext, first: number, after: string | undefined, orderBy: string) {
  const filter = { ...taskFilter(c), state: "DEAD_LETTERED" };
  const data = await c.api.graphql<{
    tasks: { edges: { node: DeadLetter }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
  }>(QUERY, { filter, first, after, orderBy });
  return { tasks: data.tasks.edges.map((e) => e.node), ...data.tasks.pageInfo };
}

export const list: Verb = {
  name: "dead-letters list",
  summary: "Dead-lettered tasks, newest first, with the error that ended them.",
  client: true,
  flags: {
    ...FILTER_FLAGS,
    first: { type: "string", value: "N", help: "at most N, 1-500 (default 20)" },
    after: {
      type: "string",
      value: "CURSOR",
      help: "the page after this cursor (printed when there are more)",
    },
  },
  examples: ["taskstream dead-letters list --type email --since 2030-01-01T00:00:00Z"],
  async run(c) {
    const result = await page(c, c.int("first", 1, 500) ?? 20, c.string("after"), "NEWEST_FIRST");
    c.print(() => {
      const rows = table(
        result.tasks,
        [
          { header: "ID", value: (t) => t.id },
          { header: "TYPE", value: (t) => t.type },
          { header: "PRI", value: (t) => t.priority, right: true },
          { header: "ATTEMPTS", value: (t) => t.attempt, right: true },
          { header: "DEAD SINCE", value: (t) => t.updatedAt },
          {
            header: "ERROR",
            value: (t) => (t.lastError ? `${t.lastError.type}: ${t.lastError.message}` : null),
          },
        ],
        "(no dead letters)",
      );
      return rows + (result.hasNextPage ? `\n(more: --after ${result.endCursor})` : "");
    }, result);
  },
};

/** Runs `work` on each item with at most `width` in flight. */
async function eachLimited<T>(items: T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, lane));
}

export const retry: Verb = {
  name: "dead-letters retry",
  summary: "Retry every dead letter matching a filter (--all for every one), with a progress bar.",
  client: true,
  flags: {
    ...FILTER_FLAGS,
    all: { type: "boolean", help: "every dead letter (required when no filter is given)" },
    limit: { type: "string", value: "N", help: "at most N tasks (oldest first)" },
    "max-attempts": { type: "string", value: "N", help: "attempts each gets (default its policy's)" },
    "dry-run": { type: "boolean", help: "list what would be retried, change nothing" },
  },
  examples: ["taskstream dead-letters retry --type email --since 2030-01-01T00:00:00Z --max-attempts 3"],
  async run(c) {
    const filtered = Object.keys(taskFilter(c)).length > 0;
    if (!filtered && !c.flag("all")) throw new UsageError("give a filter (--type, --since, …) or --all");
    const limit = c.int("limit", 1);
    const maxAttempts = c.int("max-attempts", 1, 1000);
    // First the ids (the cursor is a position, so retried tasks leaving the state move nothing).
    const ids: string[] = [];
    for (let after: string | undefined; limit === undefined || ids.length < limit;) {
      const first = Math.min(500, limit === undefined ? 500 : limit - ids.length);
      const result = await page(c, first, after, "OLDEST_FIRST");
      ids.push(...result.tasks.map((t) => t.id));
      if (!result.hasNextPage || !result.endCursor) break;
      after = result.endCursor;
    }
    if (c.flag("dry-run")) {
      c.print(
        () => (ids.length ? `would retry ${ids.length}:\n${ids.join("\n")}` : "no dead letters match"),
        { matched: ids },
      );
      return;
    }
    const retried: string[] = [];
    const failed: { id: string; error: string }[] = [];
    const bar = new ProgressBar("retrying", ids.length);
    await eachLimited(ids, 8, async (id) => {
      try {
        await c.api.rest(
          "POST",
          `/v1/tasks/${encodeURIComponent(id)}/retry`,
          maxAttempts ? { maxAttempts } : {},
        );
        retried.push(id);
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        failed.push({ id, error: error.describe() });
      }
      bar.update(retried.length + failed.length);
    });
    bar.done(`${retried.length} retried, ${failed.length} failed`);
    c.print(
      () =>
        `retried ${retried.length} of ${ids.length} dead letters` +
        (failed.length
          ? `\n${table(failed, [
              { header: "ID", value: (f) => f.id },
              { header: "ERROR", value: (f) => f.error },
            ])}`
          : ""),
      { matched: ids.length, retried, failed },
    );
    if (failed.length > 0) process.exitCode = 1;
  },
};
