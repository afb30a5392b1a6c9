import { useEffect, useState } from "preact/hooks";
import { ErrorNote } from "../components/bits.tsx";
import { gql } from "../graphql.ts";
import { shortId } from "../format.ts";
import { useQuery, useSubscription } from "../hooks.ts";
import { SUMMARY, TaskTable, type TaskSummary } from "./tasks.tsx";

const QUERY = `query ($after: String) {
  tasks(filter: { state: DEAD_LETTERED }, orderBy: NEWEST_FIRST, first: 50, after: $after) {
    edges { node { ${SUMMARY} lastError { message } } } pageInfo { hasNextPage endCursor }
  }
}`;
const ARRIVALS = `subscription { tasksUpdated(filter: { state: DEAD_LETTERED }) { ${SUMMARY} lastError { message } } }`;

type DeadTask = TaskSummary & { lastError: { message: string } | null };

/** Dead letters: inspect why each died, retry one or many. */
export function DeadLettersPage() {
  const { data, error, refresh } = useQuery<{ tasks: { edges: { node: DeadTask }[] } }>(QUERY, {}, 10_000);
  const [rows, setRows] = useState<DeadTask[]>([]);
  const [selected, setSelected] = useState(new Set<string>());
  const [notice, setNotice] = useState<string | null>(null);
  // Retried here: hidden even if a read that raced the projector still lists them as dead, until
  // they die again (a live update says so).
  const [retried, setRetried] = useState(new Set<string>());
  useEffect(() => setRows(data?.tasks.edges.map((e) => e.node) ?? []), [data]);
  useSubscription<{ tasksUpdated: DeadTask }>(ARRIVALS, {}, ({ tasksUpdated: task }) => {
    setRetried((current) => {
      const next = new Set(current);
      next.delete(task.id);
      return next;
    });
    setRows((current) => (current.some((t) => t.id === task.id) ? current : [task, ...current]));
  });
  const shown = rows.filter((t) => !retried.has(t.id));
  const toggle = (id: string) =>
    setSelected((current) => {
      const next = new Set(current);
      if (!next.delete(id)) next.add(id);
      return next;
    });
  const retry = async (ids: string[]) => {
    setNotice(null);
    const failures: string[] = [];
    for (const id of ids) {
      try {
        await gql(`mutation ($id: ID!) { retryTask(id: $id) { id } }`, { id });
      } catch (e) {
        failures.push(`${id}: ${(e as Error).message}`);
      }
    }
    const done = ids.length - failures.length;
    setRows((current) =>
      current.filter((t) => !ids.includes(t.id) || failures.some((f) => f.startsWith(t.id))),
    );
    setSelected(new Set());
    setNotice(
      `${done} retried${failures.length ? `; ${failures.length} failed: ${failures.join("; ")}` : ""}.`,
    );
    refresh();
  };
  return (
    <>
      <h1>Dead letters</h1>
      <div class="actions">
        <button
          type="button"
          class="primary"
          disabled={selected.size === 0}
          onClick={() => void retry([...selected])}
        >
          Retry selected ({selected.size})
        </button>
        <button
          type="button"
          disabled={shown.length === 0}
          onClick={() => setSelected(new Set(shown.map((t) => t.id)))}
        >
          Select all
        </button>
        {notice && <span role="status">{notice}</span>}
      </div>
      <ErrorNote error={error} />
      <TaskTable rows={shown} select={{ selected, toggle }} />
      {data && shown.length === 0 && <p class="muted">No dead letters.</p>}
      {shown.length > 0 && (
        <section aria-label="Why they died">
          <h2>Last errors</h2>
          <ul class="errors">
            {shown.map((t) => (
              <li key={t.id}>
                <code>{shortId(t.id)}</code> {t.lastError?.message ?? "no error recorded"}{" "}
                <button
                  type="button"
                  class="link"
                  onClick={() => void retry([t.id])}
                  aria-label={`Retry ${t.id}`}
                >
                  retry
                </button>
              </li>
            ))}
          </ul>
        </section>
      )}
    </>
  );
}
