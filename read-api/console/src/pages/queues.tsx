import { useState } from "preact/hooks";
import { ErrorNote } from "../components/bits.tsx";
import { Link } from "../components/layout.tsx";
import { gql } from "../graphql.ts";
import { count } from "../format.ts";
import { useQuery } from "../hooks.ts";

interface Queue {
  type: string;
  ratePerSecond: number;
  burst: number;
  maxBacklog: number;
  waiting: number | null;
  byState: { state: string; count: number }[];
}

const QUERY = `{
  queues { type ratePerSecond burst maxBacklog waiting byState { state count } }
  concurrencyLimits { key maxRunning }
  stats(window: "15m") { byType(first: 100) { type submitted succeeded } }
}`;

/** Queues: depth, rate and admission limits (editable), concurrency limits. */
export function QueuesPage() {
  const { data, error, refresh } = useQuery<{
    queues: Queue[];
    concurrencyLimits: { key: string; maxRunning: number }[];
    stats: { byType: { type: string; submitted: number; succeeded: number }[] };
  }>(QUERY, {}, 3000);
  const [editing, setEditing] = useState<string | null>(null);
  const rate = new Map(data?.stats.byType.map((t) => [t.type, t]) ?? []);
  return (
    <>
      <h1>Queues</h1>
      <ErrorNote error={error} />
      <div class="scroll">
        <table>
          <thead>
            <tr>
              <th scope="col">Queue (type)</th>
              <th scope="col">Waiting</th>
              <th scope="col">Running</th>
              <th scope="col">Done / 15 min</th>
              <th scope="col">Rate limit</th>
              <th scope="col">Burst</th>
              <th scope="col">Max backlog</th>
              <th scope="col">
                <span class="sr-only">Edit</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {data?.queues.map((q) => (
              <tr key={q.type}>
                <th scope="row">
                  <Link to={`/tasks?type=${encodeURIComponent(q.type)}`}>{q.type}</Link>
                </th>
                <td data-label="Waiting">
                  {q.waiting ?? count(q.byState.find((s) => s.state === "QUEUED")?.count)}
                </td>
                <td data-label="Running">
                  {count(
                    q.byState
                      .filter((s) => s.state === "RUNNING" || s.state === "ASSIGNED")
                      .reduce((n, s) => n + s.count, 0),
                  )}
                </td>
                <td data-label="Done / 15 min">{count(rate.get(q.type)?.succeeded ?? 0)}</td>
                <td data-label="Rate limit">
                  {q.ratePerSecond === 0 ? "unlimited" : `${q.ratePerSecond}/s`}
                </td>
                <td data-label="Burst">{q.burst || "–"}</td>
                <td data-label="Max backlog">{q.maxBacklog === 0 ? "default" : count(q.maxBacklog)}</td>
                <td>
                  <button
                    type="button"
                    onClick={() => setEditing(q.type)}
                    aria-label={`Edit limits of ${q.type}`}
                  >
                    Edit
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {data && data.queues.length === 0 && <p class="muted">No queues yet: submit a task.</p>}
      {editing && (
        <QueueForm
          queue={data?.queues.find((q) => q.type === editing) ?? null}
          type={editing}
          done={() => {
            setEditing(null);
            refresh();
          }}
        />
      )}
      <h2>Concurrency limits</h2>
      {data?.concurrencyLimits.length ? (
        <ul>
          {data.concurrencyLimits.map((c) => (
            <li key={c.key}>
              <code>{c.key}</code>: at most {c.maxRunning} running
            </li>
          ))}
        </ul>
      ) : (
        <p class="muted">No operator overrides.</p>
      )}
      <ConcurrencyForm done={refresh} />
    </>
  );
}

/** Sets (or, with 0, removes) the most tasks sharing a concurrency key that may run at once. */
function ConcurrencyForm({ done }: { done: () => void }) {
  const [key, setKey] = useState("");
  const [max, setMax] = useState("1");
  const [problem, setProblem] = useState<string | null>(null);
  return (
    <form
      class="panel"
      aria-label="Set a concurrency limit"
      onSubmit={(event) => {
        event.preventDefault();
        gql(
          `mutation ($key: String!, $max: Int!) { setConcurrencyLimit(key: $key, maxRunning: $max) { key } }`,
          {
            key: key.trim(),
            max: Number(max),
          },
        ).then(
          () => {
            setProblem(null);
            done();
          },
          (e: Error) => setProblem(e.message),
        );
      }}
    >
      <label>
        Concurrency key
        <input value={key} onInput={(e) => setKey(e.currentTarget.value)} required placeholder="tenant-42" />
      </label>
      <label>
        At most running (0 removes)
        <input
          type="number"
          min="0"
          step="1"
          value={max}
          onInput={(e) => setMax(e.currentTarget.value)}
          required
        />
      </label>
      <button type="submit">Set limit</button>
      <ErrorNote error={problem} />
    </form>
  );
}

function QueueForm(props: { type: string; queue: Queue | null; done: () => void }) {
  const [rate, setRate] = useState(String(props.queue?.ratePerSecond ?? 0));
  const [burst, setBurst] = useState(String(props.queue?.burst ?? 0));
  const [backlog, setBacklog] = useState(String(props.queue?.maxBacklog ?? 0));
  const [problem, setProblem] = useState<string | null>(null);
  return (
    <form
      class="panel"
      aria-label={`Limits of ${props.type}`}
      onSubmit={(event) => {
        event.preventDefault();
        // Only what was changed: a new rate with the burst left alone lets the server size the burst.
        const settings: Record<string, number> = {};
        if (Number(rate) !== (props.queue?.ratePerSecond ?? 0)) settings.ratePerSecond = Number(rate);
        if (Number(burst) !== (props.queue?.burst ?? 0)) settings.burst = Number(burst);
        if (Number(backlog) !== (props.queue?.maxBacklog ?? 0)) settings.maxBacklog = Number(backlog);
        gql(
          `mutation ($type: String!, $settings: QueueSettingsInput!) { setQueue(type: $type, settings: $settings) { type } }`,
          {
            type: props.type,
            settings,
          },
        ).then(props.done, (e: Error) => setProblem(e.message));
      }}
    >
      <h2>Limits of {props.type}</h2>
      <label>
        Dispatches per second (0: unlimited)
        <input
          type="number"
          min="0"
          step="any"
          value={rate}
          onInput={(e) => setRate(e.currentTarget.value)}
          required
        />
      </label>
      <label>
        Burst
        <input
          type="number"
          min="0"
          step="1"
          value={burst}
          onInput={(e) => setBurst(e.currentTarget.value)}
          required
        />
      </label>
      <label>
        Max backlog (0: server default)
        <input
          type="number"
          min="0"
          step="1"
          value={backlog}
          onInput={(e) => setBacklog(e.currentTarget.value)}
          required
        />
      </label>
      <ErrorNote error={problem} />
      <div class="actions">
        <button type="submit" class="primary">
          Save
        </button>
        <button type="button" onClick={props.done}>
          Cancel
        </button>
      </div>
    </form>
  );
}
