import { useState } from "preact/hooks";
import { ErrorNote, StateBadge } from "../components/bits.tsx";
import { Link } from "../components/layout.tsx";
import { shortId, time } from "../format.ts";
import { useLiveQuery } from "../hooks.ts";
import { navigate, useRoute } from "../router.ts";

export const STATES = ["QUEUED", "ASSIGNED", "RUNNING", "SUCCEEDED", "DEAD_LETTERED", "CANCELLED"];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface TaskSummary {
  id: string;
  type: string;
  state: string;
  priority: number;
  attempt: number;
  maxAttempts: number;
  workerId: string | null;
  idempotencyKey: string | null;
  createdAt: string;
  updatedAt: string;
}
export const SUMMARY =
  "id type state priority attempt maxAttempts workerId idempotencyKey createdAt updatedAt";

const QUERY = `query ($filter: TaskFilter, $orderBy: TaskOrder, $after: String) {
  tasks(filter: $filter, orderBy: $orderBy, first: 25, after: $after) {
    edges { node { ${SUMMARY} } } pageInfo { hasNextPage endCursor }
  }
}`;

/** The filter of the task list, kept in the URL (?state=&type=&priority=&key=&order=&after=). */
function filterOf(params: URLSearchParams) {
  const filter: Record<string, unknown> = {};
  if (params.get("state")) filter.state = params.get("state");
  if (params.get("type")) filter.type = params.get("type");
  if (params.get("priority")) filter.priority = Number(params.get("priority"));
  if (params.get("key")) filter.idempotencyKey = params.get("key");
  if (params.get("worker")) filter.workerId = params.get("worker");
  return filter;
}

/** Tasks: filter, search by id or idempotency key, pages newest or oldest first, rows updated live. */
export function TasksPage() {
  const { params } = useRoute();
  const filter = filterOf(params);
  const orderBy = params.get("order") === "oldest" ? "OLDEST_FIRST" : "NEWEST_FIRST";
  const after = params.get("after");
  // The page is asked again (at most once a second) whenever a task it may show changes: the feed,
  // narrowed to the state and type filtered on, from before the first read.
  const feedFilter: Record<string, unknown> = {};
  if (filter.state) feedFilter.states = [filter.state];
  if (filter.type) feedFilter.queues = [filter.type];
  const { data, error } = useLiveQuery<{
    tasks: { edges: { node: TaskSummary }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
  }>(QUERY, { filter, orderBy, after }, feedFilter, 1000);
  const rows = data?.tasks.edges.map((e) => e.node) ?? [];
  const set = (changes: Record<string, string | null>) => {
    const next = new URLSearchParams(params);
    for (const [key, value] of Object.entries(changes)) {
      if (value) next.set(key, value);
      else next.delete(key);
    }
    if (!("after" in changes)) next.delete("after");
    navigate(`/tasks?${next.toString()}`, true);
  };
  const [search, setSearch] = useState("");
  return (
    <>
      <h1>Tasks</h1>
      <form
        class="toolbar"
        role="search"
        onSubmit={(event) => {
          event.preventDefault();
          const text = search.trim();
          if (UUID.test(text)) navigate(`/tasks/${text.toLowerCase()}`);
          else set({ key: text || null });
        }}
      >
        <label>
          Id or idempotency key
          <input
            name="search"
            value={search}
            onInput={(e) => setSearch(e.currentTarget.value)}
            placeholder="0190… or order-42"
          />
        </label>
        <button type="submit">Search</button>
        <label>
          State
          <select
            value={params.get("state") ?? ""}
            onChange={(e) => set({ state: e.currentTarget.value || null })}
          >
            <option value="">any</option>
            {STATES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Type
          <input
            value={params.get("type") ?? ""}
            onChange={(e) => set({ type: e.currentTarget.value.trim() || null })}
            placeholder="any"
            size={10}
          />
        </label>
        <label>
          Priority
          <select
            value={params.get("priority") ?? ""}
            onChange={(e) => set({ priority: e.currentTarget.value || null })}
          >
            <option value="">any</option>
            {[9, 8, 7, 6, 5, 4, 3, 2, 1, 0].map((p) => (
              <option key={p} value={String(p)}>
                {p}
              </option>
            ))}
          </select>
        </label>
        <label>
          Order
          <select
            value={params.get("order") ?? "newest"}
            onChange={(e) => set({ order: e.currentTarget.value === "oldest" ? "oldest" : null })}
          >
            <option value="newest">newest first</option>
            <option value="oldest">oldest first</option>
          </select>
        </label>
      </form>
      {params.get("key") && (
        <p>
          Idempotency key <code>{params.get("key")}</code>{" "}
          <button type="button" class="link" onClick={() => set({ key: null })}>
            clear
          </button>
        </p>
      )}
      <ErrorNote error={error} />
      <TaskTable rows={rows} />
      {data && rows.length === 0 && <p class="muted">No tasks match.</p>}
      <div class="pager">
        {after && (
          <button type="button" onClick={() => set({ after: null })}>
            First page
          </button>
        )}
        {data?.tasks.pageInfo.hasNextPage && (
          <button type="button" onClick={() => set({ after: data.tasks.pageInfo.endCursor })}>
            Next page
          </button>
        )}
      </div>
    </>
  );
}

/** Tasks as a table; on a phone each row reads as a card (styles.css). */
export function TaskTable(props: {
  rows: TaskSummary[];
  select?: { selected: Set<string>; toggle: (id: string) => void };
}) {
  const { rows, select } = props;
  return (
    <div class="scroll">
      <table class="tasks">
        <thead>
          <tr>
            {select && (
              <th scope="col">
                <span class="sr-only">Select</span>
              </th>
            )}
            <th scope="col">Id</th>
            <th scope="col">Type</th>
            <th scope="col">State</th>
            <th scope="col">Priority</th>
            <th scope="col">Attempt</th>
            <th scope="col">Worker</th>
            <th scope="col">Updated</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((t) => (
            <tr key={t.id} data-task-id={t.id}>
              {select && (
                <td>
                  <input
                    type="checkbox"
                    aria-label={`Select ${t.id}`}
                    checked={select.selected.has(t.id)}
                    onChange={() => select.toggle(t.id)}
                  />
                </td>
              )}
              <td data-label="Id">
                <Link to={`/tasks/${t.id}`}>
                  <code title={t.id}>{shortId(t.id)}</code>
                </Link>
              </td>
              <td data-label="Type">{t.type}</td>
              <td data-label="State">
                <StateBadge state={t.state} />
              </td>
              <td data-label="Priority">{t.priority}</td>
              <td data-label="Attempt">
                {t.attempt}/{t.maxAttempts}
              </td>
              <td data-label="Worker">
                {t.workerId ? <code title={t.workerId}>{shortId(t.workerId)}</code> : "–"}
              </td>
              <td data-label="Updated">{time(t.updatedAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
