import { useState } from "preact/hooks";
import { ErrorNote } from "../components/bits.tsx";
import { gql } from "../graphql.ts";
import { shortId } from "../format.ts";
import { useLiveQuery } from "../hooks.ts";
import { SUMMARY, TaskTable, type TaskSummary } from "./tasks.tsx";

const QUERY = `{
  tasks(filter: { state: DEAD_LETTERED }, orderBy: NEWEST_FIRST, first: 100) {
    edges { node { ${SUMMARY} version lastError { message } } }
  }
}`;

type DeadTask = TaskSummary & { version: number; lastError: { message: string } | null };

/** Dead letters: inspect why each died, retry one or many; the list follows the feed of dead letters. */
export function DeadLettersPage() {
  const { data, error, refresh } = useLiveQuery<{ tasks: { edges: { node: DeadTask }[] } }>(
    QUERY,
    {},
    { states: ["DEAD_LETTERED"] },
  );
  const [selected, setSelected] = useState(new Set<string>());
  const [notice, setNotice] = useState<string | null>(null);
  // Retried here, with the version the retry made: hidden while a read that raced the projector
  // still lists them as dead, shown again only if they die again (a later version).
  const [retried, setRetried] = useState(new Map<string, number>());
  const shown = (data?.tasks.edges.map((e) => e.node) ?? []).filter(
    (t) => t.version > (retried.get(t.id) ?? 0),
  );
  const toggle = (id: string) =>
    setSelected((current) => {
      const next = new Set(current);
      if (!next.delete(id)) next.add(id);
      return next;
    });
  const retry = async (ids: string[]) => {
    setNotice(null);
    const failures: string[] = [];
    const versions = new Map<string, number>();
    for (const id of ids) {
      try {
        const { retryTask } = await gql<{ retryTask: { version: number } }>(
          `mutation ($id: ID!) { retryTask(id: $id) { version } }`,
          { id },
        );
        versions.set(id, retryTask.version);
      } catch (e) {
        failures.push(`${id}: ${(e as Error).message}`);
      }
    }
    setRetried((current) => new Map([...current, ...versions]));
    setSelected(new Set());
    setNotice(
      `${versions.size} retried${failures.length ? `; ${failures.length} failed: ${failures.join("; ")}` : ""}.`,
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
