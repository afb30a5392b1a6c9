import { useState } from "preact/hooks";
import { ErrorNote } from "../components/bits.tsx";
import { gql } from "../graphql.ts";
import { time } from "../format.ts";
import { useQuery } from "../hooks.ts";

interface Schedule {
  id: string;
  version: number;
  cron: string;
  timeZone: string;
  status: string;
  task: { type?: string };
  lastFiredAt: string | null;
  firingCount: number;
  upcoming: string[];
}

const FIELDS = "id version cron timeZone status task lastFiredAt firingCount upcoming(first: 3)";
const QUERY = `{ schedules(first: 100) { edges { node { ${FIELDS} } } } }`;

/** Schedules: list with their next firings; create, pause, resume, delete. */
export function SchedulesPage() {
  const { data, error, refresh } = useQuery<{ schedules: { edges: { node: Schedule }[] } }>(QUERY, {}, 5000);
  const [problem, setProblem] = useState<string | null>(null);
  // What the mutations answered (from the log): shown until the read model has caught up with them.
  const [local, setLocal] = useState(new Map<string, Schedule>());
  const remember = (schedule: Schedule) => setLocal((current) => new Map(current).set(schedule.id, schedule));
  const run = (mutation: string, id: string) =>
    gql<Record<string, Schedule>>(`mutation ($id: ID!) { ${mutation}(id: $id) { ${FIELDS} } }`, { id }).then(
      (answer) => {
        remember(answer[mutation]!);
        refresh();
      },
      (e: Error) => setProblem(e.message),
    );
  const projected = data?.schedules.edges.map((e) => e.node) ?? [];
  const newer = (s: Schedule) => {
    const mine = local.get(s.id);
    return mine && mine.version > s.version ? mine : s;
  };
  const schedules = [
    ...[...local.values()].filter((s) => !projected.some((p) => p.id === s.id)),
    ...projected.map(newer),
  ].filter((s) => s.status !== "DELETED");
  return (
    <>
      <h1>Schedules</h1>
      <ErrorNote error={error ?? problem} />
      <CreateSchedule
        created={(schedule) => {
          remember(schedule);
          refresh();
        }}
      />
      {data && schedules.length === 0 && <p class="muted">No schedules.</p>}
      <ul class="cards">
        {schedules.map((s) => (
          <li key={s.id} class="card">
            <h2>
              <code>{s.cron}</code> <span class="muted">{s.timeZone}</span>
            </h2>
            <p>
              {s.status} · submits <strong>{s.task.type ?? "?"}</strong> · fired {s.firingCount} times
              {s.lastFiredAt ? `, last ${time(s.lastFiredAt)}` : ""}
            </p>
            <p>Next: {s.upcoming.length ? s.upcoming.map(time).join(", ") : "–"}</p>
            <div class="actions">
              {s.status === "ACTIVE" && (
                <button type="button" onClick={() => void run("pauseSchedule", s.id)}>
                  Pause
                </button>
              )}
              {s.status === "PAUSED" && (
                <button type="button" onClick={() => void run("resumeSchedule", s.id)}>
                  Resume
                </button>
              )}
              <button
                type="button"
                class="danger"
                onClick={() => {
                  if (confirm(`Delete the schedule ${s.cron}?`)) void run("deleteSchedule", s.id);
                }}
              >
                Delete
              </button>
            </div>
          </li>
        ))}
      </ul>
    </>
  );
}

function CreateSchedule({ created }: { created: (schedule: Schedule) => void }) {
  const [cron, setCron] = useState("*/5 * * * *");
  const [timeZone, setTimeZone] = useState("UTC");
  const [task, setTask] = useState('{"type": "echo", "payload": {"from": "schedule"}}');
  const [problem, setProblem] = useState<string | null>(null);
  return (
    <form
      class="panel"
      aria-label="New schedule"
      onSubmit={(event) => {
        event.preventDefault();
        let template: unknown;
        try {
          template = JSON.parse(task);
        } catch {
          setProblem("task: not JSON");
          return;
        }
        gql<{ createSchedule: Schedule }>(
          `mutation ($input: ScheduleInput!) { createSchedule(input: $input) { ${FIELDS} } }`,
          { input: { cron, timeZone, task: template } },
        ).then(
          ({ createSchedule }) => {
            setProblem(null);
            created(createSchedule);
          },
          (e: Error) => setProblem(e.message),
        );
      }}
    >
      <h2>New schedule</h2>
      <label>
        Cron (5 or 6 fields)
        <input value={cron} onInput={(e) => setCron(e.currentTarget.value)} required />
      </label>
      <label>
        Time zone
        <input value={timeZone} onInput={(e) => setTimeZone(e.currentTarget.value)} required />
      </label>
      <label class="grow">
        Task (as POSTed to /v1/tasks)
        <textarea rows={3} value={task} onInput={(e) => setTask(e.currentTarget.value)} required />
      </label>
      <ErrorNote error={problem} />
      <button type="submit" class="primary">
        Create
      </button>
    </form>
  );
}
