import { useState } from "preact/hooks";
import { ErrorNote, JsonBlock, StateBadge } from "../components/bits.tsx";
import { Link } from "../components/layout.tsx";
import { gql } from "../graphql.ts";
import { duration, time } from "../format.ts";
import { useLiveQuery, useQuery } from "../hooks.ts";

const FIELDS = `id type state priority attempt maxAttempts payload result idempotencyKey requires metadata
  workerId cancelRequested createdAt updatedAt availableAt version lastError { message type nonRetryable }`;
const QUERY = `query ($id: ID!) { task(id: $id) { ${FIELDS} events(first: 500) { version type at state data } } }`;
const AS_OF = `query ($id: ID!, $version: Int!) {
  task(id: $id, asOf: { version: $version }) { state attempt workerId result availableAt cancelRequested lastError { message } }
}`;

interface TaskEvent {
  version: number;
  type: string;
  at: string;
  state: string;
  data: unknown;
}
interface Task {
  id: string;
  type: string;
  state: string;
  priority: number;
  attempt: number;
  maxAttempts: number;
  payload: unknown;
  result: unknown;
  idempotencyKey: string | null;
  requires: unknown;
  metadata: unknown;
  workerId: string | null;
  cancelRequested: boolean;
  createdAt: string;
  updatedAt: string;
  availableAt: string | null;
  version: number;
  lastError: { message: string; type: string; nonRetryable: boolean } | null;
  events?: TaskEvent[];
}

const TERMINAL = new Set(["SUCCEEDED", "DEAD_LETTERED", "CANCELLED"]);

/** One task: its fields, payload and result, live; its history as a timeline, replayed event by event. */
export function TaskPage({ id }: { id: string }) {
  // Asked again whenever an event of this task is projected (the feed, from before the first read).
  const { data, error, refresh } = useLiveQuery<{ task: Task | null }>(QUERY, { id }, { taskId: id }, 150);
  const [notice, setNotice] = useState<string | null>(null);
  const task = data?.task ?? null;
  if (error) return <ErrorNote error={error} />;
  if (!data) return <p class="muted">Loading…</p>;
  if (!task) return <p>No task {id}.</p>;
  const act = async (mutation: string, done: string) => {
    setNotice(null);
    try {
      await gql(mutation, { id });
      setNotice(done);
      refresh();
    } catch (e) {
      setNotice((e as Error).message);
    }
  };
  return (
    <>
      <div class="heading">
        <h1>
          Task <code class="id">{task.id}</code>
        </h1>
        <StateBadge state={task.state} />
      </div>
      <div class="actions">
        {!TERMINAL.has(task.state) && (
          <button
            type="button"
            onClick={() =>
              void act(
                `mutation ($id: ID!) { cancelTask(id: $id, reason: "console") { id } }`,
                "Cancellation requested.",
              )
            }
          >
            Cancel
          </button>
        )}
        {task.state === "DEAD_LETTERED" && (
          <button
            type="button"
            class="primary"
            onClick={() =>
              void act(`mutation ($id: ID!) { retryTask(id: $id) { id } }`, "Retried: queued again.")
            }
          >
            Retry
          </button>
        )}
        {notice && <span role="status">{notice}</span>}
      </div>
      <dl class="facts columns">
        <dt>Type</dt>
        <dd>
          <Link to={`/tasks?type=${encodeURIComponent(task.type)}`}>{task.type}</Link>
        </dd>
        <dt>Priority</dt>
        <dd>{task.priority}</dd>
        <dt>Attempt</dt>
        <dd>
          {task.attempt} of {task.maxAttempts}
        </dd>
        <dt>Worker</dt>
        <dd>{task.workerId ?? "–"}</dd>
        <dt>Idempotency key</dt>
        <dd>{task.idempotencyKey ?? "–"}</dd>
        <dt>Created</dt>
        <dd>{time(task.createdAt)}</dd>
        <dt>Updated</dt>
        <dd>{time(task.updatedAt)}</dd>
        <dt>Due</dt>
        <dd>{time(task.availableAt)}</dd>
        {task.lastError && (
          <>
            <dt>Last error</dt>
            <dd class="error-text">
              {task.lastError.type}: {task.lastError.message}
              {task.lastError.nonRetryable ? " (not retryable)" : ""}
            </dd>
          </>
        )}
      </dl>
      <div class="two">
        <section aria-label="Payload">
          <h2>Payload</h2>
          <JsonBlock label="Payload" value={task.payload} />
        </section>
        <section aria-label="Result">
          <h2>Result</h2>
          <JsonBlock label="Result" value={task.result} />
        </section>
      </div>
      <Replay id={task.id} events={task.events ?? []} />
    </>
  );
}

/** The audit replay: the history as a timeline; a step shows the task as it stood after that event. */
function Replay({ id, events }: { id: string; events: TaskEvent[] }) {
  const [step, setStep] = useState<number | null>(null);
  const version = step ?? events.at(-1)?.version ?? 1;
  const { data } = useQuery<{ task: Record<string, unknown> | null }>(AS_OF, { id, version });
  const at = events.findIndex((e) => e.version === version);
  return (
    <section class="replay" aria-label="History">
      <h2>History</h2>
      <div class="stepper">
        <button type="button" disabled={at <= 0} onClick={() => setStep(events[at - 1]?.version ?? null)}>
          ← Previous event
        </button>
        <span role="status">
          event {version} of {events.length}
        </span>
        <button
          type="button"
          disabled={at < 0 || at >= events.length - 1}
          onClick={() => setStep(events[at + 1]?.version ?? null)}
        >
          Next event →
        </button>
      </div>
      <div class="two">
        <ol class="timeline">
          {events.map((e, i) => (
            <li key={e.version} class={e.version === version ? "current" : ""}>
              <button
                type="button"
                aria-current={e.version === version ? "step" : undefined}
                onClick={() => setStep(e.version)}
              >
                <span class="v">{e.version}</span>
                <span class="t">{e.type.replace(/^Task/, "")}</span>
                <StateBadge state={e.state} />
                <time dateTime={e.at} title={e.at}>
                  {i === 0 ? time(e.at) : `+${duration(Date.parse(e.at) - Date.parse(events[i - 1]!.at))}`}
                </time>
              </button>
            </li>
          ))}
        </ol>
        <div>
          <h3>After event {version}</h3>
          <JsonBlock label={`The task after event ${version}`} value={data?.task ?? null} />
          <h3>Event data</h3>
          <JsonBlock label={`Data of event ${version}`} value={events[at]?.data ?? null} />
        </div>
      </div>
    </section>
  );
}
